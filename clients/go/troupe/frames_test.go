package troupe

import "testing"

func TestIsPush(t *testing.T) {
	for frame, want := range map[string]bool{
		`{"type":"message","room":"r","msg":{"id":"m_1","offset":1}}`: true,
		`{"type":"batch","room":"r","msgs":[]}`:                       true,
		`{"type":"presence_diff","room":"r","joins":[],"leaves":[]}`:  true,
		`{"type":"error","code":"bad_frame","message":"x"}`:           true,
		`{"type":"room_closed"}`:                                      true,
		`{"type":"ack","id":4,"room":"r","msg_id":"m_1"}`:             false,
		`{"type":"error","id":3,"code":"not_joined"}`:                 false,
		`{"type":"welcome","id":1,"session":"s"}`:                     false,
		` {"type":"message","room":"r"}`:                              false,
		`{"room":"r","type":"message"}`:                               false,
		`{"type":"mess\"age","room":"r"}`:                             false,
		`{"type":"message"`:                                           false,
		`{"type":"message`:                                            false,
		``:                                                            false,
	} {
		if got := isPush([]byte(frame)); got != want {
			t.Errorf("isPush(%s) = %v, want %v", frame, got, want)
		}
	}
}

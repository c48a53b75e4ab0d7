package actors

import (
	"reflect"
	"testing"
)

func TestNetPresence(t *testing.T) {
	a, b, c := UserRef{ID: "a"}, UserRef{ID: "b"}, UserRef{ID: "c"}
	events := []presenceEvent{
		{user: a, join: true}, {user: b, join: true}, {user: a}, // a came and went
		{user: c}, {user: c, join: true}, // c left and came back
		{user: UserRef{ID: "d"}},
	}
	diff, changed := netPresence("r", events)
	want := PresenceDiff{Room: "r", Joins: []UserRef{b}, Leaves: []UserRef{{ID: "d"}}}
	if !changed || !reflect.DeepEqual(diff, want) {
		t.Fatalf("netPresence = %+v %v, want %+v", diff, changed, want)
	}
	if _, changed := netPresence("r", events[:3][2:]); !changed {
		t.Fatal("a lone leave must be pushed")
	}
	if _, changed := netPresence("r", events[:1]); !changed {
		t.Fatal("a lone join must be pushed")
	}
	if _, changed := netPresence("r", []presenceEvent{{user: a, join: true}, {user: a}}); changed {
		t.Fatal("a join and leave of one user must cancel")
	}
}

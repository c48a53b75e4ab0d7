package retention_test

import (
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/persistence/retention"
)

func TestParsePolicy(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want retention.Policy
		str  string
	}{
		{"", retention.Policy{}, "off"},
		{"off", retention.Policy{}, "off"},
		{" OFF ", retention.Policy{}, "off"},
		{"30d", retention.Policy{MaxAge: 30 * day}, "30d"},
		{"12h", retention.Policy{MaxAge: 12 * time.Hour}, "12h0m0s"},
		{"90m", retention.Policy{MaxAge: 90 * time.Minute}, "1h30m0s"},
		{"1d12h", retention.Policy{MaxAge: 36 * time.Hour}, "36h0m0s"},
		{"48h", retention.Policy{MaxAge: 2 * day}, "2d"},
		{"100000", retention.Policy{MaxCount: 100000}, "100000"},
		{"30d,100000", retention.Policy{MaxAge: 30 * day, MaxCount: 100000}, "30d,100000"},
		{" 100000 , 7d ", retention.Policy{MaxAge: 7 * day, MaxCount: 100000}, "7d,100000"},
	} {
		got, err := retention.ParsePolicy(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if s := got.String(); s != tc.str {
			t.Errorf("ParsePolicy(%q).String() = %q, want %q", tc.in, s, tc.str)
		}
		if again, err := retention.ParsePolicy(got.String()); err != nil || again != got {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want the round trip %+v", got.String(), again, err, got)
		}
	}
}

func TestParsePolicyRejects(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"-5", "negative"},
		{"-30d", "negative"},
		{"-12h", "negative"},
		{"1d-5h", "negative"},
		{"0", "keep nothing"},
		{"0d", "keep nothing"},
		{"0s", "keep nothing"},
		{"30d,", "empty bound"},
		{",5", "empty bound"},
		{"5,6", "count given twice"},
		{"1d,2h", "age given twice"},
		{"off,5", "cannot be combined"},
		{"abc", "want days"},
		{"30days", "want days"},
		{"1.5d", "whole days"},
		{"d", "whole days"},
		{"12", ""}, // valid: a count
		{"99999999999999999999", "too large"},
		{"999999999999d", "too large"},
		{"106751d24h", "too large"}, {"106752d", "too large"},
	} {
		_, err := retention.ParsePolicy(tc.in)
		if tc.why == "" {
			if err != nil {
				t.Errorf("ParsePolicy(%q): %v, want success", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "retention: policy") {
			t.Errorf("ParsePolicy(%q) error = %v, want one saying %q", tc.in, err, tc.why)
		}
	}
}

package drill

import "testing"

func TestLedgerVerdicts(t *testing.T) {
	clean := func() *ledger {
		l := newLedger()
		l.join("r", "a")
		l.join("r", "b")
		l.acked("r", "a", "a-1", 1)
		l.delivered("r", "b", "a-1", 1)
		l.acked("r", "b", "b-1", 2)
		l.delivered("r", "a", "b-1", 2)
		return l
	}
	if v := clean().verify(); !v.OK() {
		t.Fatalf("clean run: %+v", v)
	}
	if !clean().caughtUp() {
		t.Fatal("clean run not caught up")
	}
	if h := clean().highest()["r"]; h != 2 {
		t.Fatalf("highest = %d, want 2", h)
	}
	// A recovered own message is not a duplicate.
	l := clean()
	l.acked("r", "a", "a-2", 3)
	l.delivered("r", "b", "a-2", 3)
	l.delivered("r", "a", "a-2", 3)
	if v := l.verify(); !v.OK() {
		t.Fatalf("own message recovered: %+v", v)
	}

	cases := []struct {
		name  string
		spoil func(*ledger)
		check func(Verdict) bool
	}{
		{"lost", func(l *ledger) { l.acked("r", "a", "a-2", 3) }, func(v Verdict) bool { return v.Lost == 1 }},
		{"stored twice", func(l *ledger) {
			l.acked("r", "a", "a-1", 3)
			l.delivered("r", "b", "a-1", 3)
		}, func(v Verdict) bool { return v.Duplicated >= 1 }},
		{"pushed twice", func(l *ledger) { l.delivered("r", "b", "a-1", 1) }, func(v Verdict) bool { return v.Duplicated == 1 && v.OutOfOrder == 1 }},
		{"gap", func(l *ledger) {
			l.acked("r", "a", "a-3", 4)
			l.delivered("r", "b", "a-3", 4)
		}, func(v Verdict) bool { return v.Gaps == 1 }},
		{"conflicting acks", func(l *ledger) { l.acked("r", "b", "b-9", 1) }, func(v Verdict) bool { return v.Duplicated >= 1 }},
	}
	for _, c := range cases {
		l := clean()
		c.spoil(l)
		if v := l.verify(); v.OK() || !c.check(v) {
			t.Errorf("%s: verdict %+v", c.name, v)
		}
	}
}

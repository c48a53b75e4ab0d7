package actors

import (
	"context"
	"testing"
)

// TestNotifyCarriesTS: a server-API notify reaches every connection of the
// user with ts, the engine clock's time in Unix milliseconds, and an explicit
// TS is kept.
func TestNotifyCarriesTS(t *testing.T) {
	k := newKit(t, nil)
	bob1, bob2 := k.signedIn("bob"), k.signedIn("bob")
	ctx, cancel := context.WithTimeout(context.Background(), kitWait)
	defer cancel()

	n, err := k.eng.Notify(ctx, "bob", Notify{Event: "order_status_changed", Data: []byte(`{"order":7}`)})
	if err != nil || n != 2 {
		t.Fatalf("Notify = %d, %v; want 2 connections", n, err)
	}
	want := k.clock.Now().UnixMilli()
	for _, p := range []*probe{bob1, bob2} {
		if f := skipTo[Notify](p); f.TS != want || f.Event != "order_status_changed" || string(f.Data) != `{"order":7}` {
			t.Fatalf("%s got %+v, want ts %d", p.name, f, want)
		}
	}

	if _, err := k.eng.Notify(ctx, "bob", Notify{Event: "e", TS: 42}); err != nil {
		t.Fatal(err)
	}
	if f := skipTo[Notify](bob1); f.TS != 42 {
		t.Fatalf("notify with TS 42 arrived as %+v", f)
	}
}

package troupe_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/troupe-chat/troupe/clients/go/troupe"
	"github.com/troupe-chat/troupe/cmd/troupe/app"
	"github.com/troupe-chat/troupe/configs"
)

// exampleServer starts an in-memory troupe server and returns its URL and a
// function that stops it.
func exampleServer() (string, func()) {
	cfg, err := configs.Load([]string{"--addr", "127.0.0.1:0", "--store", "memory:", "--log-level", "error"},
		func(string) string { return "" })
	if err != nil {
		log.Fatal(err)
	}
	a, err := app.Start(context.Background(), cfg, app.NewLogger(cfg, io.Discard))
	if err != nil {
		log.Fatal(err)
	}
	return "http://" + a.Addr.String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			log.Fatal(err)
		}
	}
}

func Example() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Bob listens: events arrive in order on one goroutine.
	received := make(chan troupe.MessageEvent, 1)
	bob, err := troupe.Dial(ctx, troupe.Options{URL: url, Name: "bob", OnEvent: func(ev troupe.Event) {
		if m, ok := ev.(troupe.MessageEvent); ok {
			received <- m
		}
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Join(ctx, "general"); err != nil {
		log.Fatal(err)
	}

	// Alice sends; Send returns once the message is stored.
	alice, err := troupe.Dial(ctx, troupe.Options{URL: url, Name: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Join(ctx, "general"); err != nil {
		log.Fatal(err)
	}
	ack, err := alice.Send(ctx, "general", troupe.Message{Text: "hello, bob"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored at offset", ack.Offset)

	m := <-received
	fmt.Printf("%s: %s (offset %d)\n", m.From.Name, m.Text, m.Offset)
	// Output:
	// stored at offset 1
	// alice: hello, bob (offset 1)
}

package natsfake

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestRestart closes a server and starts another on its address: a client
// reconnects and its subscription works again.
func TestRestart(t *testing.T) {
	srv := Start(t)
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(10 * time.Millisecond), nats.ReconnectJitter(0, 0)}
	sub, err := nats.Connect(srv.URL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs := make(chan *nats.Msg, 1)
	if _, err := sub.ChanSubscribe("s", msgs); err != nil {
		t.Fatal(err)
	}

	addr := srv.Addr()
	srv.Close()
	srv.Close() // idempotent
	waitFor(t, "the disconnect", func() bool { return !sub.IsConnected() })
	StartAt(t, addr)
	waitFor(t, "the reconnect", sub.IsConnected)
	if err := sub.Flush(); err != nil { // the subscription reached the new server
		t.Fatal(err)
	}

	pub, err := nats.Connect("nats://"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish("s", []byte("after")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if string(m.Data) != "after" {
			t.Errorf("got %q", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message after the restart")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

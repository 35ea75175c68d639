package events

import (
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/nats-io/nats.go"
)

// TestConnectLogsAsyncErrors: an asynchronous NATS error (here a slow
// consumer) is a JSON line of the process's log naming the subject, not
// nats.go's bare line on stderr.
func TestConnectLogsAsyncErrors(t *testing.T) {
	ns, err := StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	var logs logtest.Buffer
	nc, err := Connect(ns.URL(), "events-test", slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	sub, err := nc.Subscribe("test.slow", func(*nats.Msg) { <-block })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(1, -1); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := nc.Publish("test.slow", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, rec := range logs.Records(t) {
			if rec["msg"] == "nats async error" {
				if rec["subject"] != "test.slow" || rec["level"] != "WARN" {
					t.Errorf("async error logged as %v", rec)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no async error in the log: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

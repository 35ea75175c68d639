package events

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// syncBuffer is a log sink the NATS callbacks may write to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConnectLogsAsyncErrors: an asynchronous NATS error (here a slow
// consumer) is a JSON line of the process's log naming the subject, not
// nats.go's bare line on stderr.
func TestConnectLogsAsyncErrors(t *testing.T) {
	ns, err := StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	var logs syncBuffer
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
		for _, line := range bytes.Split([]byte(logs.String()), []byte("\n")) {
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["msg"] == "nats async error" {
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

package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/gatehouse-dev/gatehouse/pkg/internal/natsfake"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
)

type fakePublisher struct {
	mu     sync.Mutex
	events []*eventsv1.AuthFailure
	err    error
}

func (p *fakePublisher) PublishAuthFailure(_ context.Context, ev *eventsv1.AuthFailure) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, ev)
	return p.err
}

func newTestLogger(buf *bytes.Buffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level}))
}

func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRecordFailure(t *testing.T) {
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name        string
		failure     Failure
		wantLog     map[string]any
		wantNoKey   string
		wantLabel   string
		wantService string
	}{
		{
			name:    "known client",
			failure: Failure{Reason: ReasonRevokedAPIKey, ClientID: "c1", Method: "/a.B/C", Remote: "10.0.0.1", At: at},
			wantLog: map[string]any{
				"level": "WARN", "msg": "auth failure", "event": "auth_failure", "reason": "revoked_api_key",
				"client_id": "c1", "method": "/a.B/C", "remote": "10.0.0.1", "service": "clients",
			},
			wantLabel:   "revoked_api_key",
			wantService: "clients",
		},
		{
			name:    "unknown client has no client_id attribute",
			failure: Failure{Reason: ReasonMissingCredential, Method: "/a.B/C", Remote: "10.0.0.2", At: at},
			wantLog: map[string]any{
				"event": "auth_failure", "reason": "missing_credential", "method": "/a.B/C", "remote": "10.0.0.2",
			},
			wantNoKey:   "client_id",
			wantLabel:   "missing_credential",
			wantService: "clients",
		},
		{
			name:        "service of the failure wins",
			failure:     Failure{Reason: ReasonRateLimited, ClientID: "c2", Service: "keys", At: at},
			wantLog:     map[string]any{"service": "keys", "reason": "rate_limited"},
			wantLabel:   "rate_limited",
			wantService: "keys",
		},
		{
			name:        "unenumerated reason is counted as other",
			failure:     Failure{Reason: Reason("made_up"), At: at},
			wantLog:     map[string]any{"reason": "made_up"},
			wantLabel:   "other",
			wantService: "clients",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			reg := prometheus.NewRegistry()
			pub := &fakePublisher{}
			l := New(newTestLogger(&buf, slog.LevelInfo), reg, pub, "clients")
			l.RecordFailure(context.Background(), tt.failure)

			lines := logLines(t, &buf)
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1: %s", len(lines), buf.String())
			}
			for k, v := range tt.wantLog {
				if lines[0][k] != v {
					t.Errorf("log[%q] = %v, want %v", k, lines[0][k], v)
				}
			}
			if tt.wantNoKey != "" {
				if _, ok := lines[0][tt.wantNoKey]; ok {
					t.Errorf("log has %q: %v", tt.wantNoKey, lines[0])
				}
			}

			if got := testutil.ToFloat64(l.failed.WithLabelValues(tt.wantLabel)); got != 1 {
				t.Errorf("counter{reason=%q} = %v, want 1", tt.wantLabel, got)
			}
			// Every reason is exported from the start; nothing else is.
			n, err := testutil.GatherAndCount(reg, MetricName)
			if err != nil {
				t.Fatal(err)
			}
			want := len(Reasons())
			if tt.wantLabel == otherLabel {
				want++
			}
			if n != want {
				t.Errorf("%s has %d series, want %d", MetricName, n, want)
			}

			if len(pub.events) != 1 {
				t.Fatalf("published %d events, want 1", len(pub.events))
			}
			want2 := &eventsv1.AuthFailure{
				Reason: string(tt.failure.Reason), ClientId: tt.failure.ClientID, Method: tt.failure.Method,
				Remote: tt.failure.Remote, Service: tt.wantService,
			}
			got := proto.Clone(pub.events[0]).(*eventsv1.AuthFailure)
			if !got.GetAt().AsTime().Equal(at) {
				t.Errorf("event at = %v, want %v", got.GetAt().AsTime(), at)
			}
			got.At = nil
			if !proto.Equal(got, want2) {
				t.Errorf("event = %v, want %v", got, want2)
			}
		})
	}
}

func TestRecordFailureFillsTime(t *testing.T) {
	pub := &fakePublisher{}
	l := New(newTestLogger(&bytes.Buffer{}, slog.LevelInfo), nil, pub, "svc")
	fixed := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return fixed }
	l.RecordFailure(context.Background(), Failure{Reason: ReasonNoAuthRule})
	if got := pub.events[0].GetAt().AsTime(); !got.Equal(fixed) {
		t.Fatalf("at = %v, want %v", got, fixed)
	}
}

// TestRecordFailureRequestID: the id of the request's context goes into
// the log line and the event, unless the Failure names its own.
func TestRecordFailureRequestID(t *testing.T) {
	var buf bytes.Buffer
	pub := &fakePublisher{}
	l := New(newTestLogger(&buf, slog.LevelInfo), nil, pub, "svc")
	ctx := requestid.NewContext(context.Background(), "req-1")
	l.RecordFailure(ctx, Failure{Reason: ReasonNoAuthRule})
	l.RecordFailure(ctx, Failure{Reason: ReasonNoAuthRule, RequestID: "req-2"})
	l.RecordFailure(context.Background(), Failure{Reason: ReasonNoAuthRule})
	lines := logLines(t, &buf)
	for i, want := range []string{"req-1", "req-2", ""} {
		if got, _ := lines[i]["request_id"].(string); got != want {
			t.Errorf("line %d: request_id %q, want %q", i, got, want)
		}
		if got := pub.events[i].GetRequestId(); got != want {
			t.Errorf("event %d: request_id %q, want %q", i, got, want)
		}
	}
}

func TestPublishErrorIsDebugOnly(t *testing.T) {
	tests := []struct {
		name      string
		level     slog.Level
		wantLines int
	}{
		{name: "info level hides the publish error", level: slog.LevelInfo, wantLines: 1},
		{name: "debug level shows it", level: slog.LevelDebug, wantLines: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			pub := &fakePublisher{err: errors.New("nats: connection closed")}
			l := New(newTestLogger(&buf, tt.level), prometheus.NewRegistry(), pub, "svc")
			l.RecordFailure(context.Background(), Failure{Reason: ReasonUnknownAPIKey})
			lines := logLines(t, &buf)
			if len(lines) != tt.wantLines {
				t.Fatalf("got %d lines, want %d: %s", len(lines), tt.wantLines, buf.String())
			}
			if tt.wantLines == 2 && lines[1]["level"] != "DEBUG" {
				t.Fatalf("publish error logged at %v", lines[1]["level"])
			}
		})
	}
}

func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := New(newTestLogger(&bytes.Buffer{}, slog.LevelInfo), reg, nil, "a")
	b := New(newTestLogger(&bytes.Buffer{}, slog.LevelInfo), reg, nil, "b")
	a.RecordFailure(context.Background(), Failure{Reason: ReasonInsufficientScope})
	b.RecordFailure(context.Background(), Failure{Reason: ReasonInsufficientScope})
	if got := testutil.ToFloat64(a.failed.WithLabelValues("insufficient_scope")); got != 2 {
		t.Fatalf("shared counter = %v, want 2", got)
	}
}

func TestReasons(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if !r.Valid() {
			t.Errorf("%q is listed but not Valid", r)
		}
		if seen[r] {
			t.Errorf("%q listed twice", r)
		}
		seen[r] = true
	}
	if Reason("").Valid() || Reason("invalid_api_key").Valid() {
		t.Error("unlisted reason is Valid")
	}
}

func TestNATSPublisher(t *testing.T) {
	srv := natsfake.Start(t)
	nc, err := nats.Connect(srv.URL(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub := NewNATSPublisher(nc)
	ev := &eventsv1.AuthFailure{Reason: "unknown_api_key", Method: "/x.Y/Z", Remote: "1.2.3.4", Service: "clients"}
	if err := pub.PublishAuthFailure(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-srv.Pubs:
		if m.Subject != Subject {
			t.Fatalf("subject = %q, want %q", m.Subject, Subject)
		}
		got := &eventsv1.AuthFailure{}
		if err := proto.Unmarshal(m.Data, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, ev) {
			t.Fatalf("got %v, want %v", got, ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message published")
	}

	nc.Close()
	if err := pub.PublishAuthFailure(context.Background(), ev); err == nil {
		t.Fatal("publish on a closed connection did not fail")
	}
	if err := NewNATSPublisher(nil).PublishAuthFailure(context.Background(), ev); err != nil {
		t.Fatalf("nil connection: %v", err)
	}
}

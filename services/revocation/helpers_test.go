package revocation_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	"github.com/gatehouse-dev/gatehouse/services/revocation/sqlstore"
)

// t0 carries nanoseconds, which the service truncates to microseconds as
// the stores do.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	store revocation.Store
	svc   *revocation.Service
	clock *clock
}

// newFixture starts a Service over a new SQLite store, with a clock at t0.
func newFixture(t *testing.T, opts ...revocation.Option) *fixture {
	t.Helper()
	return startOn(t, newStore(t), opts...)
}

func newStore(t *testing.T) revocation.Store {
	t.Helper()
	st, err := sqlstore.New(t.Context(), dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func startOn(t *testing.T, st revocation.Store, opts ...revocation.Option) *fixture {
	t.Helper()
	c := &clock{now: t0}
	opts = append([]revocation.Option{revocation.WithClock(c.Now), revocation.WithLogger(testLogger(t))}, opts...)
	svc := revocation.New(st, opts...)
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return &fixture{t: t, ctx: t.Context(), store: st, svc: svc, clock: c}
}

// testLogger writes to the test's output, shown for failing or verbose
// tests.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (f *fixture) revoke(kind revocationv1.Kind, id string, expires time.Time) *revocationv1.Entry {
	f.t.Helper()
	req := &revocationv1.RevokeRequest{Kind: kind, Id: id, Reason: "test"}
	if !expires.IsZero() {
		req.ExpireTime = timestamppb.New(expires)
	}
	resp, err := f.svc.Revoke(f.ctx, req)
	if err != nil {
		f.t.Fatalf("Revoke(%s %q): %v", kind, id, err)
	}
	return resp.GetEntry()
}

func (f *fixture) head() int64 {
	f.t.Helper()
	resp, err := f.svc.Head(f.ctx, &revocationv1.HeadRequest{})
	if err != nil {
		f.t.Fatalf("Head: %v", err)
	}
	return resp.GetSeq()
}

func assertCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != want {
		t.Fatalf("err = %v, want a status with code %v", err, want)
	}
	return st
}

// failingStore fails every method but LogID with err.
type failingStore struct {
	revocation.Store // nil: a method not overridden panics
	err              error
}

func (s failingStore) LogID(context.Context) (string, error) {
	return "0123456789abcdef0123456789abcdef", nil
}

func (s failingStore) Revoke(context.Context, revocation.Entry) (revocation.Entry, bool, error) {
	return revocation.Entry{}, false, s.err
}

func (s failingStore) Get(context.Context, revocationv1.Kind, string) (revocation.Entry, error) {
	return revocation.Entry{}, s.err
}

func (s failingStore) List(context.Context, int64, int) ([]revocation.Entry, int64, error) {
	return nil, 0, s.err
}

func (s failingStore) Head(context.Context) (int64, error) { return 0, s.err }

func (s failingStore) DeleteExpired(context.Context, time.Time) (int64, error) { return 0, s.err }

// limitStore records the limit List was called with.
type limitStore struct {
	revocation.Store
	mu    sync.Mutex
	limit int
}

func (s *limitStore) List(ctx context.Context, since int64, limit int) ([]revocation.Entry, int64, error) {
	s.mu.Lock()
	s.limit = limit
	s.mu.Unlock()
	return s.Store.List(ctx, since, limit)
}

func (s *limitStore) lastLimit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limit
}

// errSQL stands for a driver error that must not reach clients.
var errSQL = errors.New(`ERROR: relation "revocations" does not exist (SQLSTATE 42P01) in SELECT seq, kind FROM revocations`)

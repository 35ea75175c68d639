package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

const (
	accessToken = revocationv1.Kind_KIND_ACCESS_TOKEN
	apiKey      = revocationv1.Kind_KIND_API_KEY
	client      = revocationv1.Kind_KIND_CLIENT
	subject     = revocationv1.Kind_KIND_SUBJECT
)

func TestRevokeValidation(t *testing.T) {
	now := t0.Truncate(time.Microsecond)
	ok := func() *revocationv1.RevokeRequest {
		return &revocationv1.RevokeRequest{Kind: apiKey, Id: "key-1", Reason: "leaked", ExpireTime: timestamppb.New(now.Add(time.Hour))}
	}
	with := func(change func(r *revocationv1.RevokeRequest)) *revocationv1.RevokeRequest {
		r := ok()
		change(r)
		return r
	}
	tests := []struct {
		name  string
		req   *revocationv1.RevokeRequest
		field string
	}{
		{"kind unspecified", with(func(r *revocationv1.RevokeRequest) { r.Kind = revocationv1.Kind_KIND_UNSPECIFIED }), "kind"},
		{"kind unknown", with(func(r *revocationv1.RevokeRequest) { r.Kind = 99 }), "kind"},
		{"kind negative", with(func(r *revocationv1.RevokeRequest) { r.Kind = -1 }), "kind"},
		{"id empty", with(func(r *revocationv1.RevokeRequest) { r.Id = "" }), "id"},
		{"id too long", with(func(r *revocationv1.RevokeRequest) { r.Id = strings.Repeat("a", revocation.MaxIDBytes+1) }), "id"},
		{"id too long in bytes, not runes", with(func(r *revocationv1.RevokeRequest) { r.Id = strings.Repeat("é", revocation.MaxIDBytes/2+1) }), "id"},
		{"id with newline", with(func(r *revocationv1.RevokeRequest) { r.Id = "key\n1" }), "id"},
		{"id with NUL", with(func(r *revocationv1.RevokeRequest) { r.Id = "key\x00" }), "id"},
		{"id with DEL", with(func(r *revocationv1.RevokeRequest) { r.Id = "key\x7f" }), "id"},
		{"id with C1 control", with(func(r *revocationv1.RevokeRequest) { r.Id = "key\u0085" }), "id"},
		{"id not UTF-8", with(func(r *revocationv1.RevokeRequest) { r.Id = "key\xff" }), "id"},
		{"reason too long", with(func(r *revocationv1.RevokeRequest) { r.Reason = strings.Repeat("r", revocation.MaxReasonBytes+1) }), "reason"},
		{"reason with NUL", with(func(r *revocationv1.RevokeRequest) { r.Reason = "key\x00compromised" }), "reason"},
		{"reason with a newline", with(func(r *revocationv1.RevokeRequest) { r.Reason = "forged\nlog line" }), "reason"},
		{"expire_time now", with(func(r *revocationv1.RevokeRequest) { r.ExpireTime = timestamppb.New(now) }), "expire_time"},
		{"expire_time past", with(func(r *revocationv1.RevokeRequest) { r.ExpireTime = timestamppb.New(now.Add(-time.Hour)) }), "expire_time"},
		{"expire_time invalid", with(func(r *revocationv1.RevokeRequest) {
			r.ExpireTime = &timestamppb.Timestamp{Seconds: now.Unix() + 60, Nanos: 2e9}
		}), "expire_time"},
	}
	f := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Revoke(f.ctx, tt.req)
			st := assertCode(t, err, codes.InvalidArgument)
			if !strings.HasPrefix(st.Message(), tt.field+": ") {
				t.Errorf("message %q does not name the field %s", st.Message(), tt.field)
			}
		})
	}
	if h := f.head(); h != 0 {
		t.Errorf("Head = %d after invalid Revokes, want 0", h)
	}
}

func TestRevokeAcceptsTheLimits(t *testing.T) {
	f := newFixture(t)
	now := t0.Truncate(time.Microsecond)
	tests := []struct {
		name string
		req  *revocationv1.RevokeRequest
	}{
		{"longest id", &revocationv1.RevokeRequest{Kind: accessToken, Id: strings.Repeat("a", revocation.MaxIDBytes)}},
		{"longest reason", &revocationv1.RevokeRequest{Kind: accessToken, Id: "r", Reason: strings.Repeat("r", revocation.MaxReasonBytes)}},
		{"expires a microsecond from now", &revocationv1.RevokeRequest{Kind: accessToken, Id: "e", ExpireTime: timestamppb.New(now.Add(time.Microsecond))}},
		{"unicode id", &revocationv1.RevokeRequest{Kind: subject, Id: "usér@exämple ☃"}},
		{"every kind's last", &revocationv1.RevokeRequest{Kind: revocationv1.Kind_KIND_SIGNING_KEY, Id: "kid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.Revoke(f.ctx, tt.req); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
		})
	}
}

func TestRevokeReturnsTheEntry(t *testing.T) {
	f := newFixture(t)
	expires := t0.Add(time.Hour)
	got := f.revoke(apiKey, "key-1", expires)
	want := &revocationv1.Entry{
		Seq:        1,
		Kind:       apiKey,
		Id:         "key-1",
		Reason:     "test",
		RevokeTime: timestamppb.New(t0.Truncate(time.Microsecond)),
		ExpireTime: timestamppb.New(expires.Truncate(time.Microsecond)),
	}
	if !proto.Equal(got, want) {
		t.Errorf("entry:\n got %v\nwant %v", got, want)
	}
	never := f.revoke(accessToken, "jti", time.Time{})
	if never.GetExpireTime() != nil {
		t.Errorf("expire_time = %v for an entry that never expires, want unset", never.GetExpireTime())
	}
}

func TestRevokeIsIdempotentForPointKinds(t *testing.T) {
	f := newFixture(t)
	first := f.revoke(apiKey, "key-1", t0.Add(time.Hour))
	f.clock.Advance(time.Minute)
	again := f.revoke(apiKey, "key-1", t0.Add(48*time.Hour))
	if !proto.Equal(again, first) {
		t.Errorf("second Revoke = %v, want the first entry %v", again, first)
	}
	if h := f.head(); h != 1 {
		t.Errorf("Head = %d, want 1", h)
	}
}

func TestRevokeMovesTheCutOff(t *testing.T) {
	for _, kind := range []revocationv1.Kind{client, subject} {
		t.Run(kind.String(), func(t *testing.T) {
			f := newFixture(t)
			first := f.revoke(kind, "c", time.Time{})
			f.revoke(apiKey, "k", time.Time{})
			f.clock.Advance(time.Minute)
			again := f.revoke(kind, "c", time.Time{})
			if again.GetSeq() != 3 {
				t.Errorf("seq = %d, want 3", again.GetSeq())
			}
			if !again.GetRevokeTime().AsTime().After(first.GetRevokeTime().AsTime()) {
				t.Errorf("revoke_time = %v, not after the first %v", again.GetRevokeTime().AsTime(), first.GetRevokeTime().AsTime())
			}
			resp, err := f.svc.List(f.ctx, &revocationv1.ListRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, e := range resp.GetEntries() {
				seqs = append(seqs, e.GetSeq())
			}
			if fmt.Sprint(seqs) != "[2 3]" || resp.GetHeadSeq() != 3 {
				t.Errorf("List seqs = %v head %d, want [2 3] head 3", seqs, resp.GetHeadSeq())
			}
		})
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	key := f.revoke(apiKey, "key-1", time.Time{})
	f.revoke(accessToken, "short-lived", t0.Add(time.Minute))
	f.clock.Advance(time.Hour) // past short-lived's expiry, not yet cleaned up

	tests := []struct {
		name    string
		kind    revocationv1.Kind
		id      string
		revoked bool
		entry   *revocationv1.Entry
	}{
		{"revoked", apiKey, "key-1", true, key},
		{"never revoked", apiKey, "key-2", false, nil},
		{"same id, other kind", accessToken, "key-1", false, nil},
		{"expired entry answers not revoked", accessToken, "short-lived", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.svc.Check(f.ctx, &revocationv1.CheckRequest{Kind: tt.kind, Id: tt.id})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetRevoked() != tt.revoked || !proto.Equal(resp.GetEntry(), tt.entry) {
				t.Errorf("Check = %v, want revoked=%v entry %v", resp, tt.revoked, tt.entry)
			}
		})
	}
	if _, err := f.store.Get(f.ctx, accessToken, "short-lived"); err != nil {
		t.Errorf("the expired entry should still be stored: %v", err)
	}
}

func TestCheckValidation(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		req   *revocationv1.CheckRequest
		field string
	}{
		{"kind unspecified", &revocationv1.CheckRequest{Id: "x"}, "kind"},
		{"kind unknown", &revocationv1.CheckRequest{Kind: 42, Id: "x"}, "kind"},
		{"id empty", &revocationv1.CheckRequest{Kind: apiKey}, "id"},
		{"id too long", &revocationv1.CheckRequest{Kind: apiKey, Id: strings.Repeat("a", revocation.MaxIDBytes+1)}, "id"},
		{"id with control", &revocationv1.CheckRequest{Kind: apiKey, Id: "a\tb"}, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Check(f.ctx, tt.req)
			st := assertCode(t, err, codes.InvalidArgument)
			if !strings.HasPrefix(st.Message(), tt.field+": ") {
				t.Errorf("message %q does not name the field %s", st.Message(), tt.field)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.revoke(accessToken, fmt.Sprintf("t%d", i+1), time.Time{})
	}
	tests := []struct {
		since    int64
		pageSize int32
		want     string
	}{
		{0, 0, "[1 2 3 4 5]"},
		{0, 2, "[1 2]"},
		{2, 2, "[3 4]"},
		{4, 2, "[5]"},
		{5, 2, "[]"},
		{99, 1, "[]"},
		{0, revocation.MaxPageSize, "[1 2 3 4 5]"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("since %d size %d", tt.since, tt.pageSize), func(t *testing.T) {
			resp, err := f.svc.List(f.ctx, &revocationv1.ListRequest{SinceSeq: tt.since, PageSize: tt.pageSize})
			if err != nil {
				t.Fatal(err)
			}
			seqs := []int64{}
			for _, e := range resp.GetEntries() {
				seqs = append(seqs, e.GetSeq())
			}
			if got := fmt.Sprint(seqs); got != tt.want {
				t.Errorf("seqs = %s, want %s", got, tt.want)
			}
			if resp.GetHeadSeq() != 5 || resp.GetLogId() != f.svc.LogID() {
				t.Errorf("head %d log_id %q, want 5 and %q", resp.GetHeadSeq(), resp.GetLogId(), f.svc.LogID())
			}
		})
	}
}

func TestListPageSize(t *testing.T) {
	ls := &limitStore{Store: newStore(t)}
	f := startOn(t, ls)
	tests := []struct {
		name     string
		req      *revocationv1.ListRequest
		field    string // "" when valid
		wantSize int
	}{
		{"0 is the default", &revocationv1.ListRequest{}, "", revocation.DefaultPageSize},
		{"1", &revocationv1.ListRequest{PageSize: 1}, "", 1},
		{"the maximum", &revocationv1.ListRequest{PageSize: revocation.MaxPageSize}, "", revocation.MaxPageSize},
		{"above the maximum", &revocationv1.ListRequest{PageSize: revocation.MaxPageSize + 1}, "page_size", 0},
		{"negative", &revocationv1.ListRequest{PageSize: -1}, "page_size", 0},
		{"negative since_seq", &revocationv1.ListRequest{SinceSeq: -1}, "since_seq", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.List(f.ctx, tt.req)
			if tt.field != "" {
				st := assertCode(t, err, codes.InvalidArgument)
				if !strings.HasPrefix(st.Message(), tt.field+": ") {
					t.Errorf("message %q does not name the field %s", st.Message(), tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ls.lastLimit(); got != tt.wantSize {
				t.Errorf("store asked for %d entries, want %d", got, tt.wantSize)
			}
		})
	}
}

func TestHead(t *testing.T) {
	f := newFixture(t)
	resp, err := f.svc.Head(f.ctx, &revocationv1.HeadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetSeq() != 0 || resp.GetLogId() == "" || resp.GetLogId() != f.svc.LogID() {
		t.Errorf("Head of a new list = %v, want seq 0 and log_id %q", resp, f.svc.LogID())
	}
	f.revoke(apiKey, "a", time.Time{})
	f.revoke(apiKey, "b", t0.Add(time.Second))
	f.revoke(apiKey, "a", time.Time{}) // no-op
	if h := f.head(); h != 2 {
		t.Errorf("Head = %d, want 2", h)
	}
}

func TestLogIDIsTheStores(t *testing.T) {
	f := newFixture(t)
	want, err := f.store.LogID(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.svc.LogID(); got != want {
		t.Errorf("LogID = %q, want the store's %q", got, want)
	}
}

func TestRPCsBeforeStartAreUnavailable(t *testing.T) {
	svc := revocation.New(failingStore{err: errSQL})
	defer svc.Close()
	ctx := t.Context()
	if id := svc.LogID(); id != "" {
		t.Errorf("LogID before Start = %q, want empty", id)
	}
	calls := map[string]func() error{
		"Revoke": func() error {
			_, err := svc.Revoke(ctx, &revocationv1.RevokeRequest{Kind: apiKey, Id: "k"})
			return err
		},
		"Check": func() error {
			_, err := svc.Check(ctx, &revocationv1.CheckRequest{Kind: apiKey, Id: "k"})
			return err
		},
		"List": func() error { _, err := svc.List(ctx, &revocationv1.ListRequest{}); return err },
		"Head": func() error { _, err := svc.Head(ctx, &revocationv1.HeadRequest{}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { assertCode(t, call(), codes.Unavailable) })
	}
}

func TestStoreErrorsDoNotLeak(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code codes.Code
	}{
		{"driver error", fmt.Errorf("revocation: list: %w", errSQL), codes.Unavailable},
		{"canceled", fmt.Errorf("revocation: list: %w", context.Canceled), codes.Canceled},
		{"deadline", fmt.Errorf("revocation: list: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startOn(t, failingStore{err: tt.err})
			calls := map[string]func() error{
				"Revoke": func() error {
					_, err := f.svc.Revoke(f.ctx, &revocationv1.RevokeRequest{Kind: apiKey, Id: "k"})
					return err
				},
				"Check": func() error {
					_, err := f.svc.Check(f.ctx, &revocationv1.CheckRequest{Kind: apiKey, Id: "k"})
					return err
				},
				"List": func() error { _, err := f.svc.List(f.ctx, &revocationv1.ListRequest{}); return err },
				"Head": func() error { _, err := f.svc.Head(f.ctx, &revocationv1.HeadRequest{}); return err },
			}
			for name, call := range calls {
				t.Run(name, func(t *testing.T) {
					st := assertCode(t, call(), tt.code)
					for _, leak := range []string{"SELECT", "SQLSTATE", "revocations"} {
						if strings.Contains(st.Message(), leak) {
							t.Errorf("message %q leaks %q", st.Message(), leak)
						}
					}
				})
			}
		})
	}
}

func TestStartAndClose(t *testing.T) {
	t.Run("a store that cannot say its log id fails Start", func(t *testing.T) {
		svc := revocation.New(logIDFails{})
		defer svc.Close()
		if err := svc.Start(t.Context()); err == nil {
			t.Fatal("Start succeeded")
		}
	})
	t.Run("Start twice fails", func(t *testing.T) {
		f := newFixture(t)
		if err := f.svc.Start(t.Context()); err == nil {
			t.Fatal("second Start succeeded")
		}
	})
	t.Run("Start after Close fails; Close twice is fine", func(t *testing.T) {
		svc := revocation.New(failingStore{err: errSQL})
		svc.Close()
		svc.Close()
		if err := svc.Start(t.Context()); err == nil {
			t.Fatal("Start after Close succeeded")
		}
	})
}

type logIDFails struct{ failingStore }

func (logIDFails) LogID(context.Context) (string, error) { return "", errSQL }

func TestCleanupDeletesExpiredEntries(t *testing.T) {
	f := newFixture(t, revocation.WithCleanupInterval(10*time.Millisecond))
	f.revoke(accessToken, "expires", t0.Add(time.Minute))
	f.revoke(accessToken, "stays", t0.Add(2*time.Hour))
	f.revoke(apiKey, "never", time.Time{})
	f.clock.Advance(time.Hour)

	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := f.store.Get(f.ctx, accessToken, "expires")
		if errors.Is(err, revocation.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired entry still there after 5s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range []string{"stays", "never"} {
		kind := accessToken
		if id == "never" {
			kind = apiKey
		}
		if _, err := f.store.Get(f.ctx, kind, id); err != nil {
			t.Errorf("Get(%s): %v", id, err)
		}
	}
	if h := f.head(); h != 3 {
		t.Errorf("Head = %d after cleanup, want 3", h)
	}
}

func TestWithoutNATSEntriesStayInTheOutbox(t *testing.T) {
	f := newFixture(t)
	f.revoke(apiKey, "k", time.Time{})
	es, err := f.store.Unpublished(f.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Errorf("Unpublished = %+v, want the one entry", es)
	}
}

func TestProtoRoundTrip(t *testing.T) {
	tests := []revocation.Entry{
		{Seq: 7, Kind: client, ID: "c", Reason: "why", RevokedAt: t0.UTC(), ExpiresAt: t0.Add(time.Hour).UTC()},
		{Seq: 1, Kind: apiKey, ID: "k", RevokedAt: t0.UTC()},
	}
	for _, e := range tests {
		p := revocation.ToProto(e)
		if got := revocation.FromProto(p); got != e {
			t.Errorf("FromProto(ToProto(%+v)) = %+v", e, got)
		}
	}
	if p := revocation.ToProto(tests[1]); p.GetExpireTime() != nil {
		t.Errorf("zero ExpiresAt became %v, want unset", p.GetExpireTime())
	}
}

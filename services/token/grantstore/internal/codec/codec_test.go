package codec_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore/internal/codec"
)

func TestListRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		encoded string
	}{
		{"nil", nil, `[]`},
		{"empty", []string{}, `[]`},
		{"scopes", []string{"openid", "orders:read"}, `["openid","orders:read"]`},
		{"odd strings", []string{"", "a b", `"`}, `["","a b","\""]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := codec.List(tt.in)
			if err != nil || enc != tt.encoded {
				t.Fatalf("List = %q, %v; want %q", enc, err, tt.encoded)
			}
			got, err := codec.ParseList(enc)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !slices.Equal(got, tt.in) {
				t.Errorf("ParseList = %#v, want %#v (never nil)", got, tt.in)
			}
		})
	}
}

func TestParseListCorrupt(t *testing.T) {
	for _, s := range []string{``, `{}`, `["a"`, `[1]`} {
		if _, err := codec.ParseList(s); err == nil {
			t.Errorf("ParseList(%q) succeeded", s)
		}
	}
}

func TestParseListNull(t *testing.T) {
	got, err := codec.ParseList(`null`)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("ParseList(null) = %#v, %v; want empty, not nil", got, err)
	}
}

func TestCheckHash(t *testing.T) {
	for _, n := range []int{0, 31, 32, 33} {
		err := codec.CheckHash("x", make([]byte, n))
		if (err == nil) != (n == grantstore.HashSize) {
			t.Errorf("CheckHash of %d bytes = %v", n, err)
		}
	}
}

func TestRefusal(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	live := grantstore.Family{ClientID: "c1", Scopes: []string{"a", "b"}, ExpiresAt: now.Add(time.Hour)}
	bound := live
	bound.DPoPJKT = "jkt"
	current := grantstore.Refresh{IdleExpiresAt: now.Add(time.Hour)}
	revokedF := live
	revokedF.RevokedAt = now.Add(-time.Minute)
	expiredF := live
	expiredF.ExpiresAt = now
	rotatedRT := current
	rotatedRT.RotatedAt = now.Add(-time.Minute)
	idleRT := current
	idleRT.IdleExpiresAt = now

	tests := []struct {
		name   string
		rt     grantstore.Refresh
		f      grantstore.Family
		by     grantstore.Presenter
		scopes []string
		want   error
	}{
		{"current token, live family", current, live, grantstore.Presenter{}, nil, nil},
		{"narrowed", current, live, grantstore.Presenter{}, []string{"b"}, nil},
		{"bound, with its key", current, bound, grantstore.Presenter{DPoPJKT: "jkt"}, nil, nil},
		// A mismatch first: it changes nothing, not even for a replay.
		{"another client", rotatedRT, live, grantstore.Presenter{ClientID: "c2"}, nil, grantstore.ErrMismatch},
		{"bound, without a key", rotatedRT, bound, grantstore.Presenter{}, nil, grantstore.ErrMismatch},
		{"bound, another key", current, bound, grantstore.Presenter{DPoPJKT: "other"}, nil, grantstore.ErrMismatch},
		{"widened", rotatedRT, live, grantstore.Presenter{}, []string{"a", "c"}, grantstore.ErrMismatch},
		{"rotated", rotatedRT, live, grantstore.Presenter{}, nil, grantstore.ErrRefreshReused},
		// Reuse first: every replay is reported as one.
		{"rotated in a revoked family", rotatedRT, revokedF, grantstore.Presenter{}, nil, grantstore.ErrRefreshReused},
		{"rotated in an expired family", rotatedRT, expiredF, grantstore.Presenter{}, nil, grantstore.ErrRefreshReused},
		{"revoked family", current, revokedF, grantstore.Presenter{}, nil, grantstore.ErrRevoked},
		{"revoked and expired family", current, grantstore.Family{ClientID: "c1", ExpiresAt: now, RevokedAt: now}, grantstore.Presenter{}, nil, grantstore.ErrRevoked},
		{"family expired at now", current, expiredF, grantstore.Presenter{}, nil, grantstore.ErrExpired},
		{"idle expired at now", idleRT, live, grantstore.Presenter{}, nil, grantstore.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			by := tt.by
			if by.ClientID == "" {
				by.ClientID = "c1"
			}
			if got := codec.Refusal(tt.rt, tt.f, by, tt.scopes, now); !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("Refusal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCutoff(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if got, err := codec.Cutoff(now, time.Hour); err != nil || !got.Equal(now.Add(-time.Hour)) {
		t.Errorf("Cutoff(now, 1h) = %v, %v", got, err)
	}
	if _, err := codec.Cutoff(now, -time.Nanosecond); err == nil {
		t.Error("Cutoff with a negative keep succeeded")
	}
}

package authn

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// fakeChecker revokes by key id, or fails with err.
type fakeChecker struct {
	mu      sync.Mutex
	revoked map[string]bool
	err     error
	seen    []*Principal
}

func (f *fakeChecker) CheckPrincipal(_ context.Context, p *Principal) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, p)
	if f.err != nil {
		return false, f.err
	}
	return f.revoked[p.KeyID], nil
}

func (f *fakeChecker) set(revoked map[string]bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked, f.err = revoked, err
}

// TestRevocationChecker: every authenticated principal, cached or not, is
// checked; a revoked one is refused as invalid; a list that cannot answer
// fails the request closed with Unavailable and its own audit reason.
func TestRevocationChecker(t *testing.T) {
	chk := &fakeChecker{}
	env := newTestEnv(t, testRules(t), WithRevocationChecker(chk))
	raw, keyID := env.verifier.add(t, accepted("client-a", 0, "things:read"))
	call := func() error {
		_, err := env.client.UnaryCall(withMD("x-api-key", raw), &testgrpc.SimpleRequest{})
		return err
	}
	if err := call(); err != nil {
		t.Fatalf("not revoked: %v", err)
	}
	// The key is now cached by the authenticator: the list still decides.
	chk.set(map[string]bool{keyID: true}, nil)
	err := call()
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("revoked key: %v, want Unauthenticated", err)
	}
	chk.set(nil, errors.New("revocation list stale for 3m"))
	err = call()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stale list: %v, want Unavailable", err)
	}
	st := status.Convert(err)
	if st.Message() != "credential verification is temporarily unavailable" {
		t.Errorf("stale list message %q leaks detail", st.Message())
	}
	hasRetry := false
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			hasRetry = true
		}
	}
	if !hasRetry {
		t.Error("stale list refusal without RetryInfo (Retry-After over REST)")
	}
	f := env.rec.all()
	if len(f) != 2 || f[0].Reason != audit.ReasonRevokedAPIKey || f[1].Reason != audit.ReasonRevocationListStale || f[1].ClientID != "client-a" {
		t.Fatalf("recorded %+v", f)
	}
	chk.set(nil, nil)
	if err := call(); err != nil {
		t.Fatalf("after the list recovered: %v", err)
	}
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if len(chk.seen) != 4 {
		t.Fatalf("checked %d principals, want one per request (4)", len(chk.seen))
	}
}

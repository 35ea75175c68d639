package keys_test

import (
	"context"
	"errors"
	"testing"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

type fakeRevoker struct {
	err error
	got []*revocationv1.RevokeRequest
}

func (f *fakeRevoker) Revoke(_ context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.got = append(f.got, req)
	return &revocationv1.RevokeResponse{}, nil
}

// TestEmergencyRotationRevokesKID: the compromised kid goes into the
// revocation list for as long as its tokens could live; a kid that does
// not exist is not recorded; a failure to record is reported.
func TestEmergencyRotationRevokesKID(t *testing.T) {
	clock := newClock()
	rv := &fakeRevoker{}
	m := newManager(t, &memStore{}, newKEK(t), keys.WithClock(clock.Now), keys.WithRevoker(rv), keys.WithRetirePeriod(testRetire))
	start(t, m)
	k1 := signingKID(t, m)

	if _, err := m.EmergencyRotate(t.Context(), "no-such-kid", ""); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("unknown kid: %v", err)
	}
	if len(rv.got) != 0 {
		t.Fatalf("unknown kid recorded: %v", rv.got)
	}
	k2, err := m.EmergencyRotate(t.Context(), k1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rv.got) != 1 {
		t.Fatalf("recorded %d revocations, want 1", len(rv.got))
	}
	r := rv.got[0]
	if r.GetKind() != revocationv1.Kind_KIND_SIGNING_KEY || r.GetId() != k1 || !r.GetExpireTime().AsTime().Equal(clock.Now().Add(testRetire)) {
		t.Fatalf("recorded %v", r)
	}

	rv.err = errors.New("revocation service down")
	k3, err := m.EmergencyRotate(t.Context(), k2.KID, "")
	if !errors.Is(err, keys.ErrRevocationNotRecorded) {
		t.Fatalf("a failed revocation reported as %v", err)
	}
	if k3.KID == "" || signingKID(t, m) != k3.KID {
		t.Fatalf("the rotation itself must stand: new kid %q, signing with %q", k3.KID, signingKID(t, m))
	}
}

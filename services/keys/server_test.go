package keys_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

func TestServer(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	clock := newClock()
	logs := &logBuffer{}
	m := newManager(t, stores[0], newKEK(t), testOptions(clock, keys.WithLogger(logs.logger()))...)
	srv := keys.NewServer(m)
	ctx := t.Context()

	t.Run("before Start", func(t *testing.T) {
		_, err := srv.GetJWKS(ctx, &keysv1.GetJWKSRequest{})
		assertCode(t, err, codes.Unavailable)
		_, err = srv.GetSigningKey(ctx, &keysv1.GetSigningKeyRequest{})
		assertCode(t, err, codes.Unavailable)
	})
	start(t, m)
	k1 := signingKID(t, m)

	t.Run("GetJWKS returns the served bytes and version", func(t *testing.T) {
		resp, err := srv.GetJWKS(ctx, &keysv1.GetJWKSRequest{})
		if err != nil {
			t.Fatal(err)
		}
		body, _, version := m.JWKS()
		if string(resp.GetJwksJson()) != string(body) || resp.GetVersion() != version || version == 0 {
			t.Fatalf("GetJWKS = %s v%d, want %s v%d", resp.GetJwksJson(), resp.GetVersion(), body, version)
		}
	})

	var k2 string
	t.Run("RotateKeys normal returns a pending key", func(t *testing.T) {
		clock.Advance(time.Minute)
		resp, err := srv.RotateKeys(ctx, &keysv1.RotateKeysRequest{Alg: "PS256"})
		if err != nil {
			t.Fatal(err)
		}
		k := resp.GetKey()
		k2 = k.GetKid()
		if k.GetState() != keysv1.KeyState_KEY_STATE_PENDING || k.GetAlg() != "PS256" ||
			!k.GetActivateTime().AsTime().Equal(clock.Now().Add(testLead)) || !k.GetCreateTime().AsTime().Equal(clock.Now()) {
			t.Errorf("key %v, want PENDING PS256 created now and activating after the lead", k)
		}
	})

	t.Run("ListKeys lists newest first without private material", func(t *testing.T) {
		resp, err := srv.ListKeys(ctx, &keysv1.ListKeysRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range resp.GetKeys() {
			got = append(got, k.GetKid()+":"+k.GetState().String())
		}
		want := []string{k2 + ":KEY_STATE_PENDING", k1 + ":KEY_STATE_ACTIVE"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("ListKeys = %v, want %v", got, want)
		}
		if resp.GetKeys()[1].GetRetireTime() != nil || resp.GetKeys()[1].GetRemoveTime() != nil {
			t.Error("times the key does not have yet are set")
		}
	})

	t.Run("GetSigningKey returns the active private key", func(t *testing.T) {
		resp, err := srv.GetSigningKey(ctx, &keysv1.GetSigningKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var jwkMembers map[string]any
		if err := json.Unmarshal(resp.GetPrivateJwk(), &jwkMembers); err != nil {
			t.Fatal(err)
		}
		if resp.GetKey().GetKid() != k1 || jwkMembers["kid"] != k1 || jwkMembers["d"] == nil || resp.GetKey().GetState() != keysv1.KeyState_KEY_STATE_ACTIVE {
			t.Errorf("GetSigningKey = %v with JWK kid %v, want the active key %s with its private member", resp.GetKey(), jwkMembers["kid"], k1)
		}
	})

	t.Run("RotateKeys emergency returns an active key", func(t *testing.T) {
		resp, err := srv.RotateKeys(ctx, &keysv1.RotateKeysRequest{CompromisedKid: k1})
		if err != nil {
			t.Fatal(err)
		}
		if k := resp.GetKey(); k.GetState() != keysv1.KeyState_KEY_STATE_ACTIVE || k.GetAlg() != "ES256" || signingKID(t, m) != k.GetKid() {
			t.Errorf("key %v, want the new active ES256 key", k)
		}
		if contains(jwksKIDs(t, m), k1) {
			t.Error("compromised kid still in the JWKS")
		}
	})

	errCases := []struct {
		name string
		req  *keysv1.RotateKeysRequest
		want codes.Code
	}{
		{"unsupported alg", &keysv1.RotateKeysRequest{Alg: "HS256"}, codes.InvalidArgument},
		{"alg none", &keysv1.RotateKeysRequest{Alg: "none"}, codes.InvalidArgument},
		{"unknown compromised kid", &keysv1.RotateKeysRequest{CompromisedKid: "nope"}, codes.NotFound},
		{"hostile compromised kid", &keysv1.RotateKeysRequest{CompromisedKid: "' OR 1=1 --\x00" + strings.Repeat("A", 70000)}, codes.NotFound},
		{"already removed kid", &keysv1.RotateKeysRequest{CompromisedKid: k1}, codes.FailedPrecondition},
	}
	for _, tt := range errCases {
		t.Run("RotateKeys "+tt.name, func(t *testing.T) {
			_, _, before := m.JWKS()
			_, err := srv.RotateKeys(ctx, tt.req)
			assertCode(t, err, tt.want)
			if _, _, after := m.JWKS(); after != before {
				t.Error("a refused RotateKeys changed the keys")
			}
		})
	}

	t.Run("IssueClientCertificate without a client_id is InvalidArgument", func(t *testing.T) {
		_, err := srv.IssueClientCertificate(ctx, &keysv1.IssueClientCertificateRequest{})
		assertCode(t, err, codes.InvalidArgument)
	})

	t.Run("a cancelled call is Canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := srv.ListKeys(cctx, &keysv1.ListKeysRequest{})
		assertCode(t, err, codes.Canceled)
	})

	if strings.Contains(logs.String(), `"d":`) {
		t.Error("a private key member was logged")
	}
}

// failingStore fails every call with an error that must not reach a
// caller.
type failingStore struct{ keys.Store }

var errInternal = errors.New("connection to 10.0.0.7:5432 refused (password=hunter2)")

func (failingStore) List(context.Context) ([]keys.Key, error) { return nil, errInternal }

func TestServerHidesInternalErrors(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	logs := &logBuffer{}
	m := newManager(t, stores[0], newKEK(t), testOptions(newClock(), keys.WithLogger(logs.logger()))...)
	start(t, m)
	broken := newManager(t, failingStore{stores[0]}, newKEK(t), testOptions(newClock(), keys.WithLogger(logs.logger()))...)
	srv := keys.NewServer(broken)
	_, err := srv.ListKeys(t.Context(), &keysv1.ListKeysRequest{})
	assertCode(t, err, codes.Internal)
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "10.0.0.7") {
		t.Errorf("the caller sees %v", err)
	}
	if !strings.Contains(logs.String(), "10.0.0.7") {
		t.Error("the internal error was not logged")
	}
}

func assertCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != want {
		t.Fatalf("err = %v, want code %v", err, want)
	}
}

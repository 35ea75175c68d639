package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/clients"
)

var secretTests = []test{
	{"ListSecrets is newest first with byte-exact hashes", func(t *testing.T, e *env) {
		s1 := sampleSecret("c1", t0)
		e.createClient(sampleClient("c1", t0), &s1)
		s2 := clients.Secret{ClientID: "c1", Hash: make([]byte, 32), CreatedAt: t0.Add(time.Minute)} // all zero bytes
		if err := e.s.RotateSecret(e.ctx, s2, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		s1.ExpiresAt = t0.Add(time.Hour)
		assertSecrets(t, e.secrets("c1"), s2, s1)
	}},

	{"RotateSecret expires the current secret and drops expired ones", func(t *testing.T, e *env) {
		s1 := sampleSecret("c1", t0)
		e.createClient(sampleClient("c1", t0), &s1)

		// s1 becomes previous, valid for another hour.
		s2 := sampleSecret("c1", t0.Add(10*time.Minute))
		if err := e.s.RotateSecret(e.ctx, s2, s2.CreatedAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		s1.ExpiresAt = s2.CreatedAt.Add(time.Hour)
		assertSecrets(t, e.secrets("c1"), s2, s1)

		// At s3's creation s1 has expired: it goes. s2 gets the new expiry.
		s3 := sampleSecret("c1", s1.ExpiresAt.Add(time.Minute))
		if err := e.s.RotateSecret(e.ctx, s3, s3.CreatedAt.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		s2.ExpiresAt = s3.CreatedAt.Add(2 * time.Hour)
		assertSecrets(t, e.secrets("c1"), s3, s2)

		// s2 has not expired at s4's creation: it keeps its own expiry
		// (only secrets without one get previousExpiresAt).
		s4 := sampleSecret("c1", s3.CreatedAt.Add(time.Hour))
		if err := e.s.RotateSecret(e.ctx, s4, s4.CreatedAt.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		s3.ExpiresAt = s4.CreatedAt.Add(24 * time.Hour)
		assertSecrets(t, e.secrets("c1"), s4, s3, s2)
	}},

	{"RotateSecret with a zero previousExpiresAt retires the old secret at once", func(t *testing.T, e *env) {
		s1 := sampleSecret("c1", t0)
		e.createClient(sampleClient("c1", t0), &s1)
		s2 := sampleSecret("c1", t0.Add(time.Minute))
		if err := e.s.RotateSecret(e.ctx, s2, time.Time{}); err != nil {
			t.Fatal(err)
		}
		s1.ExpiresAt = s2.CreatedAt
		assertSecrets(t, e.secrets("c1"), s2, s1)
		s3 := sampleSecret("c1", t0.Add(2*time.Minute))
		if err := e.s.RotateSecret(e.ctx, s3, time.Time{}); err != nil {
			t.Fatal(err)
		}
		s2.ExpiresAt = s3.CreatedAt
		assertSecrets(t, e.secrets("c1"), s3, s2)
	}},

	{"RotateSecret gives a client without secrets its first one", func(t *testing.T, e *env) {
		e.createClient(sampleClient("c1", t0), nil)
		s1 := sampleSecret("c1", t0)
		if err := e.s.RotateSecret(e.ctx, s1, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		assertSecrets(t, e.secrets("c1"), s1)
	}},

	{"RotateSecret with a taken CreatedAt changes nothing", func(t *testing.T, e *env) {
		s1 := sampleSecret("c1", t0)
		e.createClient(sampleClient("c1", t0), &s1)
		dup := clients.Secret{ClientID: "c1", Hash: hashOf("other"), CreatedAt: t0}
		err := e.s.RotateSecret(e.ctx, dup, t0.Add(time.Hour))
		assertErrorIs(t, err, clients.ErrAlreadyExists)
		assertSecrets(t, e.secrets("c1"), s1) // s1 did not get an expiry
	}},

	{"RotateSecret of a missing client is ErrNotFound", func(t *testing.T, e *env) {
		err := e.s.RotateSecret(e.ctx, sampleSecret("nobody", t0), t0.Add(time.Hour))
		assertErrorIs(t, err, clients.ErrNotFound)
		assertSecrets(t, e.secrets("nobody"))
	}},

	{"ListSecrets of an unknown client is empty", func(t *testing.T, e *env) {
		assertSecrets(t, e.secrets("nobody"))
	}},
}

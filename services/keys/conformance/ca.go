package conformance

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// caStores returns n stores on one new database as keys.CAStore, and
// skips the test if the backend does not implement it.
func (e *env) caStores(n int) []keys.CAStore {
	e.t.Helper()
	var out []keys.CAStore
	for _, s := range e.new(e.t, n) {
		cs, ok := s.(keys.CAStore)
		if !ok {
			e.t.Skipf("%T does not implement keys.CAStore", s)
		}
		out = append(out, cs)
	}
	return out
}

func sampleCA(serial string) keys.StoredCA {
	return keys.StoredCA{
		Serial:      serial,
		Certificate: []byte("der:" + serial),
		PrivateKey:  []byte("sealed:" + serial),
		CreatedAt:   t0,
	}
}

func sampleCert(serial, clientID string, notBefore time.Time) keys.IssuedCert {
	return keys.IssuedCert{
		Serial:     serial,
		ClientID:   clientID,
		Thumbprint: "tp-" + serial,
		NotBefore:  notBefore,
		NotAfter:   notBefore.Add(90 * 24 * time.Hour),
		DER:        []byte("der:" + serial),
	}
}

func storedCert(c keys.IssuedCert) keys.IssuedCert {
	c.NotBefore = c.NotBefore.UTC().Truncate(time.Microsecond)
	c.NotAfter = c.NotAfter.UTC().Truncate(time.Microsecond)
	return c
}

func assertCA(t *testing.T, got, want keys.StoredCA) {
	t.Helper()
	want.CreatedAt = want.CreatedAt.UTC().Truncate(time.Microsecond)
	if got.Serial != want.Serial || !bytes.Equal(got.Certificate, want.Certificate) || !bytes.Equal(got.PrivateKey, want.PrivateKey) || // not-secret: a test comparing what the store returned (sealed key bytes), not a verification
		!got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("CA = %s %q %q %v, want %s %q %q %v", got.Serial, got.Certificate, got.PrivateKey, got.CreatedAt,
			want.Serial, want.Certificate, want.PrivateKey, want.CreatedAt)
	}
}

func assertCerts(t *testing.T, got []keys.IssuedCert, want ...keys.IssuedCert) {
	t.Helper()
	if got == nil {
		t.Fatal("ListCertificates = nil, want a slice")
	}
	serials := func(cs []keys.IssuedCert) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.Serial)
		}
		return out
	}
	if !slices.Equal(serials(got), serials(want)) {
		t.Fatalf("certificates %v, want %v", serials(got), serials(want))
	}
	for i, w := range want {
		w = storedCert(w)
		g := got[i]
		if g.ClientID != w.ClientID || g.Thumbprint != w.Thumbprint || !bytes.Equal(g.DER, w.DER) || // not-secret: a test comparing what the store returned (sealed key bytes), not a verification
			!g.NotBefore.Equal(w.NotBefore) || !g.NotAfter.Equal(w.NotAfter) ||
			g.NotBefore.Location() != time.UTC || g.NotAfter.Location() != time.UTC {
			t.Errorf("certificate %s = %+v, want %+v", w.Serial, g, w)
		}
	}
}

var caTests = []test{
	{"GetCA of an empty store is ErrNotFound", func(t *testing.T, e *env) {
		s := e.caStores(1)[0]
		_, err := s.GetCA(e.ctx)
		assertErrorIs(t, err, keys.ErrNotFound)
	}},

	{"CreateCA stores the CA and returns it", func(t *testing.T, e *env) {
		s := e.caStores(1)[0]
		ca := sampleCA("0a1b")
		got, err := s.CreateCA(e.ctx, ca)
		if err != nil {
			t.Fatal(err)
		}
		assertCA(t, got, ca)
		got, err = s.GetCA(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		assertCA(t, got, ca)
	}},

	{"CreateCA keeps the first CA", func(t *testing.T, e *env) {
		s := e.caStores(1)[0]
		first := sampleCA("01")
		if _, err := s.CreateCA(e.ctx, first); err != nil {
			t.Fatal(err)
		}
		second := sampleCA("02")
		second.CreatedAt = t0.Add(time.Hour)
		got, err := s.CreateCA(e.ctx, second)
		if err != nil {
			t.Fatalf("second CreateCA: %v, want the first CA and no error", err)
		}
		assertCA(t, got, first)
		got, err = s.GetCA(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		assertCA(t, got, first)
	}},

	{"Concurrent CreateCA through two handles stores one CA", func(t *testing.T, e *env) {
		stores := e.caStores(2)
		const n = 20
		var wg sync.WaitGroup
		got := make([]keys.StoredCA, n)
		for i := range n {
			wg.Go(func() {
				ca, err := stores[i%2].CreateCA(e.ctx, sampleCA(fmt.Sprintf("%02x", i+1)))
				if err != nil {
					t.Error(err)
				}
				got[i] = ca
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		stored, err := stores[1].GetCA(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, ca := range got {
			if ca.Serial != stored.Serial || !bytes.Equal(ca.PrivateKey, stored.PrivateKey) { // not-secret: a test comparing what the store returned (sealed key bytes), not a verification
				t.Fatalf("CreateCA %d returned CA %s, the store holds %s: every caller must get the one stored CA", i, ca.Serial, stored.Serial)
			}
		}
	}},

	{"Certificates are listed by client, newest first, then by serial", func(t *testing.T, e *env) {
		s := e.caStores(1)[0]
		a1 := sampleCert("a1", "client-a", t0)
		a2 := sampleCert("a2", "client-a", t0.Add(time.Hour))
		a0 := sampleCert("a0", "client-a", t0)
		b1 := sampleCert("b1", "client-b", t0.Add(2*time.Hour))
		for _, c := range []keys.IssuedCert{a1, b1, a2, a0} {
			if err := s.InsertCertificate(e.ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListCertificates(e.ctx, "client-a")
		if err != nil {
			t.Fatal(err)
		}
		assertCerts(t, got, a2, a0, a1)
		got, err = s.ListCertificates(e.ctx, "client-b")
		if err != nil {
			t.Fatal(err)
		}
		assertCerts(t, got, b1)
		got, err = s.ListCertificates(e.ctx, "client-c")
		if err != nil {
			t.Fatal(err)
		}
		assertCerts(t, got)
	}},

	{"A taken serial is ErrAlreadyExists and nothing is written", func(t *testing.T, e *env) {
		s := e.caStores(1)[0]
		orig := sampleCert("ab", "client-a", t0)
		if err := s.InsertCertificate(e.ctx, orig); err != nil {
			t.Fatal(err)
		}
		err := s.InsertCertificate(e.ctx, sampleCert("ab", "client-b", t0.Add(time.Hour)))
		assertErrorIs(t, err, keys.ErrAlreadyExists)
		got, err := s.ListCertificates(e.ctx, "client-a")
		if err != nil {
			t.Fatal(err)
		}
		assertCerts(t, got, orig)
		if got, _ := s.ListCertificates(e.ctx, "client-b"); len(got) != 0 {
			t.Fatalf("client-b has %d certificates after a refused insert", len(got))
		}
	}},

	{"The CA and certificates leave the signing keys alone", func(t *testing.T, e *env) {
		s := e.caStores(1)[0]
		if _, err := s.CreateCA(e.ctx, sampleCA("01")); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertCertificate(e.ctx, sampleCert("02", "client-a", t0)); err != nil {
			t.Fatal(err)
		}
		ks := s.(keys.Store)
		assertKeys(t, e.list(ks))
		if v := e.mustUpdate(ks, func([]keys.Key) (keys.Changes, error) { return keys.Changes{}, nil }); v != 0 {
			t.Fatalf("version %d, want 0: the CA is not a signing key", v)
		}
	}},
}

package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

const day = 24 * time.Hour

func mustCA(t testing.TB, m *keys.Manager) *x509.Certificate {
	t.Helper()
	ca, err := m.CA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t testing.TB, m *keys.Manager, clientID string, key crypto.Signer, validity time.Duration) (keys.IssuedCert, *x509.Certificate) {
	t.Helper()
	ic, err := m.IssueClientCertificate(context.Background(), clientID, csrPEM(t, key, nil), validity)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(ic.DER)
	if err != nil {
		t.Fatal(err)
	}
	return ic, cert
}

func TestPlatformCA(t *testing.T) {
	stores, dump := openSQLite(t, 1)
	clock := newClock()
	k := newKEK(t)
	m := newManager(t, stores[0], k, testOptions(clock)...)
	start(t, m)
	ca := mustCA(t, m)
	now := clock.Now()

	if ca.Subject.CommonName != "Gatehouse platform CA" || ca.Issuer.String() != ca.Subject.String() {
		t.Errorf("subject %v issuer %v, want a self-signed Gatehouse platform CA", ca.Subject, ca.Issuer)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if !ca.BasicConstraintsValid || !ca.IsCA || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("basic constraints CA %v pathlen %d zero %v, want CA:true pathlen 0", ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || len(ca.ExtKeyUsage) != 0 {
		t.Errorf("key usage %v ext %v, want certSign|cRLSign only", ca.KeyUsage, ca.ExtKeyUsage)
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	if want := now.AddDate(10, 0, 0); !ca.NotAfter.Equal(want.Truncate(time.Second)) {
		t.Errorf("NotAfter %v, want %v (10 years)", ca.NotAfter, want)
	}
	if ca.NotBefore.After(now) || now.Sub(ca.NotBefore) > 2*time.Minute {
		t.Errorf("NotBefore %v, want just before %v", ca.NotBefore, now)
	}
	if ca.SerialNumber.Sign() <= 0 || ca.SerialNumber.BitLen() > 128 || ca.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %x, want a positive random 128-bit number", ca.SerialNumber)
	}
	if len(ca.SubjectKeyId) == 0 {
		t.Error("no subject key id")
	}

	pool, err := m.CAPool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now}); err != nil {
		t.Errorf("CA does not verify against CAPool: %v", err)
	}

	// Another Manager (a restart) on the same store loads the same CA.
	again := newManager(t, stores[0], k, testOptions(clock)...)
	start(t, again)
	if got := mustCA(t, again); !bytes.Equal(got.Raw, ca.Raw) {
		t.Error("a second Manager on the store made another CA")
	}
	stored, err := stores[0].(keys.CAStore).GetCA(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored.Certificate, ca.Raw) || !stored.CreatedAt.Equal(now) {
		t.Errorf("stored CA %s created %v, want the loaded one created %v", stored.Serial, stored.CreatedAt, now)
	}
	assertSealed(t, stored, k, dump())
}

func TestIssueClientCertificate(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	clock := newClock()
	m := newManager(t, stores[0], newKEK(t), testOptions(clock)...)
	start(t, m)
	ca := mustCA(t, m)
	pool, err := m.CAPool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const client = "c_partner01"

	for _, kt := range []string{"p256", "p384", "rsa2048", "ed25519"} {
		t.Run("key "+kt, func(t *testing.T) {
			key := testKey(t, kt)
			ic, cert := issue(t, m, client, key, 0)
			now := clock.Now()
			chains, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil || len(chains) != 1 || len(chains[0]) != 2 || !chains[0][1].Equal(ca) {
				t.Fatalf("does not chain to the CA for clientAuth: %v", err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
				t.Error("a client certificate verifies for serverAuth")
			}
			if cert.Subject.CommonName != client || !slices.Equal(cert.Subject.Organization, []string{"Gatehouse partner"}) {
				t.Errorf("subject %v, want CN=%s O=Gatehouse partner", cert.Subject, client)
			}
			if len(cert.URIs) != 1 || cert.URIs[0].String() != "urn:gatehouse:client:"+client ||
				len(cert.DNSNames)+len(cert.IPAddresses)+len(cert.EmailAddresses) != 0 {
				t.Errorf("SANs URI %v DNS %v IP %v email %v, want only urn:gatehouse:client:%s", cert.URIs, cert.DNSNames, cert.IPAddresses, cert.EmailAddresses, client)
			}
			if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || len(cert.UnknownExtKeyUsage) != 0 {
				t.Errorf("EKU %v %v, want clientAuth only", cert.ExtKeyUsage, cert.UnknownExtKeyUsage)
			}
			if cert.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("key usage %v, want digitalSignature", cert.KeyUsage)
			}
			if !cert.BasicConstraintsValid || cert.IsCA {
				t.Error("want basic constraints CA:false")
			}
			if !bytes.Equal(cert.AuthorityKeyId, ca.SubjectKeyId) || len(cert.SubjectKeyId) == 0 {
				t.Errorf("AKI %x SKI %x, want AKI = CA SKI %x and an SKI", cert.AuthorityKeyId, cert.SubjectKeyId, ca.SubjectKeyId)
			}
			if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
				t.Error("the certificate's key is not the CSR's")
			}
			if want := now.Add(90 * day); !cert.NotAfter.Equal(want.Truncate(time.Second)) {
				t.Errorf("NotAfter %v, want 90 days from now %v", cert.NotAfter, want)
			}
			if want := now.Add(-time.Minute).Truncate(time.Second); !cert.NotBefore.Equal(want) {
				t.Errorf("NotBefore %v, want %v", cert.NotBefore, want)
			}
			sum := sha256.Sum256(cert.Raw)
			if ic.Thumbprint != base64.RawURLEncoding.EncodeToString(sum[:]) || ic.Serial != strings.ToLower(cert.SerialNumber.Text(16)) ||
				ic.ClientID != client || !ic.NotAfter.Equal(cert.NotAfter) || !ic.NotBefore.Equal(cert.NotBefore) {
				t.Errorf("IssuedCert %+v does not describe the certificate", ic)
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %x, want positive, at most 128 bits", cert.SerialNumber)
			}
			if b, rest := pem.Decode(ic.PEM()); b == nil || b.Type != "CERTIFICATE" || !bytes.Equal(b.Bytes, ic.DER) || len(rest) != 0 {
				t.Error("PEM does not hold the DER")
			}
		})
	}

	t.Run("validity", func(t *testing.T) {
		for _, tt := range []struct {
			ask, want time.Duration
		}{
			{0, 90 * day},
			{-time.Hour, 90 * day},
			{7 * day, 7 * day},
			{90 * day, 90 * day},
			{91 * day, 90 * day},
			{365 * day, 90 * day},
		} {
			_, cert := issue(t, m, client, testKey(t, "p256"), tt.ask)
			if got := cert.NotAfter.Sub(clock.Now().Truncate(time.Second)); got != tt.want {
				t.Errorf("asked %v: valid %v from now, want %v", tt.ask, got, tt.want)
			}
		}
	})

	t.Run("serials are unique and listed", func(t *testing.T) {
		const other = "c_partner02"
		seen := map[string]bool{}
		var issued []string
		for range 30 {
			clock.Advance(time.Second)
			ic, _ := issue(t, m, other, testKey(t, "p256-b"), 0)
			if seen[ic.Serial] {
				t.Fatalf("serial %s issued twice", ic.Serial)
			}
			seen[ic.Serial] = true
			issued = append(issued, ic.Serial)
		}
		list, err := m.ListClientCertificates(t.Context(), other)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range list {
			got = append(got, c.Serial)
			if c.ClientID != other || len(c.DER) == 0 || c.Thumbprint == "" {
				t.Errorf("listed %+v", c)
			}
		}
		slices.Reverse(issued)
		if !slices.Equal(got, issued) {
			t.Errorf("listed %v, want newest first %v", got, issued)
		}
		if l, err := m.ListClientCertificates(t.Context(), "c_nobody"); err != nil || l == nil || len(l) != 0 {
			t.Errorf("list of a client without certificates = %v, %v; want empty", l, err)
		}
	})

	t.Run("refused client ids", func(t *testing.T) {
		for _, id := range []string{"", "a b", "c/x", "c%41", "c:x", "urn:gatehouse:client:x", "é", strings.Repeat("a", 65), "c\n"} {
			if _, err := m.IssueClientCertificate(t.Context(), id, csrPEM(t, testKey(t, "p256"), nil), 0); !errors.Is(err, keys.ErrInvalidClientID) {
				t.Errorf("client_id %q: err %v, want ErrInvalidClientID", id, err)
			}
			if _, err := m.ListClientCertificates(t.Context(), id); !errors.Is(err, keys.ErrInvalidClientID) {
				t.Errorf("list client_id %q: err %v, want ErrInvalidClientID", id, err)
			}
		}
		for _, id := range []string{strings.Repeat("a", 64), "c_Z-9.~x"} {
			if _, err := m.IssueClientCertificate(t.Context(), id, csrPEM(t, testKey(t, "p256"), nil), 0); err != nil {
				t.Errorf("client_id %q refused: %v", id, err)
			}
		}
	})

	t.Run("refused CSRs are not recorded", func(t *testing.T) {
		before, _ := m.ListClientCertificates(t.Context(), "c_refused")
		_, err := m.IssueClientCertificate(t.Context(), "c_refused", csrPEM(t, testKey(t, "rsa1024"), nil), 0)
		if !errors.Is(err, keys.ErrInvalidCSR) {
			t.Fatalf("err %v, want ErrInvalidCSR", err)
		}
		after, _ := m.ListClientCertificates(t.Context(), "c_refused")
		if len(before) != 0 || len(after) != 0 {
			t.Errorf("refused CSR recorded: %d certificates", len(after))
		}
	})

	t.Run("a certificate never outlives the CA", func(t *testing.T) {
		clock.Advance(ca.NotAfter.Sub(clock.Now()) - 10*day)
		_, cert := issue(t, m, client, testKey(t, "p256"), 0)
		if !cert.NotAfter.Equal(ca.NotAfter) {
			t.Errorf("NotAfter %v, want the CA's %v", cert.NotAfter, ca.NotAfter)
		}
	})
}

// TestPlatformCACreatedOnce: replicas starting together on an empty
// database make one CA, and all use it.
func TestPlatformCACreatedOnce(t *testing.T) {
	csr := csrPEM(t, testKey(t, "p256"), nil)
	for _, b := range backends {
		for _, first := range []struct {
			name string
			call func(context.Context, *keys.Manager) error
		}{
			{"Start", func(ctx context.Context, m *keys.Manager) error { return m.Start(ctx) }},
			{"CA", func(ctx context.Context, m *keys.Manager) error { _, err := m.CA(ctx); return err }},
			{"IssueClientCertificate", func(ctx context.Context, m *keys.Manager) error {
				_, err := m.IssueClientCertificate(ctx, "c_first", csr, 0)
				return err
			}},
		} {
			t.Run(b.name+"/"+first.name, func(t *testing.T) {
				const n = 10
				stores, dump := b.open(t, 2)
				clock := newClock()
				k := newKEK(t)
				logs := &logBuffer{}
				var ms []*keys.Manager
				for i := range n {
					ms = append(ms, newManager(t, stores[i%2], k, testOptions(clock, keys.WithLogger(logs.logger()))...))
				}
				var wg sync.WaitGroup
				gate := make(chan struct{})
				for _, m := range ms {
					wg.Go(func() {
						<-gate
						if err := first.call(t.Context(), m); err != nil {
							t.Error(err)
						}
					})
				}
				close(gate)
				wg.Wait()
				if t.Failed() {
					return
				}
				want := mustCA(t, ms[0])
				for i, m := range ms {
					if got := mustCA(t, m); !bytes.Equal(got.Raw, want.Raw) {
						t.Fatalf("Manager %d uses CA %x, Manager 0 uses %x", i, got.SerialNumber, want.SerialNumber)
					}
				}
				stored, err := stores[1].(keys.CAStore).GetCA(t.Context())
				if err != nil || stored.Serial != strings.ToLower(want.SerialNumber.Text(16)) {
					t.Fatalf("stored CA %s (%v), want %x", stored.Serial, err, want.SerialNumber)
				}
				if c := strings.Count(logs.String(), `"msg":"platform CA created"`); c != 1 {
					t.Errorf("%d Managers say they created the CA, want 1", c)
				}
				assertSealed(t, stored, k, dump())
			})
		}
	}
}

// assertSealed checks that the CA's private key is nowhere in the
// database in the clear.
func assertSealed(t *testing.T, stored keys.StoredCA, k *kek.KEK, dump []byte) {
	t.Helper()
	pkcs8, err := k.Open(stored.PrivateKey, []byte("gatehouse platform CA "+stored.Serial))
	if err != nil {
		t.Fatalf("the stored CA key does not open with the KEK and its additional data: %v", err)
	}
	if _, err := k.Open(stored.PrivateKey, []byte(stored.Serial)); err == nil {
		t.Error("the CA key opens with other additional data")
	}
	raw, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		t.Fatal(err)
	}
	d, err := raw.(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string][]byte{"PKCS #8": pkcs8, "scalar": d, "base64 scalar": []byte(base64.StdEncoding.EncodeToString(d))} {
		if bytes.Contains(dump, secret) {
			t.Errorf("the CA's private key (%s) is in the database in the clear", name)
		}
	}
}

func TestPlatformCAWrongKEK(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			stores, _ := b.open(t, 1)
			clock := newClock()
			// The first process makes the CA only (no signing key yet).
			first := newManager(t, stores[0], newKEK(t), testOptions(clock)...)
			mustCA(t, first)

			wrong := newManager(t, stores[0], newKEK(t), testOptions(clock)...)
			_, err := wrong.CA(t.Context())
			if !errors.Is(err, keys.ErrWrongKEK) || !strings.Contains(err.Error(), "platform CA") || !strings.Contains(err.Error(), "KEK") {
				t.Fatalf("CA with the wrong KEK: %v, want ErrWrongKEK naming the platform CA", err)
			}
			if _, err := wrong.IssueClientCertificate(t.Context(), "c_x", csrPEM(t, testKey(t, "p256"), nil), 0); !errors.Is(err, keys.ErrWrongKEK) {
				t.Fatalf("issue with the wrong KEK: %v", err)
			}
			err = wrong.Start(t.Context())
			if !errors.Is(err, keys.ErrWrongKEK) || !strings.Contains(err.Error(), "platform CA") {
				t.Fatalf("Start with the wrong KEK: %v, want ErrWrongKEK naming the platform CA", err)
			}
			t.Logf("Start with the wrong KEK: %v", err)
		})
	}
}

func TestServerCertificate(t *testing.T) {
	stores, dump := openSQLite(t, 1)
	clock := newClock()
	m := newManager(t, stores[0], newKEK(t), testOptions(clock)...)
	start(t, m)
	pool, err := m.CAPool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"localhost", "127.0.0.1", "::1", "[2001:db8::1]", "Gatehouse.Example.com.", "*.svc.example", "localhost"}
	cert, err := m.ServerCertificate(t.Context(), hosts)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if len(cert.Certificate) != 1 || leaf == nil || !bytes.Equal(leaf.Raw, cert.Certificate[0]) {
		t.Fatal("want one leaf, with Leaf set")
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || leaf.IsCA {
		t.Errorf("EKU %v CA %v, want serverAuth only, not a CA", leaf.ExtKeyUsage, leaf.IsCA)
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "gatehouse.example.com", "*.svc.example"}) || len(leaf.IPAddresses) != 3 {
		t.Errorf("DNS %v IP %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if want := clock.Now().Add(90 * day).Truncate(time.Second); !leaf.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", leaf.NotAfter, want)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "2001:db8::1", "gatehouse.example.com", "api.svc.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: clock.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("does not verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example", CurrentTime: clock.Now()}); err == nil {
		t.Error("verifies for a host it was not issued for")
	}
	if signer, ok := cert.PrivateKey.(crypto.Signer); !ok || !signer.Public().(*ecdsa.PublicKey).Equal(leaf.PublicKey) {
		t.Error("the private key does not match the leaf")
	}
	// Not recorded: the database does not hold it.
	if bytes.Contains(dump(), leaf.Raw) {
		t.Error("the server certificate was stored")
	}
	if again, err := m.ServerCertificate(t.Context(), hosts); err != nil || again.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Errorf("a second call: %v, want a new certificate", err)
	}

	for _, bad := range [][]string{nil, {}, {""}, {"localhost:8443"}, {"a b"}, {"-bad.example"}, {"x..y"}, {"https://x"}} {
		if _, err := m.ServerCertificate(t.Context(), bad); !errors.Is(err, keys.ErrInvalidHost) {
			t.Errorf("hosts %q: err %v, want ErrInvalidHost", bad, err)
		}
	}
}

// TestMutualTLS: a TLS server with ServerCertificate that trusts CAPool,
// and a partner with an issued certificate that trusts the CA, complete a
// handshake; the server sees the client's SAN URI.
func TestMutualTLS(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	m := newManager(t, stores[0], newKEK(t)) // the real clock: TLS checks validity against it
	start(t, m)
	pool, err := m.CAPool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := m.ServerCertificate(t.Context(), []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	key := testKey(t, "p256")
	ic, err := m.IssueClientCertificate(t.Context(), "c_mtls", csrPEM(t, key, nil), 0)
	if err != nil {
		t.Fatal(err)
	}

	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	seen := make(chan string, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			seen <- "accept: " + err.Error()
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			seen <- "handshake: " + err.Error()
			return
		}
		peer := tc.ConnectionState().PeerCertificates
		seen <- peer[0].URIs[0].String()
		_, _ = io.WriteString(conn, "ok")
	}()

	conn, err := tls.Dial("tcp", lis.Addr().String(), &tls.Config{
		RootCAs:      pool,
		ServerName:   "localhost",
		Certificates: []tls.Certificate{{Certificate: [][]byte{ic.DER}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "urn:gatehouse:client:c_mtls" {
		t.Fatalf("server saw %q", got)
	}
}

func TestNoCAWithoutCAStore(t *testing.T) {
	m := newManager(t, &memStore{}, newKEK(t), testOptions(newClock())...)
	start(t, m) // a store without CA support still starts
	ctx := t.Context()
	if _, err := m.CA(ctx); !errors.Is(err, keys.ErrNoCA) {
		t.Errorf("CA: %v", err)
	}
	if _, err := m.CAPool(ctx); !errors.Is(err, keys.ErrNoCA) {
		t.Errorf("CAPool: %v", err)
	}
	if _, err := m.IssueClientCertificate(ctx, "c_x", nil, 0); !errors.Is(err, keys.ErrNoCA) {
		t.Errorf("IssueClientCertificate: %v", err)
	}
	if _, err := m.ListClientCertificates(ctx, "c_x"); !errors.Is(err, keys.ErrNoCA) {
		t.Errorf("ListClientCertificates: %v", err)
	}
	if _, err := m.ServerCertificate(ctx, []string{"localhost"}); !errors.Is(err, keys.ErrNoCA) {
		t.Errorf("ServerCertificate: %v", err)
	}
}

// TestServiceCertificate: a split service's identity serves both ends of
// its mTLS connections, names the service for validators, and is never
// valid for more than 90 days.
func TestServiceCertificate(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	clock := newClock()
	m := newManager(t, stores[0], newKEK(t), testOptions(clock)...)
	start(t, m)
	pool, err := m.CAPool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		validity time.Duration
		want     time.Duration
	}{
		{"default", 0, keys.MaxServiceCertValidity},
		{"shorter", 7 * day, 7 * day},
		{"capped", 365 * day, keys.MaxServiceCertValidity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := m.ServiceCertificate(t.Context(), "token", []string{"token.gatehouse.svc", "127.0.0.1"}, tc.validity)
			if err != nil {
				t.Fatal(err)
			}
			leaf := cert.Leaf
			if got, ok := authn.CertServiceName(leaf); !ok || got != "token" {
				t.Fatalf("names service %q %v", got, ok)
			}
			if _, ok := authn.CertClientID(leaf); ok {
				t.Fatal("a service certificate names a client")
			}
			if leaf.Subject.CommonName != "token" || !slices.Equal(leaf.Subject.Organization, []string{keys.ServiceOrganization}) {
				t.Errorf("subject %v", leaf.Subject)
			}
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "token.gatehouse.svc", CurrentTime: clock.Now(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("usage %v: %v", usage, err)
				}
			}
			if want := clock.Now().Add(tc.want).Truncate(time.Second); !leaf.NotAfter.Equal(want) {
				t.Errorf("NotAfter %v, want %v", leaf.NotAfter, want)
			}
		})
	}
	for _, bad := range []struct {
		service string
		hosts   []string
	}{{"", []string{"x"}}, {"to ken", []string{"x"}}, {"token", nil}, {"token", []string{"bad host!"}}} {
		if _, err := m.ServiceCertificate(t.Context(), bad.service, bad.hosts, 0); err == nil {
			t.Errorf("service %q hosts %q: issued", bad.service, bad.hosts)
		}
	}
}

// TestValidatorCertificate: a resource service's validator identity names
// a validator, never a service or a client, and its name is a DNS label.
func TestValidatorCertificate(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	clock := newClock()
	m := newManager(t, stores[0], newKEK(t), testOptions(clock)...)
	start(t, m)
	pool, err := m.CAPool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := m.ValidatorCertificate(t.Context(), "orders", []string{"orders.example.internal"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if got, ok := authn.CertValidatorName(leaf); !ok || got != "orders" {
		t.Fatalf("names validator %q %v", got, ok)
	}
	if got, ok := authn.CertServiceName(leaf); ok {
		t.Fatalf("a validator certificate names service %q", got)
	}
	if got, ok := authn.CertClientID(leaf); ok {
		t.Fatalf("a validator certificate names client %q", got)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "orders.example.internal", CurrentTime: clock.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(keys.MaxServiceCertValidity).Truncate(time.Second); !leaf.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", leaf.NotAfter, want)
	}
	for _, bad := range []string{"", "Orders", "orders.api", "orders~", "-orders"} {
		if _, err := m.ValidatorCertificate(t.Context(), bad, []string{"x"}, 0); err == nil {
			t.Errorf("validator %q: issued", bad)
		}
	}
}

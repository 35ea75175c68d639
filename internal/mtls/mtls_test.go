package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

func issue(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func TestVerify(t *testing.T) {
	now := time.Now()
	ca, caKey := issue(t, nil, nil, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	rogue, rogueKey := issue(t, nil, nil, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Rogue"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	client := func(serial int64, nb, na time.Time, eku x509.ExtKeyUsage) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "c"}, NotBefore: nb, NotAfter: na,
			ExtKeyUsage: []x509.ExtKeyUsage{eku}, KeyUsage: x509.KeyUsageDigitalSignature}
	}
	good, _ := issue(t, ca, caKey, client(10, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageClientAuth))
	revoked, _ := issue(t, ca, caKey, client(0xabc, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageClientAuth))
	expired, _ := issue(t, ca, caKey, client(11, now.Add(-2*time.Hour), now.Add(-time.Hour), x509.ExtKeyUsageClientAuth))
	serverOnly, _ := issue(t, ca, caKey, client(12, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageServerAuth))
	fromRogue, _ := issue(t, rogue, rogueKey, client(13, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageClientAuth))
	self, _ := issue(t, nil, nil, client(14, now.Add(-time.Minute), now.Add(time.Hour), x509.ExtKeyUsageClientAuth))

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	trust := NewTrust(pool, func(serial string) bool { return serial == "abc" })
	for _, tc := range []struct {
		name       string
		cert       *x509.Certificate
		caVerified bool
		err        bool
	}{
		{"chains to the CA", good, true, false},
		{"self-signed", self, false, false},
		{"revoked", revoked, false, true},
		{"expired", expired, false, true},
		{"server-only EKU", serverOnly, false, true},
		{"rogue CA", fromRogue, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := trust.Verify([]*x509.Certificate{tc.cert})
			if ok != tc.caVerified || (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrUntrusted)) {
				t.Fatalf("Verify = %v, %v", ok, err)
			}
		})
	}
	if authn.CertSerial(revoked) != "abc" || len(authn.CertThumbprint(good)) != 43 {
		t.Fatal("serial or thumbprint format")
	}
}

// TestServerConfigRefusesOldTLSAndCBC is checklist item 77.
func TestServerConfigRefusesOldTLSAndCBC(t *testing.T) {
	now := time.Now()
	srvCert, srvKey := issue(t, nil, nil, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	cfg := ServerConfig(tls.Certificate{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}, NewTrust(nil, nil))
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(srvCert)
	dial := func(c *tls.Config) (*tls.Conn, error) {
		c.RootCAs = roots
		return tls.Dial("tcp", lis.Addr().String(), c)
	}
	for name, c := range map[string]*tls.Config{
		"TLS 1.1": {MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11},
		"CBC":     {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
	} {
		if conn, err := dial(c); err == nil {
			conn.Close()
			t.Errorf("%s accepted", name)
		}
	}
	conn, err := dial(&tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if conn.ConnectionState().Version != tls.VersionTLS13 {
		t.Errorf("negotiated %x, want TLS 1.3", conn.ConnectionState().Version)
	}
	conn.Close()
	conn, err = dial(&tls.Config{MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 with AEAD: %v", err)
	}
	conn.Close()
}

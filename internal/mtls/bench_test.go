package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// BenchmarkHandshake measures mutual-TLS handshakes on loopback with the
// listener's configuration (ECDSA P-256 certificates, TLS 1.3, the
// client certificate checked against the CA): full handshakes, and
// resumed ones (a session ticket; the client certificate is not sent
// again).
//
//	go test -run '^$' -bench Handshake ./internal/mtls/
func BenchmarkHandshake(b *testing.B) {
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	ca, caKey := issue(b, nil, nil, caTmpl)
	srv, srvKey := issue(b, ca, caKey, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	cli, cliKey := issue(b, ca, caKey, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "partner"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	lis, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(tls.Certificate{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey}, NewTrust(pool, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				buf := make([]byte, 1)
				_, _ = c.Read(buf)
				c.Close()
			}()
		}
	}()
	for _, resumed := range []bool{false, true} {
		name := "full"
		if resumed {
			name = "resumed"
		}
		b.Run(name, func(b *testing.B) {
			cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cli.Raw}, PrivateKey: cliKey}}, RootCAs: pool, MinVersion: tls.VersionTLS12}
			if resumed {
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			dial := func() {
				c, err := tls.Dial("tcp", lis.Addr().String(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				// TLS 1.3 tickets arrive after the handshake: one write and
				// read make the client take them.
				_, _ = c.Write([]byte{0})
				_, _ = c.Read(make([]byte, 1))
				c.Close()
			}
			dial()
			b.ResetTimer()
			for b.Loop() {
				dial()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

package app

import (
	"crypto/x509"
	"net"
	"testing"
)

// TestLocalServerCert: the certificate of a process without the platform
// CA is for the names serverHosts gives, and for server authentication.
func TestLocalServerCert(t *testing.T) {
	addr := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8443}
	c, err := localServerCert(serverHosts(addr))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "192.0.2.10"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("not valid for %s: %v", h, err)
		}
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("EKU %v", leaf.ExtKeyUsage)
	}
}

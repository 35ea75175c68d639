package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// Keys are slow to make (RSA above all): each kind is made once.
var (
	keyOnce  sync.Map // name → func() crypto.Signer
	keyMaker = map[string]func() (crypto.Signer, error){
		"p256":     func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"p256-b":   func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"p384":     func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
		"p521":     func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) },
		"p224":     func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P224(), rand.Reader) },
		"rsa2048":  func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		"rsa1024":  func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 1024) },
		"ed25519":  func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err },
		"p256-cli": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
	}
)

func testKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	f, _ := keyOnce.LoadOrStore(name, sync.OnceValues(keyMaker[name]))
	k, err := f.(func() (crypto.Signer, error))()
	if err != nil {
		t.Fatalf("generate %s key: %v", name, err)
	}
	return k
}

// csrDER makes a CSR signed by key; tmpl may be nil.
func csrDER(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "partner"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("create CSR: %v", err)
	}
	return der
}

func csrPEM(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER(t, key, tmpl)})
}

func TestParseCSR(t *testing.T) {
	p256 := testKey(t, "p256")
	badSig := csrDER(t, p256, nil)
	badSig[len(badSig)-1] ^= 0xff // inside the signature's s
	pkcs8, err := x509.MarshalPKCS8PrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	example, _ := url.Parse("spiffe://example.org/partner")

	tests := []struct {
		name string
		in   func(t *testing.T) []byte
		want string // "" accepts; else a part of the reason
	}{
		{"good P-256, PEM", func(t *testing.T) []byte { return csrPEM(t, p256, nil) }, ""},
		{"good P-256, DER", func(t *testing.T) []byte { return csrDER(t, p256, nil) }, ""},
		{"good P-256, legacy PEM type and blank lines", func(t *testing.T) []byte {
			return []byte("\n\n" + string(pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: csrDER(t, p256, nil)})) + "\n")
		}, ""},
		{"good P-384", func(t *testing.T) []byte { return csrPEM(t, testKey(t, "p384"), nil) }, ""},
		{"good RSA-2048", func(t *testing.T) []byte { return csrPEM(t, testKey(t, "rsa2048"), nil) }, ""},
		{"good Ed25519", func(t *testing.T) []byte { return csrPEM(t, testKey(t, "ed25519"), nil) }, ""},
		{"any subject is fine (the CA replaces it)", func(t *testing.T) []byte {
			return csrPEM(t, p256, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Gatehouse platform CA", Organization: []string{"Evil"}}})
		}, ""},

		{"RSA-1024", func(t *testing.T) []byte { return csrPEM(t, testKey(t, "rsa1024"), nil) }, "RSA key of 1024 bits is too weak"},
		{"P-224", func(t *testing.T) []byte { return csrPEM(t, testKey(t, "p224"), nil) }, "curve P-224 is not allowed"},
		{"P-521", func(t *testing.T) []byte { return csrPEM(t, testKey(t, "p521"), nil) }, "curve P-521 is not allowed"},
		{"bad signature", func(*testing.T) []byte { return badSig }, "signature does not verify"},
		{"DNS SAN", func(t *testing.T) []byte {
			return csrPEM(t, p256, &x509.CertificateRequest{DNSNames: []string{"partner.example"}})
		}, "subject alternative names (DNS names)"},
		{"email SAN", func(t *testing.T) []byte {
			return csrPEM(t, p256, &x509.CertificateRequest{EmailAddresses: []string{"ops@partner.example"}})
		}, "subject alternative names (email addresses)"},
		{"URI SAN", func(t *testing.T) []byte {
			return csrPEM(t, p256, &x509.CertificateRequest{URIs: []*url.URL{example}})
		}, "subject alternative names (URIs)"},
		{"IP SAN", func(t *testing.T) []byte {
			return csrPEM(t, p256, &x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(192, 0, 2, 1)}})
		}, "subject alternative names (IP addresses)"},
		{"a SAN impersonating another client", func(t *testing.T) []byte {
			other, _ := url.Parse(keys.ClientCertificateURI("c_other"))
			return csrPEM(t, p256, &x509.CertificateRequest{URIs: []*url.URL{other}})
		}, "subject alternative names (URIs)"},
		{"extra extension", func(t *testing.T) []byte {
			return csrPEM(t, p256, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}}}})
		}, "extensions (1.2.3.4)"},
		{"basic constraints CA:true asked for", func(t *testing.T) []byte {
			bc, _ := asn1.Marshal(struct{ IsCA bool }{true})
			return csrPEM(t, p256, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}}})
		}, "extensions (2.5.29.19)"},
		{"a certificate, not a request", func(*testing.T) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}})
		}, `PEM block "CERTIFICATE" is not a CERTIFICATE REQUEST`},
		{"a private key", func(*testing.T) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
		}, "this is a private key"},
		{"broken PEM", func(*testing.T) []byte { return []byte("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n") }, "not valid PEM"},
		{"garbage", func(*testing.T) []byte { return []byte("hello, CA") }, "not a valid PKCS #10"},
		{"empty", func(*testing.T) []byte { return nil }, "empty"},
		{"too large", func(*testing.T) []byte { return make([]byte, keys.MaxCSRBytes+1) }, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in(t)
			csr, err := keys.ParseCSR(in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if csr.PublicKey == nil {
					t.Fatal("no public key")
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *keys.CSRError
			if !errors.As(err, &ce) || !errors.Is(err, keys.ErrInvalidCSR) {
				t.Fatalf("err %T %v, want a *keys.CSRError matching ErrInvalidCSR", err, err)
			}
			if !strings.Contains(ce.Reason, tt.want) {
				t.Errorf("reason %q, want it to contain %q", ce.Reason, tt.want)
			}
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), string(pkcs8[:8])) {
				t.Errorf("the error quotes the input: %v", err)
			}
		})
	}
}

func TestParseCSRRefusesSHA1Signatures(t *testing.T) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{SignatureAlgorithm: x509.ECDSAWithSHA1}, testKey(t, "p256"))
	if err != nil {
		t.Skipf("this Go cannot make SHA-1 CSRs: %v", err)
	}
	_, err = keys.ParseCSR(der)
	if !errors.Is(err, keys.ErrInvalidCSR) || !strings.Contains(err.Error(), "too weak") {
		t.Fatalf("err = %v, want a refusal of the SHA-1 signature", err)
	}
}

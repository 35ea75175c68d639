package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/fuzzseed"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// csrSeed is a named seed of FuzzParseCSR and whether ParseCSR accepts it.
type csrSeed struct {
	name   string
	accept bool
	make   func(t testing.TB) []byte
}

// csrSeeds generates the seed corpus of FuzzParseCSR (keys are random, so
// it runs only with -update-fuzz-corpus; the committed files are the
// seeds): good requests PEM and DER for every allowed key, the weak keys
// (RSA-1024, P-224, P-521), SHA-1, SANs, extensions, a bad signature, a
// private key, a certificate, and framing damage.
func csrSeeds() []csrSeed {
	der := func(name string, tmpl *x509.CertificateRequest) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return csrDER(t, testKey(t, name), tmpl) }
	}
	pemOf := func(name string, tmpl *x509.CertificateRequest) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return csrPEM(t, testKey(t, name), tmpl) }
	}
	return []csrSeed{
		{"seed-p256-der", true, der("p256", nil)},
		{"seed-p256-pem", true, pemOf("p256", nil)},
		{"seed-p384-der", true, der("p384", nil)},
		{"seed-rsa2048-pem", true, pemOf("rsa2048", nil)},
		{"seed-rsa2048-der", true, der("rsa2048", nil)},
		{"seed-ed25519-der", true, der("ed25519", nil)},
		{"seed-new-type-pem", true, func(t testing.TB) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: csrDER(t, testKey(t, "p256"), nil)})
		}},
		{"seed-weak-rsa1024", false, pemOf("rsa1024", nil)},
		{"seed-weak-p224", false, der("p224", nil)},
		{"seed-weak-p521", false, der("p521", nil)},
		{"seed-weak-sha1", false, der("rsa2048", &x509.CertificateRequest{SignatureAlgorithm: x509.SHA1WithRSA})},
		{"seed-san-dns", false, der("p256", &x509.CertificateRequest{DNSNames: []string{"partner.example"}})},
		{"seed-extension", false, der("p256", &x509.CertificateRequest{
			ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}},
		})},
		{"seed-bad-signature", false, func(t testing.TB) []byte {
			b := csrDER(t, testKey(t, "p256"), nil)
			b[len(b)-1] ^= 0x01
			return b
		}},
		{"seed-der-trailing-byte", false, func(t testing.TB) []byte { return append(csrDER(t, testKey(t, "p256"), nil), 0) }},
		{"seed-der-truncated", false, func(t testing.TB) []byte { b := csrDER(t, testKey(t, "p256"), nil); return b[:len(b)/2] }},
		// A private key sent by mistake: only the block type matters, so
		// no real key is committed.
		{"seed-private-key-pem", false, func(testing.TB) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a key")})
		}},
		{"seed-certificate-pem", false, func(t testing.TB) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: csrDER(t, testKey(t, "p256"), nil)})
		}},
		{"seed-pem-no-end", false, func(t testing.TB) []byte {
			p := csrPEM(t, testKey(t, "p256"), nil)
			return p[:bytes.LastIndex(p, []byte("-----END"))]
		}},
		{"seed-begin-only", false, func(testing.TB) []byte { return []byte("-----BEGIN ") }},
		{"seed-empty", false, func(testing.TB) []byte { return nil }},
	}
}

// strongCSRKey is the documented key rule, written again: RSA of at least
// 2048 bits, ECDSA on P-256 or P-384, or Ed25519.
func strongCSRKey(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return k.Curve == elliptic.P256() || k.Curve == elliptic.P384()
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize
	}
	return false
}

// checkParseCSR is the property of every input: ParseCSR never panics; a
// refusal is a *CSRError matching ErrInvalidCSR, with no request; an
// accepted request has a strong key, a signature that verifies with it
// and is not MD5, SHA-1 or DSA based, and asks for no SAN nor extension.
func checkParseCSR(t *testing.T, in []byte) *x509.CertificateRequest {
	t.Helper()
	csr, err := keys.ParseCSR(in)
	if err != nil {
		var ce *keys.CSRError
		if csr != nil || !errors.Is(err, keys.ErrInvalidCSR) || !errors.As(err, &ce) {
			t.Fatalf("refusal %v (%T) with request %v: want a *CSRError and no request", err, err, csr != nil)
		}
		return nil
	}
	switch {
	case csr == nil:
		t.Fatal("no error and no request")
	case !strongCSRKey(csr.PublicKey):
		t.Fatalf("accepted a %T key that fails the strength rule", csr.PublicKey)
	case csr.CheckSignature() != nil:
		t.Fatalf("accepted a request whose signature does not verify: %v", csr.CheckSignature())
	}
	switch csr.SignatureAlgorithm {
	case x509.UnknownSignatureAlgorithm, x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.DSAWithSHA256:
		t.Fatalf("accepted signature algorithm %v", csr.SignatureAlgorithm)
	}
	if len(csr.Extensions) > 0 || len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		t.Fatal("accepted a request that asks for SANs or extensions")
	}
	return csr
}

// loadCSRSeeds returns the committed seeds, rewriting them first with
// -update-fuzz-corpus, and checks that each is accepted or refused as its
// definition says.
func loadCSRSeeds(f *testing.F) map[string][]byte {
	f.Helper()
	seeds := csrSeeds()
	if fuzzseed.Updating() {
		var out []fuzzseed.Seed
		for _, s := range seeds {
			out = append(out, fuzzseed.Seed{Name: s.name, Args: []any{s.make(f)}})
		}
		fuzzseed.Sync(f, "FuzzParseCSR", out)
	}
	got := map[string][]byte{}
	for _, s := range seeds {
		in := fuzzseed.Load(f, "FuzzParseCSR", s.name)[0].([]byte)
		if _, err := keys.ParseCSR(in); (err == nil) != s.accept {
			f.Fatalf("seed %s: ParseCSR error %v, want accepted %v", s.name, err, s.accept)
		}
		got[s.name] = in
	}
	return got
}

// FuzzParseCSR fuzzes ParseCSR with PEM and DER requests (see
// checkParseCSR for the property).
func FuzzParseCSR(f *testing.F) {
	loadCSRSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		checkParseCSR(t, in)
	})
}

// FuzzParseCSRMutation changes one byte of one of the accepted seeds
// (which: the seed; pos: where; b: the new byte). The result is refused,
// or passes checkParseCSR; and, stronger, it then carries the very same
// signed request info (subject, key, attributes) and the same signature:
// a one-byte change that is accepted can only be one that PEM decoding
// undoes (line breaks, headers) or one in the unsigned envelope that
// crypto/x509 ignores. There is one such place: the parameters of the
// outer signatureAlgorithm of an RSA PKCS #1 v1.5 request are not checked
// to be NULL, so "05 00" changed to, say, "65 00" is still accepted (see
// seed-der-rsa-sigalg-params): harmless, the hash is chosen by the OID and
// the signed bytes are unchanged, but the DER of an accepted request is not
// unique.
func FuzzParseCSRMutation(f *testing.F) {
	all := loadCSRSeeds(f)
	var valid []string
	for _, s := range csrSeeds() {
		if s.accept {
			valid = append(valid, s.name)
		}
	}
	originals := make([]*x509.CertificateRequest, len(valid))
	for i, name := range valid {
		csr, err := keys.ParseCSR(all[name])
		if err != nil {
			f.Fatal(err)
		}
		originals[i] = csr
	}
	fuzzseed.Sync(f, "FuzzParseCSRMutation", csrMutationSeeds(f, valid, all))
	f.Fuzz(func(t *testing.T, which byte, pos uint16, b byte) {
		i := int(which) % len(valid)
		in := bytes.Clone(all[valid[i]])
		p := int(pos) % len(in)
		if in[p] == b {
			return
		}
		in[p] = b
		orig := originals[i]
		if csr := checkParseCSR(t, in); csr != nil &&
			(!bytes.Equal(csr.RawTBSCertificateRequest, orig.RawTBSCertificateRequest) || !bytes.Equal(csr.Signature, orig.Signature) ||
				csr.SignatureAlgorithm != orig.SignatureAlgorithm) {
			t.Fatalf("seed %s with byte %d set to %#x is accepted as another request", valid[i], p, b)
		}
	})
}

// csrMutationSeeds names the interesting single-byte changes of the
// accepted seeds, found in the committed requests: DER framing, the
// version, the outer signature algorithm and the signature's BIT STRING
// (outside what the signature covers), key and signature bytes, and the
// PEM framing.
func csrMutationSeeds(f *testing.F, valid []string, all map[string][]byte) []fuzzseed.Seed {
	f.Helper()
	index := func(name string) byte {
		for i, v := range valid {
			if v == name {
				return byte(i)
			}
		}
		f.Fatalf("no valid seed %s", name)
		return 0
	}
	find := func(name string, sub []byte, last bool) int {
		i := bytes.Index(all[name], sub)
		if last {
			i = bytes.LastIndex(all[name], sub)
		}
		if i < 0 {
			f.Fatalf("seed %s: %x not found", name, sub)
		}
		return i
	}
	seed := func(label, name string, pos int, b byte) fuzzseed.Seed {
		return fuzzseed.Seed{Name: label, Args: []any{index(name), uint16(pos), b}}
	}
	ecdsaSHA256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	sha256RSA := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}
	sigAlg := find("seed-p256-der", ecdsaSHA256, true) // the outer one, after the signed info
	p256 := all["seed-p256-der"]
	ed := all["seed-ed25519-der"]
	return []fuzzseed.Seed{
		seed("seed-der-outer-length", "seed-p256-der", 1, p256[1]^0x03),
		seed("seed-der-version", "seed-p256-der", find("seed-p256-der", []byte{0x02, 0x01, 0x00}, false)+2, 0x01),
		seed("seed-der-sigalg-sha384", "seed-p256-der", sigAlg+len(ecdsaSHA256)-1, 0x03),
		seed("seed-der-bitstring-padding", "seed-p256-der", sigAlg+len(ecdsaSHA256)+2, 0x01),
		seed("seed-der-signature-last", "seed-p256-der", len(p256)-1, p256[len(p256)-1]^0x01),
		seed("seed-der-rsa-sigalg-params", "seed-rsa2048-der", find("seed-rsa2048-der", sha256RSA, true)+len(sha256RSA), 0x65),
		seed("seed-der-rsa-sigalg-oid", "seed-rsa2048-der", find("seed-rsa2048-der", sha256RSA, true)+len(sha256RSA)-1, 0x0c),
		seed("seed-der-p384-key", "seed-p384-der", find("seed-p384-der", []byte{0x03, 0x62, 0x00, 0x04}, false)+10, 0x00),
		seed("seed-der-ed25519-signature", "seed-ed25519-der", len(ed)-1, ed[len(ed)-1]^0x80),
		seed("seed-der-subject", "seed-ed25519-der", find("seed-ed25519-der", []byte("partner"), false), 'P'),
		seed("seed-pem-newline-to-space", "seed-p256-pem", find("seed-p256-pem", []byte("\n"), false), ' '),
		seed("seed-pem-label", "seed-p256-pem", find("seed-p256-pem", []byte("REQUEST"), false), 'X'),
		seed("seed-pem-base64", "seed-rsa2048-pem", 100, '*'),
		seed("seed-pem-end-line", "seed-rsa2048-pem", find("seed-rsa2048-pem", []byte("-----END"), false)+2, 'X'),
		seed("seed-pem-final-newline", "seed-new-type-pem", len(all["seed-new-type-pem"])-1, 'x'),
	}
}

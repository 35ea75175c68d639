package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MaxCSRBytes is the largest CSR accepted, PEM or DER. A CSR with an
// 8192-bit RSA key is under 3 KiB of PEM.
const MaxCSRBytes = 64 << 10

// ErrInvalidCSR is what every refused certificate request matches with
// errors.Is; the error itself is a *CSRError naming the problem.
var ErrInvalidCSR = errors.New("invalid certificate request")

// CSRError is a certificate request the CA refuses. Reason names the
// problem for the caller; it never quotes the request's bytes.
type CSRError struct {
	Reason string
}

func (e *CSRError) Error() string { return ErrInvalidCSR.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalidCSR) true.
func (e *CSRError) Is(target error) bool { return target == ErrInvalidCSR }

func csrErr(format string, args ...any) error {
	return &CSRError{Reason: fmt.Sprintf(format, args...)}
}

// ParseCSR parses a PKCS #10 certificate request, PEM ("CERTIFICATE
// REQUEST" or "NEW CERTIFICATE REQUEST") or DER, and checks that the CA
// may sign it:
//
//   - its signature verifies with its own key (proof of possession), and
//     is not MD5 or SHA-1 based;
//   - the key is RSA of at least 2048 bits, ECDSA on P-256 or P-384, or
//     Ed25519;
//   - it asks for no extension at all: no subject alternative name (DNS,
//     IP, email, URI), no key usage, nothing. The CA sets the subject and
//     the alternative name itself, so anything requested would be ignored
//     at best; a request that tries is refused rather than silently
//     changed.
//
// The request's subject is ignored. Every refusal is a *CSRError.
func ParseCSR(in []byte) (*x509.CertificateRequest, error) {
	if len(in) == 0 {
		return nil, csrErr("empty")
	}
	if len(in) > MaxCSRBytes {
		return nil, csrErr("larger than %d bytes", MaxCSRBytes)
	}
	der := in
	if trimmed := bytes.TrimSpace(in); bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		block, _ := pem.Decode(trimmed)
		if block == nil {
			return nil, csrErr("not valid PEM")
		}
		switch block.Type {
		case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				// Say what it is, never what it holds.
				return nil, csrErr("this is a private key, not a certificate request: keep it secret and send only the CSR")
			}
			return nil, csrErr("PEM block %q is not a CERTIFICATE REQUEST", block.Type)
		}
		der = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		// Not the parser's message: it may quote the input.
		return nil, csrErr("not a valid PKCS #10 certificate request")
	}
	if err := checkCSR(csr); err != nil {
		return nil, err
	}
	return csr, nil
}

func checkCSR(csr *x509.CertificateRequest) error {
	switch csr.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.DSAWithSHA256:
		return csrErr("signature algorithm %s is too weak", csr.SignatureAlgorithm)
	}
	// The key first: a key too small for the verifier would otherwise be
	// reported as a bad signature.
	if err := checkCSRKey(csr.PublicKey); err != nil {
		return err
	}
	if err := csr.CheckSignature(); err != nil {
		return csrErr("the signature does not verify with the request's public key")
	}
	var asked []string
	if len(csr.DNSNames) > 0 {
		asked = append(asked, "DNS names")
	}
	if len(csr.IPAddresses) > 0 {
		asked = append(asked, "IP addresses")
	}
	if len(csr.EmailAddresses) > 0 {
		asked = append(asked, "email addresses")
	}
	if len(csr.URIs) > 0 {
		asked = append(asked, "URIs")
	}
	if len(asked) > 0 {
		return csrErr("it asks for subject alternative names (%s): remove them, the CA sets the alternative name itself", strings.Join(asked, ", "))
	}
	if len(csr.Extensions) > 0 {
		oids := make([]string, len(csr.Extensions))
		for i, e := range csr.Extensions {
			oids[i] = e.Id.String()
		}
		return csrErr("it asks for extensions (%s): remove them, the CA sets every extension itself", strings.Join(oids, ", "))
	}
	return nil
}

// checkCSRKey refuses weak or unsupported public keys.
func checkCSRKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 {
			return csrErr("RSA key of %d bits is too weak: use at least 2048 bits, or ECDSA P-256", bits)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return csrErr("ECDSA curve %s is not allowed: use P-256 or P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return csrErr("key type %T is not allowed: use ECDSA P-256 or P-384, RSA (2048 bits or more) or Ed25519", pub)
	}
	return nil
}

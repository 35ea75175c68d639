package keys

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// CAStore is what the platform CA needs from storage, besides a Store. The
// sqlstore implements it; a Manager over a Store that
// does not has no platform CA (ErrNoCA).
type CAStore interface {
	// GetCA returns the platform CA; ErrNotFound when there is none yet.
	GetCA(ctx context.Context) (StoredCA, error)

	// CreateCA stores ca unless the store already holds a CA, in which
	// case it writes nothing. It returns the CA the store holds
	// afterwards: ca, or the one that was there first. There is one CA
	// per database (a unique key), so any number of calls, from this
	// process or another on the same database, store one CA and all
	// return it.
	CreateCA(ctx context.Context, ca StoredCA) (StoredCA, error)

	// InsertCertificate records a certificate the CA issued. A serial
	// that is taken is ErrAlreadyExists.
	InsertCertificate(ctx context.Context, c IssuedCert) error

	// ListCertificates returns the certificates issued to clientID,
	// newest first (NotBefore descending, then Serial ascending), as an
	// empty slice when there are none. Times are UTC, to the
	// microsecond.
	ListCertificates(ctx context.Context, clientID string) ([]IssuedCert, error)
}

// StoredCA is the platform CA as the store keeps it.
type StoredCA struct {
	// Serial is the CA certificate's serial number, lower-case hex.
	Serial string
	// Certificate is the self-signed CA certificate, DER.
	Certificate []byte
	// PrivateKey is the CA's PKCS #8 private key sealed with the KEK,
	// with "gatehouse platform CA <serial>" as additional data. Never
	// plaintext.
	PrivateKey []byte
	// CreatedAt is when the CA was created.
	CreatedAt time.Time
}

// IssuedCert is a client certificate the platform CA issued.
type IssuedCert struct {
	// Serial is the serial number in lower-case hex without leading
	// zeros, as the revocation list names certificates (KIND_CERTIFICATE).
	Serial   string
	ClientID string
	// Thumbprint is the x5t#S256 of the certificate (RFC 8705 §3.1):
	// base64url without padding of the SHA-256 of its DER encoding.
	Thumbprint string
	NotBefore  time.Time
	NotAfter   time.Time
	// DER is the certificate.
	DER []byte
}

// PEM returns the certificate PEM-encoded.
func (c IssuedCert) PEM() []byte { return certPEM(c.DER) }

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// issuedFrom describes a certificate the CA has just signed.
func issuedFrom(clientID string, cert *x509.Certificate) IssuedCert {
	return IssuedCert{
		Serial:     authn.CertSerial(cert),
		ClientID:   clientID,
		Thumbprint: authn.CertThumbprint(cert),
		NotBefore:  cert.NotBefore.UTC(),
		NotAfter:   cert.NotAfter.UTC(),
		DER:        cert.Raw,
	}
}

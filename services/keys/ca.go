package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// The platform CA and what it issues.
const (
	// CACommonName is the subject CN of the platform CA.
	CACommonName = "Gatehouse platform CA"
	// CAValidityYears is how long the platform CA certificate is valid.
	CAValidityYears = 10
	// PartnerOrganization is the subject O of every client certificate.
	PartnerOrganization = "Gatehouse partner"
	// ClientURIPrefix starts the one subject alternative name of a client
	// certificate: the URI ClientURIPrefix + client_id.
	ClientURIPrefix = "urn:gatehouse:client:"
	// MaxClientCertValidity is the longest, and the default, validity of a
	// client certificate.
	MaxClientCertValidity = 90 * 24 * time.Hour
	// ServerCertValidity is the validity of ServerCertificate's leaf.
	ServerCertValidity = 90 * 24 * time.Hour
	// ServerCommonName is the subject CN of ServerCertificate's leaf.
	ServerCommonName = "Gatehouse server"
	// maxClientIDLen bounds the client_id in a certificate; the subject
	// CN may be at most 64 characters (RFC 5280 ub-common-name).
	maxClientIDLen = 64
	// backdate is how far before its issuance a certificate starts being
	// valid, for peers whose clocks are a little behind.
	backdate = time.Minute
)

// ErrNoCA means the Manager has no platform CA: its Store does not
// implement CAStore.
var ErrNoCA = errors.New("keys: no platform CA: the store does not implement keys.CAStore")

// ErrInvalidClientID means a client_id cannot be put in a certificate:
// it is empty, longer than 64 characters, or has characters other than
// letters, digits and "-._~" (the URI's unreserved characters, so that it
// appears verbatim in the urn:gatehouse:client: URI).
var ErrInvalidClientID = errors.New("invalid client_id")

// ErrInvalidHost means a name given to ServerCertificate is neither an IP
// address nor a DNS name.
var ErrInvalidHost = errors.New("invalid host name")

// ClientCertificateURI returns the subject alternative name URI of a client
// certificate issued to clientID: urn:gatehouse:client:<client_id>.
func ClientCertificateURI(clientID string) string { return ClientURIPrefix + clientID }

func checkClientID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidClientID)
	case len(id) > maxClientIDLen:
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidClientID, maxClientIDLen)
	}
	for _, r := range id {
		if !isUnreserved(r) {
			return fmt.Errorf("%w: only letters, digits and -._~ are allowed", ErrInvalidClientID)
		}
	}
	return nil
}

// isUnreserved reports whether r is an RFC 3986 unreserved character.
func isUnreserved(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || strings.ContainsRune("-._~", r)
}

// wrongKEKError is ErrWrongKEK with its own message.
type wrongKEKError struct{ what string }

func (e *wrongKEKError) Error() string {
	return e.what + " cannot be decrypted with this KEK (wrong --kek-file or GATEHOUSE_KEK?)"
}

func (e *wrongKEKError) Is(target error) bool { return target == ErrWrongKEK }

// authority is the platform CA of a Manager: created in the store on first
// use, loaded and decrypted once, then kept in memory.
type authority struct {
	store CAStore
	kek   *kek.KEK
	now   func() time.Time
	log   *slog.Logger

	mu     sync.Mutex // serialises loading
	loaded atomic.Pointer[loadedCA]
}

// loadedCA is the decrypted CA, immutable once loaded.
type loadedCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// get returns the CA, creating it in the store first if there is none:
// the store keeps the first CA created on the database, so replicas
// starting together all load the same one.
func (a *authority) get(ctx context.Context) (*loadedCA, error) {
	if l := a.loaded.Load(); l != nil {
		return l, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.loaded.Load(); l != nil {
		return l, nil
	}
	rec, err := a.store.GetCA(ctx)
	created := false
	if errors.Is(err, ErrNotFound) {
		fresh, gerr := newCA(a.kek, a.now())
		if gerr != nil {
			return nil, fmt.Errorf("platform CA: %w", gerr)
		}
		rec, err = a.store.CreateCA(ctx, fresh)
		created = err == nil && rec.Serial == fresh.Serial
	}
	if err != nil {
		return nil, fmt.Errorf("platform CA: %w", err)
	}
	l, err := openCA(rec, a.kek)
	if err != nil {
		return nil, err
	}
	a.loaded.Store(l)
	msg := "platform CA loaded"
	if created {
		msg = "platform CA created"
	}
	a.log.InfoContext(ctx, msg, "serial", rec.Serial, "not_after", l.cert.NotAfter)
	return l, nil
}

// caAD is the additional data the CA's private key is sealed with: a
// ciphertext moved to another row, a signing key's included, does not
// open.
func caAD(serial string) []byte { return []byte("gatehouse platform CA " + serial) }

// newCA generates the platform CA: an ECDSA P-256 key and a self-signed
// certificate valid CAValidityYears years, which may sign end-entity
// certificates only (path length 0).
func newCA(k *kek.KEK, now time.Time) (StoredCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return StoredCA{}, fmt.Errorf("generate key: %w", err)
	}
	skid, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return StoredCA{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: CACommonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.AddDate(CAValidityYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return StoredCA{}, fmt.Errorf("self-sign: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return StoredCA{}, fmt.Errorf("encode key: %w", err)
	}
	defer clear(pkcs8)
	serial := authn.CertSerial(tmpl)
	sealed, err := k.Seal(pkcs8, caAD(serial))
	if err != nil {
		return StoredCA{}, fmt.Errorf("seal key: %w", err)
	}
	return StoredCA{Serial: serial, Certificate: der, PrivateKey: sealed, CreatedAt: now}, nil
}

// openCA decrypts the stored CA and checks that its parts belong together.
func openCA(rec StoredCA, k *kek.KEK) (*loadedCA, error) {
	cert, err := x509.ParseCertificate(rec.Certificate)
	if err != nil {
		return nil, fmt.Errorf("platform CA %s: certificate: %w", rec.Serial, err)
	}
	if got := authn.CertSerial(cert); got != rec.Serial {
		return nil, fmt.Errorf("platform CA %s: the certificate has serial %s", rec.Serial, got)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("platform CA %s: the certificate is not a CA certificate", rec.Serial)
	}
	der, err := k.Open(rec.PrivateKey, caAD(rec.Serial))
	if err != nil {
		if errors.Is(err, kek.ErrDecrypt) {
			return nil, &wrongKEKError{what: "the platform CA's private key (serial " + rec.Serial + ")"}
		}
		return nil, fmt.Errorf("platform CA %s: %w", rec.Serial, err)
	}
	defer clear(der)
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// Never wrap the parser's error: it may quote the bytes.
		return nil, fmt.Errorf("platform CA %s: private key is not valid PKCS #8", rec.Serial)
	}
	key, ok := raw.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("platform CA %s: the private key does not match the certificate", rec.Serial)
	}
	return &loadedCA{cert: cert, key: key}, nil
}

// randomSerial is a positive random serial number of up to 128 bits.
func randomSerial() *big.Int {
	b := make([]byte, 16)
	for {
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n
		}
	}
}

// subjectKeyID is the leftmost 160 bits of the SHA-256 of the
// subjectPublicKey bit string (RFC 7093 §2, method 1).
func subjectKeyID(pub any) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	sum := sha256.Sum256(info.PublicKey.Bytes)
	return sum[:20], nil
}

func (m *Manager) authority() (*authority, error) {
	if m.ca == nil {
		return nil, ErrNoCA
	}
	return m.ca, nil
}

func (m *Manager) loadCA(ctx context.Context) (*loadedCA, error) {
	a, err := m.authority()
	if err != nil {
		return nil, err
	}
	return a.get(ctx)
}

// CA returns the platform CA certificate, creating the CA first if the
// store has none. The certificate is shared: do not modify it.
func (m *Manager) CA(ctx context.Context) (*x509.Certificate, error) {
	l, err := m.loadCA(ctx)
	if err != nil {
		return nil, err
	}
	return l.cert, nil
}

// CAPool returns a new pool holding the platform CA certificate: the
// roots for client certificates the CA issued, and for partners, of the
// server certificate.
func (m *Manager) CAPool(ctx context.Context) (*x509.CertPool, error) {
	cert, err := m.CA(ctx)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// IssueClientCertificate signs the certificate request csr (PEM or DER)
// for the client clientID and records the certificate. The CA decides
// everything but the public key: subject CN clientID and O
// PartnerOrganization, the one subject alternative name URI
// ClientCertificateURI(clientID), key usage digitalSignature, extended
// key usage clientAuth only, a random 128-bit serial. It is valid from a
// minute ago for validity, at most (and by default, when validity <= 0)
// MaxClientCertValidity, and never beyond the CA itself.
//
// A request ParseCSR refuses is a *CSRError (errors.Is ErrInvalidCSR); a
// client_id that cannot go in a certificate is ErrInvalidClientID. The
// client's existence is not checked here: the caller, an admin, names it.
func (m *Manager) IssueClientCertificate(ctx context.Context, clientID string, csr []byte, validity time.Duration) (IssuedCert, error) {
	a, err := m.authority()
	if err != nil {
		return IssuedCert{}, err
	}
	if err := checkClientID(clientID); err != nil {
		return IssuedCert{}, err
	}
	req, err := ParseCSR(csr)
	if err != nil {
		return IssuedCert{}, err
	}
	if validity <= 0 || validity > MaxClientCertValidity {
		validity = MaxClientCertValidity
	}
	ca, err := a.get(ctx)
	if err != nil {
		return IssuedCert{}, err
	}
	skid, err := subjectKeyID(req.PublicKey)
	if err != nil {
		return IssuedCert{}, err
	}
	uri, err := url.Parse(ClientCertificateURI(clientID))
	if err != nil {
		return IssuedCert{}, fmt.Errorf("%w: %w", ErrInvalidClientID, err)
	}
	now := m.now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	// A serial collision of 128 random bits will not happen; the
	// store's primary key makes sure, and a retry costs nothing.
	for range 3 {
		tmpl := &x509.Certificate{
			SerialNumber:          randomSerial(),
			Subject:               pkix.Name{CommonName: clientID, Organization: []string{PartnerOrganization}},
			NotBefore:             now.Add(-backdate),
			NotAfter:              notAfter,
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			BasicConstraintsValid: true,
			IsCA:                  false,
			SubjectKeyId:          skid,
			AuthorityKeyId:        ca.cert.SubjectKeyId,
			URIs:                  []*url.URL{uri},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, req.PublicKey, ca.key)
		if err != nil {
			return IssuedCert{}, fmt.Errorf("keys: sign client certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return IssuedCert{}, fmt.Errorf("keys: sign client certificate: %w", err)
		}
		issued := issuedFrom(clientID, cert)
		err = a.store.InsertCertificate(ctx, issued)
		if errors.Is(err, ErrAlreadyExists) {
			continue
		}
		if err != nil {
			return IssuedCert{}, fmt.Errorf("keys: record client certificate: %w", err)
		}
		m.opt.log.InfoContext(ctx, "client certificate issued",
			"client_id", clientID, "serial", issued.Serial, "thumbprint", issued.Thumbprint, "not_after", issued.NotAfter)
		return issued, nil
	}
	return IssuedCert{}, fmt.Errorf("keys: record client certificate: serial taken three times: %w", ErrAlreadyExists)
}

// ListClientCertificates returns the certificates issued to clientID,
// newest first, revoked and expired ones included.
func (m *Manager) ListClientCertificates(ctx context.Context, clientID string) ([]IssuedCert, error) {
	a, err := m.authority()
	if err != nil {
		return nil, err
	}
	if err := checkClientID(clientID); err != nil {
		return nil, err
	}
	certs, err := a.store.ListCertificates(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("keys: list client certificates: %w", err)
	}
	return certs, nil
}

// ServerCertificate issues a certificate for the server's own TLS
// listener, signed by the platform CA so that partners who trust the CA
// (GetPlatformCA) trust the server too: a new ECDSA P-256 key, extended
// key usage serverAuth, a subject alternative name per host (an IP address
// or a DNS name; no ports), valid ServerCertValidity. It is not stored:
// call it once per process start. The chain holds the leaf only; Leaf is
// set.
func (m *Manager) ServerCertificate(ctx context.Context, hosts []string) (tls.Certificate, error) {
	return m.issueLeaf(ctx, leafSpec{
		subject:  pkix.Name{CommonName: ServerCommonName},
		usages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		hosts:    hosts,
		validity: ServerCertValidity,
	})
}

// Service identities (ServiceCertificate).
const (
	// ServiceOrganization is the subject O of a service certificate.
	ServiceOrganization = "Gatehouse service"
	// MaxServiceCertValidity is the longest, and the default, validity of
	// a service certificate: services load it at start, so a deployment
	// re-issues and restarts within it.
	MaxServiceCertValidity = 90 * 24 * time.Hour
)

// ServiceCertificate issues the identity of one service of a split
// deployment: the certificate it presents to its peers and serves its
// mTLS listener with. Like ServerCertificate, with the subject CN the
// service's name, O ServiceOrganization, extended key usages serverAuth
// and clientAuth, and besides the hosts the SAN URI
// authn.ServiceURIPrefix+service, which validators map to the service's
// scopes without asking the registry. validity 0 means, and more is cut
// to, MaxServiceCertValidity. Only the operator issues these (gatehouse
// service-cert, with the KEK): no RPC does.
func (m *Manager) ServiceCertificate(ctx context.Context, service string, hosts []string, validity time.Duration) (tls.Certificate, error) {
	if err := checkClientID(service); err != nil {
		return tls.Certificate{}, fmt.Errorf("service name: %w", err)
	}
	return m.identityCertificate(ctx, authn.ServiceURIPrefix, service, hosts, validity)
}

// ValidatorCertificate issues the validator identity of a resource service
// outside Gatehouse: ServiceCertificate's certificate, with the SAN URI
// authn.ValidatorURIPrefix+name instead of a service's, which validators
// map to the validator role's scopes whatever the name. name must pass
// authn.CheckValidatorName; that it is no built-in service's is the
// caller's to check. Only the operator issues these, as service
// certificates.
func (m *Manager) ValidatorCertificate(ctx context.Context, name string, hosts []string, validity time.Duration) (tls.Certificate, error) {
	if err := authn.CheckValidatorName(name); err != nil {
		return tls.Certificate{}, fmt.Errorf("validator name: %w", err)
	}
	return m.identityCertificate(ctx, authn.ValidatorURIPrefix, name, hosts, validity)
}

// identityCertificate issues a service or validator identity: name in
// the subject CN and after uriPrefix in the one SAN URI.
func (m *Manager) identityCertificate(ctx context.Context, uriPrefix, name string, hosts []string, validity time.Duration) (tls.Certificate, error) {
	if validity <= 0 || validity > MaxServiceCertValidity {
		validity = MaxServiceCertValidity
	}
	u, err := url.Parse(uriPrefix + name)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("service name: %w", err)
	}
	return m.issueLeaf(ctx, leafSpec{
		subject:  pkix.Name{CommonName: name, Organization: []string{ServiceOrganization}},
		usages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		uris:     []*url.URL{u},
		hosts:    hosts,
		validity: validity,
	})
}

// leafSpec is what issueLeaf puts in a certificate besides its key.
type leafSpec struct {
	subject  pkix.Name
	usages   []x509.ExtKeyUsage
	uris     []*url.URL
	hosts    []string
	validity time.Duration
}

// issueLeaf signs a new ECDSA P-256 key with the platform CA for spec,
// never valid beyond the CA itself.
func (m *Manager) issueLeaf(ctx context.Context, spec leafSpec) (tls.Certificate, error) {
	a, err := m.authority()
	if err != nil {
		return tls.Certificate{}, err
	}
	var dns []string
	var ips []net.IP
	for _, h := range spec.hosts {
		name, ip, err := parseHost(h)
		if err != nil {
			return tls.Certificate{}, err
		}
		switch {
		case ip != nil && !slices.ContainsFunc(ips, ip.Equal):
			ips = append(ips, ip)
		case ip == nil && !slices.Contains(dns, name):
			dns = append(dns, name)
		}
	}
	if len(dns) == 0 && len(ips) == 0 {
		return tls.Certificate{}, fmt.Errorf("%w: no host given", ErrInvalidHost)
	}
	ca, err := a.get(ctx)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("keys: %s certificate: %w", spec.subject.CommonName, err)
	}
	skid, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := m.now()
	notAfter := now.Add(spec.validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               spec.subject,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           spec.usages,
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
		URIs:                  spec.uris,
		SubjectKeyId:          skid,
		AuthorityKeyId:        ca.cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("keys: %s certificate: %w", spec.subject.CommonName, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("keys: %s certificate: %w", spec.subject.CommonName, err)
	}
	m.opt.log.InfoContext(ctx, "certificate issued", "cn", spec.subject.CommonName, "serial", authn.CertSerial(leaf), "dns", dns, "ips", ips, "not_after", leaf.NotAfter)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// parseHost reads one name for ServerCertificate: an IP address (IPv6
// possibly in brackets) or a DNS name, with an optional leading "*."
// wildcard label.
func parseHost(h string) (string, net.IP, error) {
	h = strings.TrimSpace(h)
	bare := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip := net.ParseIP(bare); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		return "", ip, nil
	}
	name := strings.TrimSuffix(strings.ToLower(h), ".")
	if name == "" || len(name) > 253 {
		return "", nil, fmt.Errorf("%w: %q", ErrInvalidHost, h)
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if i == 0 && l == "*" && len(labels) > 1 {
			continue
		}
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") || strings.ContainsFunc(l, notHostChar) {
			return "", nil, fmt.Errorf("%w: %q (want a DNS name or an IP address, without a port)", ErrInvalidHost, h)
		}
	}
	return name, nil, nil
}

// notHostChar reports whether r may not appear in a (lower-cased) DNS
// label; "_" is allowed, as in service names.
func notHostChar(r rune) bool {
	return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_'
}

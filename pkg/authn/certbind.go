package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Certificate-bound access tokens (RFC 8705 §3): a token whose cnf claim
// names the x5t#S256 of a client certificate is accepted only on a request
// made with that certificate.

// Metadata keys with which a trusted forwarder (WithTrustedForwarder: the
// in-process REST gateway) states the client certificate of the request it
// forwards; ForwardClientCert sets them. From any other peer they are
// ignored: a client cannot claim a certificate by sending them. The
// gateway's header matcher must never produce them from request headers
// (GatewayIncomingHeaderMatcher does not; runtime.LegacyHeaderMatcher
// would, through Grpc-Metadata-X-Gatehouse-Client-Cert-S256).
const (
	// MetadataClientCertThumbprint is the x5t#S256 of the client
	// certificate (CertThumbprint).
	MetadataClientCertThumbprint = "x-gatehouse-client-cert-s256"
	// MetadataClientCertSerial is its serial number, lower-case hex.
	MetadataClientCertSerial = "x-gatehouse-client-cert-serial"
	// MetadataClientCert is the certificate itself, DER in unpadded
	// base64url, for methods that take the certificate alone as the
	// credential (CertAuthenticator).
	MetadataClientCert = "x-gatehouse-client-cert"
)

// maxForwardedCertLen bounds a forwarded certificate (base64url of DER):
// ample for any client certificate, small next to the gRPC header limit.
const maxForwardedCertLen = 8 << 10

// thumbprintLen is the length of a base64url (unpadded) SHA-256.
const thumbprintLen = 43

// maxSerialLen bounds a forwarded serial: RFC 5280 §4.1.2.2 allows 20
// octets, 40 hex digits; a little more is tolerated.
const maxSerialLen = 64

// CertThumbprint returns the x5t#S256 of cert (RFC 8705 §3.1): the
// base64url encoding, without padding, of the SHA-256 of its DER form.
func CertThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CertSerial is cert's serial number as the revocation list names it:
// lower-case hex, without leading zeros.
func CertSerial(cert *x509.Certificate) string {
	if cert.SerialNumber == nil {
		return ""
	}
	return cert.SerialNumber.Text(16)
}

// ForwardClientCert returns the metadata stating the client certificate of
// r (the first of r.TLS.PeerCertificates, which the TLS listener verified)
// for the gRPC request the gateway makes: MetadataClientCertThumbprint and
// MetadataClientCertSerial. Without a TLS client certificate it returns
// nil. The validator reads them only from a trusted forwarder.
func ForwardClientCert(r *http.Request) metadata.MD {
	if r == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0] == nil {
		return nil
	}
	leaf := r.TLS.PeerCertificates[0]
	cc := certInfos.lookup(leaf)
	return metadata.Pairs(MetadataClientCertThumbprint, cc.thumbprint, MetadataClientCertSerial, cc.serial,
		MetadataClientCert, base64.RawURLEncoding.EncodeToString(leaf.Raw))
}

// GatewayClientCertAnnotator is ForwardClientCert as a grpc-gateway
// metadata annotator: runtime.WithMetadata(authn.GatewayClientCertAnnotator).
// The gateway's annotators replace any value the request headers put under
// the same keys.
func GatewayClientCertAnnotator(_ context.Context, r *http.Request) metadata.MD {
	return ForwardClientCert(r)
}

// clientCert is what the validator knows of the request's client
// certificate.
type clientCert struct {
	// thumbprint is its x5t#S256.
	thumbprint string
	// serial is its serial number, lower-case hex.
	serial string
}

// maxCachedCerts bounds the certificate cache.
const maxCachedCerts = 1024

// certCache keeps the thumbprint and serial of the certificates of open
// connections, so that the SHA-256 of a certificate is computed once per
// connection rather than once per request. It is keyed by the parsed
// certificate, which crypto/tls hands out unchanged for every request of
// a connection (and grpc-go keeps in the connection's TLSInfo); holding
// the key keeps its address from being reused for another certificate.
// When full it is emptied: a miss only costs the hash again.
type certCache struct {
	m sync.Map // *x509.Certificate → clientCert
	n atomic.Int64
}

// certInfos is the process's certificate cache, shared by every validator
// and ForwardClientCert.
var certInfos certCache

func (c *certCache) lookup(cert *x509.Certificate) clientCert {
	if v, ok := c.m.Load(cert); ok {
		return v.(clientCert)
	}
	cc := clientCert{thumbprint: CertThumbprint(cert), serial: CertSerial(cert)}
	if _, loaded := c.m.LoadOrStore(cert, cc); !loaded && c.n.Add(1) > maxCachedCerts {
		c.m.Clear()
		c.n.Store(0)
	}
	return cc
}

// clientCert returns the request's client certificate:
//
//   - HTTP (HTTPMiddleware): the first of r.TLS.PeerCertificates;
//   - gRPC from a trusted forwarder: the one it states in the
//     MetadataClientCert* metadata, and only that (the forwarder's own
//     transport is not the client's);
//   - gRPC from any other peer: the first certificate of the peer's TLS
//     connection (credentials.TLSInfo); the metadata keys are ignored.
//
// Checking the certificate (chain, validity, revocation at handshake,
// self-signed registrations) is the TLS listener's job; the handshake
// proved the caller holds its private key.
func (v *Validator) clientCert(ctx context.Context, req *request) (clientCert, bool) {
	if req.http {
		if req.tlsState == nil || len(req.tlsState.PeerCertificates) == 0 || req.tlsState.PeerCertificates[0] == nil {
			return clientCert{}, false
		}
		return certInfos.lookup(req.tlsState.PeerCertificates[0]), true
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return clientCert{}, false
	}
	if v.forwarder(ctx, p) {
		if req.md != nil {
			return forwardedCert(req.md.Get(MetadataClientCertThumbprint), req.md.Get(MetadataClientCertSerial))
		}
		return forwardedCert(
			metadata.ValueFromIncomingContext(ctx, MetadataClientCertThumbprint),
			metadata.ValueFromIncomingContext(ctx, MetadataClientCertSerial))
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 && info.State.PeerCertificates[0] != nil {
		return certInfos.lookup(info.State.PeerCertificates[0]), true
	}
	return clientCert{}, false
}

// peerCertificate returns the request's client certificate itself, for
// the CertAuthenticator: as clientCert finds it, and for a trusted
// forwarder the MetadataClientCert it states, which must parse and have the
// thumbprint it states too.
func (v *Validator) peerCertificate(ctx context.Context, req *request) (*x509.Certificate, bool) {
	if req.http {
		if req.tlsState == nil || len(req.tlsState.PeerCertificates) == 0 || req.tlsState.PeerCertificates[0] == nil {
			return nil, false
		}
		return req.tlsState.PeerCertificates[0], true
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	if v.forwarder(ctx, p) {
		cc, ok := v.clientCert(ctx, req)
		if !ok {
			return nil, false
		}
		var ders []string
		if req.md != nil {
			ders = req.md.Get(MetadataClientCert)
		} else {
			ders = metadata.ValueFromIncomingContext(ctx, MetadataClientCert)
		}
		if len(ders) != 1 || len(ders[0]) > maxForwardedCertLen {
			return nil, false
		}
		der, err := base64.RawURLEncoding.DecodeString(ders[0])
		if err != nil {
			return nil, false
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil || !equalThumbprints(CertThumbprint(cert), cc.thumbprint) {
			return nil, false
		}
		return cert, true
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 && info.State.PeerCertificates[0] != nil {
		return info.State.PeerCertificates[0], true
	}
	return nil, false
}

// forwardedCert reads the certificate a trusted forwarder stated: exactly
// one well-formed thumbprint and one well-formed serial, else none (so a
// bound token fails closed).
func forwardedCert(thumbs, serials []string) (clientCert, bool) {
	if len(thumbs) != 1 || len(serials) != 1 {
		return clientCert{}, false
	}
	t, s := thumbs[0], serials[0]
	if len(t) != thumbprintLen || !isB64URL(t) || s == "" || len(s) > maxSerialLen || !isLowerHex(s) {
		return clientCert{}, false
	}
	return clientCert{thumbprint: t, serial: s}, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// bindClientCert applies the request's client certificate to p, after
// authentication and before anything else looks at p:
//
//   - a principal bound to a certificate (CertThumbprint) is refused unless
//     the request's certificate has that thumbprint (RFC 8705 §3: 401
//     invalid_token), and otherwise gets Trust TrustMTLS;
//   - any principal of a request with a certificate gets its CertSerial,
//     so that the RevocationChecker and the handler see it.
//
// p may be shared (the authenticators' caches hand out the same principal
// for every request with a credential): it is never modified, and a copy is
// returned when something changes.
func (v *Validator) bindClientCert(ctx context.Context, req *request, p *Principal) (*Principal, *AuthError) {
	cert, hasCert := v.clientCert(ctx, req)
	bound := p.CertThumbprint != ""
	if bound {
		if !hasCert {
			return nil, NewInvalidCredential(audit.ReasonCertificateBindingMismatch, p.ClientID,
				"certificate-bound token presented without a client certificate")
		}
		if !equalThumbprints(cert.thumbprint, p.CertThumbprint) {
			return nil, NewInvalidCredential(audit.ReasonCertificateBindingMismatch, p.ClientID,
				"client certificate does not match the certificate-bound token")
		}
	}
	if !hasCert || ((!bound || p.Trust >= TrustMTLS) && cert.serial == p.CertSerial) {
		return p, nil
	}
	cp := *p
	if bound && cp.Trust < TrustMTLS {
		cp.Trust = TrustMTLS
	}
	cp.CertSerial = cert.serial
	return &cp, nil
}

// equalThumbprints compares two thumbprints in constant time
// (SECURITY-CHECKLIST item 54).
func equalThumbprints(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

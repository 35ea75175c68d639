package authz

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// maxForwardedCert bounds a forwarded certificate header: ample for any
// client certificate in URL-encoded PEM.
const maxForwardedCert = 16 << 10

// gatewayStated marks a decision whose metadata carries what a trusted
// gateway stated of the client's request: its certificate, or the method
// and URL its DPoP proofs name.
type gatewayStated struct{}

// gatewayAddr is the peer of a decision: the gateway, whose own
// connection (and any TLS certificate of it) is never the client's.
type gatewayAddr struct{}

func (gatewayAddr) Network() string { return "gateway" }
func (gatewayAddr) String() string  { return "gateway" }

// trustsGatewayStatement is the validator's forwarder predicate for
// decisions: a certificate, or a DPoP method and URL, in the metadata
// counts only when Check put it there from a trusted gateway's statement.
func trustsGatewayStatement(ctx context.Context, _ *peer.Peer) bool {
	_, ok := ctx.Value(gatewayStated{}).(bool)
	return ok
}

// withClientCert returns the context and metadata that present cert to
// the validator as the client's certificate (checked against
// certificate-bound tokens, RFC 8705 §3, and used as the credential by
// routes that accept mtls).
func withClientCert(ctx context.Context, md metadata.MD, cert *x509.Certificate) (context.Context, metadata.MD) {
	if cert == nil {
		return ctx, md
	}
	fwd := authn.ForwardClientCert(&http.Request{TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}})
	return context.WithValue(ctx, gatewayStated{}, true), metadata.Join(md, fwd)
}

// withDPoP presents the client's DPoP proofs to the validator, with the
// method and URI (RFC 9449 §4.2: scheme, host and path, no query) of the
// request the gateway asks about, which the validator checks them against
// instead of the decision's own. Like a certificate, they count because
// Check states them from a trusted gateway's request.
func withDPoP(ctx context.Context, md metadata.MD, req Request, path string) (context.Context, metadata.MD) {
	scheme := strings.ToLower(req.Scheme)
	if scheme != "http" {
		scheme = "https"
	}
	htu := (&url.URL{Scheme: scheme, Host: req.Host, Path: path}).String()
	md = metadata.Join(md, metadata.MD{"dpop": req.DPoP, authn.MetadataDPoPHTM: {req.Method}, authn.MetadataDPoPHTU: {htu}})
	return context.WithValue(ctx, gatewayStated{}, true), md
}

// ErrBadCertificate is a forwarded certificate that cannot be read.
var ErrBadCertificate = errors.New("forwarded client certificate is not readable")

// ParseForwardedCert reads a client certificate as gateways forward it:
// URL-encoded PEM (nginx $ssl_client_escaped_cert, Envoy's
// source.certificate and the Cert field of x-forwarded-client-cert), PEM,
// or base64 DER (Traefik's passTLSClientCert). Empty is no certificate.
func ParseForwardedCert(v string) (*x509.Certificate, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if len(v) > maxForwardedCert {
		return nil, ErrBadCertificate
	}
	if strings.Contains(v, "%") {
		u, err := url.QueryUnescape(v)
		if err != nil {
			return nil, ErrBadCertificate
		}
		v = u
	}
	var der []byte
	if b, _ := pem.Decode([]byte(v)); b != nil {
		if b.Type != "CERTIFICATE" {
			return nil, ErrBadCertificate
		}
		der = b.Bytes
	} else {
		d, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, ErrBadCertificate
		}
		der = d
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, ErrBadCertificate
	}
	return cert, nil
}

// xfccCert returns the certificate of the last element of an Envoy
// x-forwarded-client-cert header, the one the nearest proxy added: its
// Cert="…" field, URL-encoded PEM.
func xfccCert(v string) string {
	elems := strings.Split(v, ",")
	last := elems[len(elems)-1]
	for _, kv := range strings.Split(last, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, "Cert") {
			return strings.Trim(val, `"`)
		}
	}
	return ""
}

var _ net.Addr = gatewayAddr{}

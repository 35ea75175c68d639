package authz

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// ExtAuthz is Envoy's external authorization service
// (envoy.service.auth.v3.Authorization, the ext_authz HTTP filter's gRPC
// service) over the same decisions as ForwardAuth:
//
//	allowed   OK; OkHttpResponse sets the identity headers upstream,
//	          overwriting the client's copies, and removes the client's
//	          copies of those it does not set (all four on a public route)
//	refused   the refusal's gRPC code; DeniedHttpResponse 401/403/400/429
//	          with the RFC 6750 challenge, Retry-After and a JSON body
//	stale     UNAVAILABLE; DeniedHttpResponse 503 with Retry-After
//
// Only a peer in the trusted proxies may ask; others get PermissionDenied
// as the RPC's error, which Envoy with failure_mode_allow: false turns
// into a refusal.
type ExtAuthz struct {
	authv3.UnimplementedAuthorizationServer
	a          *Authorizer
	proxies    []netip.Prefix
	certHeader string
	log        *slog.Logger
}

// NewExtAuthz returns the Authorization service deciding with a, for
// Envoy proxies at the proxies' addresses. With certHeader set, the
// client certificate is the CheckRequest's source.certificate (Envoy's
// include_peer_certificate), or else the named request header's
// (x-forwarded-client-cert as Envoy writes it); empty, it is never read.
func NewExtAuthz(a *Authorizer, proxies []netip.Prefix, certHeader string, log *slog.Logger) *ExtAuthz {
	if log == nil {
		log = slog.Default()
	}
	return &ExtAuthz{a: a, proxies: proxies, certHeader: strings.ToLower(certHeader), log: log}
}

// Check decides one request Envoy holds.
func (s *ExtAuthz) Check(ctx context.Context, in *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if p, ok := peer.FromContext(ctx); !ok || p.Addr == nil || !authn.InPrefixes(p.Addr.String(), s.proxies) {
		addr := ""
		if ok && p.Addr != nil {
			addr = p.Addr.String()
		}
		s.log.Warn("authz: ext_authz Check from an address not in --trusted-proxies", "remote", addr)
		return nil, grpcstatus.Error(codes.PermissionDenied, "not a trusted proxy")
	}
	attrs := in.GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	req := Request{
		Method: hr.GetMethod(),
		URI:    hr.GetPath(),
		Host:   hr.GetHost(),
		Remote: attrs.GetSource().GetAddress().GetSocketAddress().GetAddress(),
		Scheme: hr.GetScheme(),
	}
	req.DPoP = headerValues(hr, "dpop")
	req.Authorization, req.APIKeys = credentialHeaders(hr)
	var err error
	if s.certHeader != "" {
		if c := attrs.GetSource().GetCertificate(); c != "" {
			req.ClientCert, err = ParseForwardedCert(c)
		} else {
			req.ClientCert, err = forwardedCert(s.certHeader, headerValue(hr, s.certHeader))
		}
		if err != nil {
			return s.denied(badRequestStatus(err)), nil
		}
	}
	pr, err := s.a.Check(ctx, req)
	if errors.Is(err, ErrBadRequest) {
		err = badRequestStatus(err)
	}
	if err != nil {
		return s.denied(err), nil
	}
	// Every identity header is either set (overwriting the client's copy)
	// or removed. Envoy applies headers_to_remove after the headers it
	// sets, so a name is never in both.
	ok := &authv3.OkHttpResponse{}
	h := http.Header{}
	if pr != nil {
		setIdentity(h, pr)
	}
	for _, k := range IdentityHeaders {
		if v := h.Get(k); v != "" {
			ok.Headers = append(ok.Headers, header(strings.ToLower(k), v))
		} else {
			ok.HeadersToRemove = append(ok.HeadersToRemove, strings.ToLower(k))
		}
	}
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}, nil
}

// denied renders a refusal as the response Envoy sends the client.
func (s *ExtAuthz) denied(err error) *authv3.CheckResponse {
	st := grpcstatus.Convert(err)
	h := http.Header{}
	s.a.Validator().SetErrorHeaders(h, err)
	d := &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: typev3.StatusCode(runtime.HTTPStatusFromCode(st.Code()))}, //nolint:gosec // an HTTP status, 400-599
	}
	for _, k := range []string{"WWW-Authenticate", "Retry-After", "Cache-Control"} {
		if v := h.Get(k); v != "" {
			d.Headers = append(d.Headers, header(strings.ToLower(k), v))
		}
	}
	d.Headers = append(d.Headers, header("content-type", "application/json"))
	if body, merr := protojson.Marshal(st.Proto()); merr == nil {
		d.Body = string(body)
	}
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: st.Proto().GetCode(), Message: st.Message()},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: d},
	}
}

// credentialHeaders returns the Authorization and X-API-Key values of the
// request. Envoy sends headers as a map, a repeated header joined by
// commas, or as a header map when encode_raw_headers is on; there each
// occurrence is its own entry, so two credentials stay two.
func credentialHeaders(hr *authv3.AttributeContext_HttpRequest) (authz, apiKeys []string) {
	if hm := hr.GetHeaderMap(); hm != nil {
		for _, hv := range hm.GetHeaders() {
			v := hv.GetValue()
			if v == "" {
				v = string(hv.GetRawValue())
			}
			switch strings.ToLower(hv.GetKey()) {
			case "authorization":
				authz = append(authz, v)
			case "x-api-key":
				apiKeys = append(apiKeys, v)
			}
		}
		return authz, apiKeys
	}
	if v, ok := hr.GetHeaders()["authorization"]; ok {
		authz = []string{v}
	}
	if v, ok := hr.GetHeaders()["x-api-key"]; ok {
		apiKeys = []string{v}
	}
	return authz, apiKeys
}

// headerValues are every value of the request header name (lower case),
// from the map or the flattened headers.
func headerValues(hr *authv3.AttributeContext_HttpRequest, name string) []string {
	var out []string
	if hm := hr.GetHeaderMap(); hm != nil {
		for _, hv := range hm.GetHeaders() {
			if strings.EqualFold(hv.GetKey(), name) {
				v := hv.GetValue()
				if v == "" {
					v = string(hv.GetRawValue())
				}
				out = append(out, v)
			}
		}
		return out
	}
	if v, ok := hr.GetHeaders()[name]; ok {
		out = append(out, v)
	}
	return out
}

// headerValue is the request header name (lower case), from the map or
// the header map.
func headerValue(hr *authv3.AttributeContext_HttpRequest, name string) string {
	if hm := hr.GetHeaderMap(); hm != nil {
		for _, hv := range hm.GetHeaders() {
			if strings.EqualFold(hv.GetKey(), name) {
				if v := hv.GetValue(); v != "" {
					return v
				}
				return string(hv.GetRawValue())
			}
		}
		return ""
	}
	return hr.GetHeaders()[name]
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

package authn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// maxFormPeek is how much of a form-encoded body is inspected for an
// access_token parameter.
const maxFormPeek = 64 << 10

// HTTPMiddleware authorizes requests to next by rule, with the same
// extraction, checks, audit and error statuses as the gRPC interceptors,
// rendered as JSON google.rpc.Status bodies with RFC 6750 challenges.
//
// An access_token in the query or in a form body is never accepted (FAPI 2.0
// RS requirements; RFC 6750 §2.3): a request with only that has no
// credential, and one with it beside an Authorization or X-API-Key header
// is 400 invalid_request (RFC 6750 §2: one method only). A nil or invalid
// rule refuses every request (deny by default).
//
// The route in audit records is r.Pattern when the handler is mounted on
// an http.ServeMux pattern, else the method and path.
//
// A certificate-bound token (RFC 8705) is checked against the client
// certificate of r's own TLS connection (r.TLS); no header can state one.
func (v *Validator) HTTPMiddleware(rule *authv1.AuthRule, next http.Handler) http.Handler {
	ru, err := compileRule(rule)
	if err != nil {
		v.log.Error("authn: HTTP middleware with an invalid rule refuses every request", "error", err)
		ru = nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := request{method: httpRoute(r), rule: ru, remote: v.httpRemote(r), http: true, tlsState: r.TLS}
		if ru != nil && !ru.public {
			req.authz = r.Header.Values("Authorization")
			req.apiKeys = r.Header.Values(HeaderAPIKey)
			v.dpopHTTP(&req, r)
			if len(req.authz)+len(req.apiKeys) > 0 && hasBodyOrQueryToken(r) {
				writeStatus(w, v.realm, v.refuse(r.Context(), &req, errMultipleCredentials()))
				return
			}
		}
		ctx, err := v.authorize(r.Context(), &req)
		if err != nil {
			writeStatus(w, v.realm, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// GatewayPreflight wraps the grpc-gateway mux so that REST refuses what
// gRPC refuses before the request is translated: two credentials (two
// Authorization headers, or Authorization and X-API-Key), or a credential
// header beside an access_token query or form parameter, get 400
// invalid_request with the challenge of realm "gatehouse". The gRPC
// interceptor does everything else. Validator.GatewayPreflight also
// records the refusal and uses the validator's realm.
func GatewayPreflight(next http.Handler) http.Handler {
	return preflight(DefaultRealm, nil, next)
}

// GatewayPreflight is the package's GatewayPreflight, recording refusals
// with the validator's recorder.
func (v *Validator) GatewayPreflight(next http.Handler) http.Handler {
	return preflight(v.realm, v, next)
}

func preflight(realm string, v *Validator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(r.Header.Values("Authorization")) + len(r.Header.Values(HeaderAPIKey))
		if n > 1 || (n == 1 && hasBodyOrQueryToken(r)) {
			err := errMultipleCredentials().GRPCStatus().Err()
			if v != nil {
				req := request{method: httpRoute(r), remote: v.httpRemote(r)}
				err = v.refuse(r.Context(), &req, errMultipleCredentials())
			}
			writeStatus(w, realm, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// GatewayIncomingHeaderMatcher is the grpc-gateway incoming header matcher
// to use with these interceptors: it forwards X-API-Key as the x-api-key
// metadata, and everything runtime.DefaultHeaderMatcher forwards (the
// gateway itself passes Authorization as the authorization metadata).
// DefaultHeaderMatcher forwards only the permanent HTTP headers, under the
// grpcgateway- prefix, so no caller can set the x-gatehouse-* metadata
// that only the gateway states (the client certificate, that a request is
// forwarded); TestGatewayHeaderMatcherDropsGatehouseMetadata pins that.
// Use it with runtime.WithIncomingHeaderMatcher.
func GatewayIncomingHeaderMatcher(key string) (string, bool) {
	if strings.EqualFold(key, HeaderAPIKey) {
		return mdAPIKey, true
	}
	if k, ok := strings.CutPrefix(strings.ToLower(key), "grpc-metadata-"); ok && (k == requestid.Metadata || k == requestid.AltMetadata) {
		// The request id is the X-Request-Id header's, checked; a second,
		// unchecked one would come first in the metadata.
		return "", false
	}
	return runtime.DefaultHeaderMatcher(key)
}

// MetadataForwarded marks a gRPC request that a gateway in another process
// forwards for a caller (WithTrustedForwarderPeer): without it, the
// gateway's calls are its own.
const MetadataForwarded = "x-gatehouse-forwarded"

// GatewayErrorHandler is the grpc-gateway error handler to use with these
// interceptors (runtime.WithErrorHandler). It writes the google.rpc.Status
// body with the mux's marshaler and the status runtime.HTTPStatusFromCode
// gives, plus Cache-Control: no-store and the RFC 6750 §3 headers:
//
//	401, no credential:  WWW-Authenticate: Bearer realm="…"
//	401, invalid:        WWW-Authenticate: Bearer realm="…", error="invalid_token", error_description="…"
//	403, scope:          WWW-Authenticate: Bearer realm="…", error="insufficient_scope", scope="…"
//	400, two credentials: WWW-Authenticate: Bearer realm="…", error="invalid_request"
//	429:                 Retry-After: <seconds, rounded up, at least 1>
//
// Unlike runtime.DefaultHTTPErrorHandler it never copies the status
// message into WWW-Authenticate (SECURITY-CHECKLIST item 28).
func GatewayErrorHandler(realm string) runtime.ErrorHandlerFunc {
	realm = sanitizeQuoted(realm)
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		httpStatus := 0
		var hse *runtime.HTTPStatusError
		if errors.As(err, &hse) {
			httpStatus, err = hse.HTTPStatus, hse.Err
		}
		st := status.Convert(err)
		if httpStatus == 0 {
			httpStatus = runtime.HTTPStatusFromCode(st.Code())
		}
		w.Header().Del("Trailer")
		w.Header().Del("Transfer-Encoding")
		setErrorHeaders(w.Header(), realm, st)
		body, merr := m.Marshal(st.Proto())
		if merr != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"code": 13, "message": "failed to marshal error message"}`)
			return
		}
		w.Header().Set("Content-Type", m.ContentType(st.Proto()))
		w.WriteHeader(httpStatus)
		_, _ = w.Write(body)
	}
}

// writeStatus renders a status error for plain HTTP handlers: JSON
// google.rpc.Status, the same headers as GatewayErrorHandler.
func writeStatus(w http.ResponseWriter, realm string, err error) {
	st := status.Convert(err)
	setErrorHeaders(w.Header(), realm, st)
	body, merr := protojson.Marshal(st.Proto())
	if merr != nil {
		body = []byte(`{"code": 13, "message": "failed to marshal error message"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	_, _ = w.Write(body)
}

// setErrorHeaders sets Cache-Control and, from the status's ErrorInfo and
// RetryInfo, the RFC 6750 §3 challenge and Retry-After. It is the one place
// challenges are written.
func setErrorHeaders(h http.Header, realm string, st *status.Status) {
	h.Set("Cache-Control", "no-store")
	var (
		info  *errdetails.ErrorInfo
		retry *errdetails.RetryInfo
	)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == ErrorDomain && info == nil {
				info = d
			}
		case *errdetails.RetryInfo:
			if retry == nil {
				retry = d
			}
		}
	}
	challenge := `Bearer realm="` + realm + `"`
	algs := sanitizeQuoted(info.GetMetadata()[dpopAlgsMetadataKey])
	switch st.Code() {
	case codes.Unauthenticated:
		if r := info.GetReason(); r == ErrInvalidDPoPProof || r == ErrUseDPoPNonce {
			// RFC 9449 §7.1, §9: the DPoP challenge carries the error.
			c := `DPoP realm="` + realm + `", error="` + r + `"`
			if desc := sanitizeQuoted(st.Message()); desc != "" {
				c += `, error_description="` + desc + `"`
			}
			if algs != "" {
				c += `, algs="` + algs + `"`
			}
			h.Set("WWW-Authenticate", c)
			if n := info.GetMetadata()[dpopNonceMetadataKey]; n != "" {
				h.Set(HeaderDPoPNonce, sanitizeQuoted(n))
			}
			break
		}
		// RFC 6750 §3.1: no error code when the request had no credential
		// (or one of an unsupported method).
		if info.GetReason() == ErrInvalidToken {
			challenge += `, error="invalid_token"`
			if desc := sanitizeQuoted(st.Message()); desc != "" {
				challenge += `, error_description="` + desc + `"`
			}
		}
		h.Set("WWW-Authenticate", challenge)
		if algs != "" {
			// Both schemes are accepted: one challenge each (RFC 9449
			// §7.1).
			c := `DPoP realm="` + realm + `", algs="` + algs + `"`
			if info.GetReason() == ErrInvalidToken {
				c += `, error="invalid_token"`
			}
			h.Add("WWW-Authenticate", c)
		}
	case codes.PermissionDenied:
		if info.GetReason() == ErrInsufficientScope {
			challenge += `, error="insufficient_scope"`
			if scope := sanitizeQuoted(info.GetMetadata()[scopeMetadataKey]); scope != "" {
				challenge += `, scope="` + scope + `"`
			}
			h.Set("WWW-Authenticate", challenge)
		}
	case codes.InvalidArgument:
		if info.GetReason() == ErrInvalidRequest {
			h.Set("WWW-Authenticate", challenge+`, error="invalid_request"`)
		}
	case codes.ResourceExhausted, codes.Unavailable:
		if d := retry.GetRetryDelay(); d != nil {
			secs := math.Ceil(d.AsDuration().Seconds())
			if secs < 1 {
				secs = 1
			}
			h.Set("Retry-After", strconv.FormatFloat(secs, 'f', 0, 64))
		}
	}
}

// sanitizeQuoted keeps the characters RFC 6750 §3 allows in error,
// error_description and scope values (%x20-21 / %x23-5B / %x5D-7E), so the
// value can be quoted without escapes.
func sanitizeQuoted(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !quotedSafe(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if quotedSafe(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func quotedSafe(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}

// hasBodyOrQueryToken reports whether the request carries access_token in
// its query or in a form-encoded body (RFC 6750 §2.2, §2.3). It reads at
// most maxFormPeek bytes of the body and puts them back.
func hasBodyOrQueryToken(r *http.Request) bool {
	if r.URL != nil && r.URL.RawQuery != "" {
		// ParseQuery decodes keys, so access%5Ftoken is found too; the
		// parameters before a malformed one are still returned.
		q, _ := url.ParseQuery(r.URL.RawQuery)
		if q.Has("access_token") {
			return true
		}
	}
	if r.PostForm != nil {
		return r.PostForm.Has("access_token")
	}
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return false
	}
	peek, err := io.ReadAll(io.LimitReader(r.Body, maxFormPeek+1))
	r.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(peek), r.Body), Closer: r.Body}
	if err != nil {
		return false
	}
	if len(peek) > maxFormPeek {
		// Cut the peek at the last complete parameter.
		if i := bytes.LastIndexByte(peek[:maxFormPeek], '&'); i >= 0 {
			peek = peek[:i]
		} else {
			return false
		}
	}
	form, _ := url.ParseQuery(string(peek))
	return form.Has("access_token")
}

type readCloser struct {
	io.Reader
	io.Closer
}

// httpRoute names the request for audit: the ServeMux pattern when there
// is one (bounded), else method and path.
func httpRoute(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method + " " + r.URL.Path
}

// httpRemote is the client's IP: RemoteAddr's, or the rightmost
// X-Forwarded-For entry that is not a trusted proxy when RemoteAddr is a
// trusted forwarder or proxy.
func (v *Validator) httpRemote(r *http.Request) string {
	if v.trusted != nil && !InPrefixes(r.RemoteAddr, v.proxies) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && v.trusted(net.TCPAddrFromAddrPort(ap)) {
			if ip := v.lastForwarded(r.Header.Values("X-Forwarded-For")); ip != "" {
				return ip
			}
		}
	}
	return ClientIP(r, v.proxies)
}

// ClientIP is the address a request is counted against: the host of
// RemoteAddr, or, when RemoteAddr is one of the trusted proxies, the
// rightmost X-Forwarded-For address that is not (see ForwardedClient).
func ClientIP(r *http.Request, proxies []netip.Prefix) string {
	if InPrefixes(r.RemoteAddr, proxies) {
		if ip := ForwardedClient(r.Header.Values("X-Forwarded-For"), proxies); ip != "" {
			return ip
		}
	}
	return hostOnly(r.RemoteAddr)
}

// WriteHTTPError renders a refusal of Authorize as plain HTTP: the status
// runtime.HTTPStatusFromCode gives, a JSON google.rpc.Status body, and the
// RFC 6750 challenge and Retry-After headers the middleware writes.
func (v *Validator) WriteHTTPError(w http.ResponseWriter, err error) {
	writeStatus(w, v.realm, err)
}

// SetErrorHeaders sets on h the headers WriteHTTPError would write for err
// (Cache-Control, WWW-Authenticate, Retry-After), for a caller that renders
// the refusal in another form, such as an Envoy ext_authz response.
func (v *Validator) SetErrorHeaders(h http.Header, err error) {
	setErrorHeaders(h, v.realm, status.Convert(err))
}

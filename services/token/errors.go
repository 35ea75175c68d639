package token

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error codes of RFC 6749 §5.2, RFC 8707 §2 (invalid_target) and RFC 6750
// §3.1 (insufficient_scope), plus the server errors of §4.1.2.1.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidClient          = "invalid_client"
	CodeInvalidGrant           = "invalid_grant"
	CodeUnauthorizedClient     = "unauthorized_client"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeInvalidTarget          = "invalid_target"
	CodeInsufficientScope      = "insufficient_scope"
	CodeServerError            = "server_error"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// Wire constants of the responses.
const (
	basicChallenge             = `Basic realm="gatehouse"`
	maxErrorDescriptionLen     = 200
	contentTypeJSON            = "application/json"
	contentTypeFormURLEncoded  = "application/x-www-form-urlencoded"
	headerCacheControlNoStore  = "no-store"
	headerCacheControlMetadata = "public, max-age=3600"
	headerPragmaNoCache        = "no-cache"
)

// Descriptions shared by several refusals.
const (
	descriptionTooManyFailures  = "too many failed client authentications"
	descriptionTooManyRequests  = "too many requests"
	descriptionClientAuthFailed = "client authentication failed"
)

// Error is an OAuth error response as a value: handlers return it, and one
// writer (writeError) renders it (RFC 6749 §5.2), or the gRPC boundary maps
// it to a status (GRPCStatus). Description is shown to the client and must
// never hold a secret or a token; Cause is for logs and errors.Is only.
type Error struct {
	Code        string
	Status      int
	Description string
	Cause       error
	// RetryAfter, when positive, is sent as Retry-After (429, 503).
	RetryAfter time.Duration
	// Challenge asks for WWW-Authenticate: Basic (RFC 6749 §5.2: a 401
	// after the client tried the Authorization header).
	Challenge bool
	// DPoPNonce, when set, is sent as DPoP-Nonce (use_dpop_nonce, RFC
	// 9449 §8).
	DPoPNonce string
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// GRPCStatus maps the error to a gRPC status, using the checklist's mapping
// of HTTP statuses to codes; the message is the description.
func (e *Error) GRPCStatus() *status.Status {
	c := codes.Internal
	switch e.Status {
	case http.StatusBadRequest:
		c = codes.InvalidArgument
	case http.StatusUnauthorized:
		c = codes.Unauthenticated
	case http.StatusForbidden:
		c = codes.PermissionDenied
	case http.StatusTooManyRequests, http.StatusRequestEntityTooLarge:
		c = codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		c = codes.Unavailable
	}
	msg := e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return status.New(c, msg)
}

func newError(code string, httpStatus int, format string, args ...any) *Error {
	return &Error{Code: code, Status: httpStatus, Description: fmt.Sprintf(format, args...)}
}

// errInvalidRequest: RFC 6749 §5.2 invalid_request.
func errInvalidRequest(format string, args ...any) *Error {
	return newError(CodeInvalidRequest, http.StatusBadRequest, format, args...)
}

// errInvalidClient: RFC 6749 §5.2 invalid_client, always 401. The challenge
// is set by the caller when the client used the Authorization header.
func errInvalidClient(cause error) *Error {
	return &Error{Code: CodeInvalidClient, Status: http.StatusUnauthorized, Description: descriptionClientAuthFailed, Cause: cause}
}

func errServer(cause error) *Error {
	return &Error{Code: CodeServerError, Status: http.StatusInternalServerError, Description: "internal error", Cause: cause}
}

func errUnavailable(cause error) *Error {
	return &Error{
		Code: CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
		Description: "try again later", Cause: cause, RetryAfter: 5 * time.Second,
	}
}

func errRateLimited(description string, retryAfter time.Duration) *Error {
	return &Error{Code: CodeInvalidRequest, Status: http.StatusTooManyRequests, Description: description, RetryAfter: retryAfter}
}

// asError returns err as an *Error, a server_error for anything else.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errServer(err)
}

// writeError is the one writer of OAuth error responses (RFC 6749 §5.2):
// JSON {"error","error_description"} with a description restricted to
// %x20-21 / %x23-5B / %x5D-7E, Cache-Control: no-store, and the Basic
// challenge or Retry-After when the error asks for them.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "token service error", "path", r.URL.Path, "code", e.Code, "error", e.Cause)
	}
	h := w.Header()
	setNoStore(h)
	if e.Challenge {
		h.Set("WWW-Authenticate", basicChallenge)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(e.RetryAfter), 10))
	}
	if e.DPoPNonce != "" {
		h.Set(headerDPoPNonce, e.DPoPNonce)
	}
	writeJSON(w, e.Status, errorBody(e))
}

// errorBody renders the JSON body. Both members are restricted to the
// RFC 6749 §5.2 character set, which has neither '"' nor '\', so no JSON
// escaping is needed.
func errorBody(e *Error) []byte {
	b := make([]byte, 0, 64+len(e.Description))
	b = append(b, `{"error":"`...)
	b = appendSafe(b, e.Code, 64)
	b = append(b, '"')
	if e.Description != "" {
		b = append(b, `,"error_description":"`...)
		b = appendSafe(b, e.Description, maxErrorDescriptionLen)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendSafe appends at most max bytes of s, replacing every byte outside
// %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2) with '?'.
func appendSafe(b []byte, s string, limit int) []byte {
	if len(s) > limit {
		s = s[:limit]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}

// retryAfterSeconds rounds up to whole seconds, at least 1 (RFC 9110
// §10.2.3 delay-seconds).
func retryAfterSeconds(d time.Duration) int64 {
	secs := int64((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

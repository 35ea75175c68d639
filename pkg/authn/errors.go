package authn

import (
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ErrorDomain is the Domain of the google.rpc.ErrorInfo of every refusal.
const ErrorDomain = "gatehouse"

// RFC 6750 §3.1 error codes, used as google.rpc.ErrorInfo.Reason.
const (
	// ErrInvalidRequest: the request is malformed, e.g. it carries more
	// than one credential. HTTP 400, gRPC InvalidArgument.
	ErrInvalidRequest = "invalid_request"
	// ErrInvalidToken: the credential is expired, revoked, malformed or
	// otherwise invalid. HTTP 401, gRPC Unauthenticated.
	ErrInvalidToken = "invalid_token"
	// ErrInsufficientScope: the credential is valid but not sufficient
	// for the method. HTTP 403, gRPC PermissionDenied.
	ErrInsufficientScope = "insufficient_scope"
)

// ErrorInfo reasons for refusals that RFC 6750 has no code for.
const (
	// ErrRateLimited: the client exceeded its tier. HTTP 429, gRPC
	// ResourceExhausted, with a google.rpc.RetryInfo (HTTP Retry-After).
	ErrRateLimited = "rate_limited"
	// ErrTemporarilyUnavailable: a verifier failed, or the revocation list
	// is stale. HTTP 503, gRPC Unavailable; the name is RFC 6749's.
	ErrTemporarilyUnavailable = "temporarily_unavailable"
)

// Reasons returns every google.rpc.ErrorInfo Reason a refusal may carry,
// besides the empty one of a request without a credential.
func Reasons() []string {
	return []string{ErrInvalidRequest, ErrInvalidToken, ErrInsufficientScope, ErrRateLimited, ErrTemporarilyUnavailable,
		ErrInvalidDPoPProof, ErrUseDPoPNonce}
}

// ErrorInfo metadata key holding the required scopes for insufficient_scope.
const scopeMetadataKey = "scope"

// AuthError is a refused request: what the caller is told (Code, Message,
// OAuthError, Scope, RetryAfter) and what the audit records (Reason,
// ClientID). Authenticators return it for every refusal; any other error
// from an authenticator means it could not decide, and the request is
// refused with Unavailable.
//
// The status it converts to (GRPCStatus) carries Message, never Err, so a
// cause may hold internal detail but never a credential.
type AuthError struct {
	// Code is the gRPC code the caller gets.
	Code codes.Code
	// Reason is the audit reason.
	Reason audit.Reason
	// ClientID is the client, when the credential identified one.
	ClientID string
	// Message is short, safe and shown to the caller; for Unauthenticated
	// it becomes the RFC 6750 error_description.
	Message string
	// OAuthError is the RFC 6750 error code (ErrInvalidToken, ...), empty
	// when no credential was presented.
	OAuthError string
	// Scope is the space-separated list of scopes the method requires, for
	// insufficient_scope.
	Scope string
	// RetryAfter is when a rate-limited caller may retry.
	RetryAfter time.Duration
	// Err is the internal cause; logged, never sent.
	Err error
	// Domain is the google.rpc.ErrorInfo Domain; empty means ErrorDomain.
	// A Validator sets it from WithErrorDomain.
	Domain string
	// DPoPAlgs, space-separated, are the DPoP proof algorithms accepted,
	// for the DPoP challenge (RFC 9449 §7.1); empty without DPoP.
	DPoPAlgs string
	// DPoPNonce is the nonce a use_dpop_nonce refusal hands out.
	DPoPNonce string
}

// Error describes the refusal for logs.
func (e *AuthError) Error() string {
	s := "authn: " + string(e.Reason)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *AuthError) Unwrap() error { return e.Err }

// GRPCStatus renders the refusal as a status with a google.rpc.ErrorInfo
// detail (and a google.rpc.RetryInfo for rate limits). status.FromError and
// status.Code use it.
func (e *AuthError) GRPCStatus() *status.Status {
	msg := e.Message
	if msg == "" {
		msg = e.Code.String()
	}
	st := status.New(e.Code, msg)
	domain := e.Domain
	if domain == "" {
		domain = ErrorDomain
	}
	info := &errdetails.ErrorInfo{Domain: domain, Reason: e.OAuthError}
	if e.Scope != "" || e.DPoPAlgs != "" || e.DPoPNonce != "" {
		info.Metadata = map[string]string{}
		for k, v := range map[string]string{scopeMetadataKey: e.Scope, dpopAlgsMetadataKey: e.DPoPAlgs, dpopNonceMetadataKey: e.DPoPNonce} {
			if v != "" {
				info.Metadata[k] = v
			}
		}
	}
	details := []protoadapt.MessageV1{info}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		st = withDetails
	}
	return st
}

// NewInvalidCredential is the refusal of a presented but invalid
// credential: Unauthenticated with RFC 6750 invalid_token. message is
// shown to the caller and must not contain the credential.
func NewInvalidCredential(reason audit.Reason, clientID, message string) *AuthError {
	return &AuthError{
		Code:       codes.Unauthenticated,
		Reason:     reason,
		ClientID:   clientID,
		Message:    message,
		OAuthError: ErrInvalidToken,
	}
}

// NewUnavailable is the refusal of a request whose credential could not be
// checked because a verifier failed: Unavailable, never Unauthenticated.
func NewUnavailable(cause error) *AuthError {
	return &AuthError{
		Code:       codes.Unavailable,
		Reason:     audit.ReasonVerifierUnavailable,
		Message:    "credential verification is temporarily unavailable",
		OAuthError: ErrTemporarilyUnavailable,
		Err:        cause,
	}
}

func errMissingCredential() *AuthError {
	return &AuthError{Code: codes.Unauthenticated, Reason: audit.ReasonMissingCredential, Message: "credential required"}
}

func errUnsupportedCredential(message string) *AuthError {
	// RFC 6750 §3.1: a request "attempted using an unsupported
	// authentication method" gets no error code, like one without any.
	return &AuthError{Code: codes.Unauthenticated, Reason: audit.ReasonUnsupportedCredential, Message: message}
}

func errMultipleCredentials() *AuthError {
	return &AuthError{
		Code:       codes.InvalidArgument,
		Reason:     audit.ReasonMultipleCredentials,
		Message:    "more than one credential presented",
		OAuthError: ErrInvalidRequest,
	}
}

func errNoAuthRule() *AuthError {
	return &AuthError{Code: codes.PermissionDenied, Reason: audit.ReasonNoAuthRule, Message: "method not allowed"}
}

// asAuthError turns whatever an authenticator returned into an AuthError.
func asAuthError(err error) *AuthError {
	var ae *AuthError
	if errors.As(err, &ae) && ae != nil {
		return ae
	}
	return NewUnavailable(err)
}

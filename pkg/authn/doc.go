// Package authn authenticates and authorizes every request to a Gatehouse
// service, the same way for gRPC and for HTTP.
//
// The rule of each RPC is declared in the proto contract with the method
// option (gatehouse.auth.v1.rule); Rules reads them from the descriptors and
// a method without a rule is refused (deny by default). A Validator checks a
// request in this order:
//
//  1. look up the rule of the method (none: PermissionDenied, no_auth_rule);
//  2. a public method passes, with no principal;
//  3. extract exactly one credential from the `authorization` or
//     `x-api-key` metadata (or the Authorization / X-API-Key headers);
//  4. authenticate it with the Authenticator registered for its kind;
//  5. refuse a certificate-bound token (cnf x5t#S256, RFC 8705 §3) unless
//     the request's client certificate has that thumbprint, and give the
//     principal the certificate's serial (on a copy: principals are
//     shared);
//  6. ask the RevocationChecker, when there is one;
//  7. check that the rule accepts the credential's kind;
//  8. take a token from the client's rate-limit bucket;
//  9. check that every scope the rule names was granted;
//  10. put the Principal in the context (see FromContext).
//
// Every refusal is recorded once through an audit.Recorder and returned as
// a gRPC status with a google.rpc.ErrorInfo detail (Domain ErrorDomain, or
// WithErrorDomain's) whose Reason is one of:
//
//   - "" (no credential was presented): Unauthenticated, HTTP 401;
//   - ErrInvalidRequest, "invalid_request": InvalidArgument, HTTP 400;
//   - ErrInvalidToken, "invalid_token": Unauthenticated, HTTP 401;
//   - ErrInsufficientScope, "insufficient_scope": PermissionDenied, HTTP
//     403, with the required scopes in the metadata key "scope";
//   - ErrRateLimited, "rate_limited": ResourceExhausted, HTTP 429, with a
//     google.rpc.RetryInfo (Retry-After);
//   - ErrTemporarilyUnavailable, "temporarily_unavailable": Unavailable,
//     HTTP 503 (a verifier failed, or the revocation list is stale).
//
// Reasons lists them. GatewayErrorHandler and the HTTP middleware render
// those statuses with exact RFC 6750 challenges.
//
// Rules come from the proto option, or from the helpers Scopes, AnyOf,
// Public and Accept (NewRules, RulesFromServer); Rules.Check fails when a
// method registered on a server has none. pkg/resourceserver builds a
// complete validator from an issuer URL in one call.
//
// API keys are checked by an APIKeyVerifier (the client registry, in process
// or over gRPC) behind a small cache of accepted keys, which follows the
// registry's ClientChanged events so that revocations apply at once.
package authn

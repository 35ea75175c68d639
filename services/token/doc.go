// Package token is Gatehouse's token service: the OAuth 2.0 token endpoint
// (RFC 6749, client_credentials for now), token introspection (RFC 7662),
// authorization server metadata (RFC 8414), and the gRPC TokenService that
// gives internal callers the same answers.
//
// The HTTP endpoints are plain net/http handlers speaking the RFC wire
// formats exactly; register them with [Service.Routes]. The gRPC methods
// share one core with them, so a token, an introspection answer and the
// metadata bytes are the same whichever face produced them.
//
// The service depends on three narrow interfaces it defines itself —
// [Clients] (the client registry), [Signer] (the active signing key) and
// [Verifier] (access-token validation for introspection) — so the
// all-in-one process wires the implementations directly and a split
// deployment wires gRPC clients behind them.
//
// Layout: dispatch in http.go (parsing, client authentication, response
// writing happen once), one handler per grant (grant_client_credentials.go),
// RFC errors as values rendered by one writer (errors.go), client
// authentication with its positive cache and failure budgets
// (clientauth.go, cache.go, failures.go), RFC 9068 access tokens built and
// signed without reflection (jwt.go).
package token

// Package dpop verifies DPoP proofs (RFC 9449): the one verifier the token
// service and every resource validator use, so that the two ends of a
// DPoP-bound token agree on what a valid proof is.
//
// A Verifier checks, in order: the compact JWS form and its size; the
// header (typ dpop+jwt, an algorithm from the allow-list, a public jwk and
// no crit); the signature by that jwk; the claims (htm, htu normalised per
// RFC 3986 §6, iat within the window, jti, ath when an access token is
// presented, nonce when the Nonces demand one); and last the jti against
// the replay cache, so that a refused proof does not use up its jti.
//
// The replay cache lives in the process. Replicas do not share it: a proof
// replayed to another replica within the iat window is accepted there. RFC
// 9449 §11.1 accepts this: a proof is bound to one method and URI, lives
// only for the window, and the server nonce (Nonces, keyed by a secret the
// replicas share) shortens the window to a nonce period when tighter
// protection is needed.
package dpop

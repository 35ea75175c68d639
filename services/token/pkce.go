package token

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// PKCE (RFC 7636) with S256 only: plain gives an attacker who sees the
// authorization request everything it needs (RFC 9700 §2.1.1).
const (
	pkceMethodS256 = "S256"
	// challengeLen is the length of base64url(SHA-256(verifier)) without
	// padding.
	challengeLen   = 43
	minVerifierLen = 43
	maxVerifierLen = 128
)

// validChallenge reports whether c can be an S256 code_challenge: 43
// base64url characters that decode to 32 bytes.
func validChallenge(c string) bool {
	if len(c) != challengeLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// validVerifier applies RFC 7636 §4.1: 43 to 128 characters of
// [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
func validVerifier(v string) bool {
	if len(v) < minVerifierLen || len(v) > maxVerifierLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// s256 is BASE64URL(SHA256(verifier)), the S256 challenge of a verifier
// (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// verifierMatches reports whether s256(verifier) equals the challenge (RFC
// 7636 §4.6), in constant time.
func verifierMatches(verifier, challenge string) bool {
	return len(challenge) == challengeLen && subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(challenge)) == 1
}

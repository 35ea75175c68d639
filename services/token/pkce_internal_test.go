package token

import (
	"strings"
	"testing"
)

func TestPKCE(t *testing.T) {
	// RFC 7636 Appendix B.
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if !validVerifier(verifier) || !validChallenge(challenge) || !verifierMatches(verifier, challenge) {
		t.Fatal("RFC 7636 appendix B example refused")
	}
	if verifierMatches(verifier[:len(verifier)-1]+"5", challenge) {
		t.Fatal("wrong verifier accepted")
	}
	for _, v := range []string{strings.Repeat("a", 42), strings.Repeat("a", 129), strings.Repeat("a", 42) + "+", strings.Repeat("a", 42) + " ", strings.Repeat("é", 30)} {
		if validVerifier(v) {
			t.Errorf("verifier %q accepted", v)
		}
	}
	for _, v := range []string{strings.Repeat("a", 43), strings.Repeat("~", 128)} {
		if !validVerifier(v) {
			t.Errorf("verifier %q refused", v)
		}
	}
	for _, c := range []string{"", challenge[:42], challenge + "A", strings.Replace(challenge, "-", "+", 1), strings.Repeat("=", 43)} {
		if validChallenge(c) {
			t.Errorf("challenge %q accepted", c)
		}
	}
}

// TestMatchRedirect is checklist item 37: exact string match, except a
// loopback IP's port for native apps.
func TestMatchRedirect(t *testing.T) {
	reg := []string{"https://app.example/cb", "http://127.0.0.1:49152/cb", "http://[::1]/native", "com.example.app:/oauth"}
	for _, ok := range []string{
		"https://app.example/cb", "http://127.0.0.1:49152/cb", "http://127.0.0.1:1234/cb", "http://127.0.0.1/cb",
		"http://[::1]:5555/native", "com.example.app:/oauth",
	} {
		if _, matched := matchRedirect(reg, ok); !matched {
			t.Errorf("%s refused", ok)
		}
	}
	for _, bad := range []string{
		"https://app.example/cb/", "https://app.example/cb?x=1", "https://app.example/cb#f", "https://APP.example/cb",
		"https://app.example:443/cb", "http://app.example/cb", "https://app.example.evil.example/cb",
		"https://app.example@evil.example/cb", "https://app.example/cb/../x", "https://app.example%2Fcb",
		"https://app.example/cb%2F", "http://127.0.0.1:1234/cb/", "http://127.0.0.1:1234/cb?x", "http://127.0.0.2:1234/cb",
		"http://localhost:49152/cb", "http://user@127.0.0.1:1/cb", "https://127.0.0.1:49152/cb", "http://127.0.0.1:1234/native",
		"", "com.example.app:/oauth/x",
	} {
		if _, matched := matchRedirect(reg, bad); matched {
			t.Errorf("%q accepted", bad)
		}
	}
}

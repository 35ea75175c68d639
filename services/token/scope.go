package token

import (
	"net/http"
	"slices"
	"strings"
)

// validScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// parseScope splits a scope parameter: scope-token *( SP scope-token )
// (RFC 6749 §3.3). The empty parameter is no scope at all (§3.1). The
// result is deduplicated, in request order.
func parseScope(param string) ([]string, error) {
	if param == "" {
		return nil, nil
	}
	parts := strings.Split(param, " ")
	out := parts[:0]
	for _, p := range parts {
		if !validScopeToken(p) {
			return nil, newError(CodeInvalidScope, http.StatusBadRequest, "the scope parameter is malformed (RFC 6749 section 3.3)")
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// grantedScope applies RFC 6749 §3.3 to a client's request for a token of
// its own: every requested scope must be allowed to the client (else
// invalid_scope), and none may be an OpenID Connect scope; none requested
// means all the client's scopes but those, its default. bound, when not nil, narrows
// the client's scopes further (the scopes of the credential a gRPC caller
// used). The result is space-separated.
func grantedScope(cl *client, requested, bound []string) (string, error) {
	if len(requested) == 0 {
		if bound == nil {
			return cl.defaultScope, nil
		}
		var keep []string
		for _, s := range cl.scopes {
			if slices.Contains(bound, s) && !slices.Contains(oidcScopes, s) {
				keep = append(keep, s)
			}
		}
		return strings.Join(keep, " "), nil
	}
	for _, s := range requested {
		if slices.Contains(oidcScopes, s) {
			// They ask for claims about a signed-in user: a client acting
			// for itself has none.
			return "", newError(CodeInvalidScope, http.StatusBadRequest, "scope %s is for user sign-in, not for a client's own token", s)
		}
		if !cl.allowsScope(s) || (bound != nil && !slices.Contains(bound, s)) {
			return "", newError(CodeInvalidScope, http.StatusBadRequest, "scope %s is not allowed to the client", s)
		}
	}
	if len(requested) == 1 {
		return requested[0], nil
	}
	return strings.Join(requested, " "), nil
}

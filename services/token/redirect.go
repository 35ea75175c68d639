package token

import (
	"net"
	"net/url"
	"strings"
)

// matchRedirect returns the registered redirect URI that requested names,
// by exact string comparison (RFC 9700 §2.1, checklist item 37), and false
// when none does. The one exception is RFC 8252 §7.3: for a registered
// loopback IP literal with http (a native app's local listener), any port
// is accepted with the rest identical.
func matchRedirect(registered []string, requested string) (string, bool) {
	for _, r := range registered {
		if r == requested {
			return r, true
		}
	}
	req, ok := loopbackParts(requested)
	if !ok {
		return "", false
	}
	for _, r := range registered {
		if reg, ok := loopbackParts(r); ok && reg == req {
			return requested, true
		}
	}
	return "", false
}

// loopbackParts returns an http loopback-IP URL without its port, for the
// port-agnostic comparison; ok is false for any other URL. "localhost" is
// not a loopback literal (RFC 8252 §8.3: it may resolve elsewhere).
func loopbackParts(raw string) (string, bool) {
	if !strings.HasPrefix(raw, "http://") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return "", false
	}
	// Compare everything after the authority byte for byte.
	rest := strings.TrimPrefix(raw, "http://")
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	return "http://" + u.Hostname() + "|" + rest, true
}

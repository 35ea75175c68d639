// Package loopback decides whether a host is this machine's loopback: the
// only place Gatehouse and its SDK send a credential or accept an issuer
// without TLS (http issuers and JWKS, plaintext gRPC, the CLI's admin key).
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host is "localhost" (in any case) or a loopback IP
// literal (127.0.0.0/8, ::1), with or without the brackets of an IPv6
// literal. Other names are not resolved: what a name resolves to can
// change after the check.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if inner, ok := strings.CutPrefix(host, "["); ok {
		if host, ok = strings.CutSuffix(inner, "]"); !ok {
			return false
		}
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HostPort reports whether addr, a host:port, names a loopback host.
func HostPort(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && Host(host)
}

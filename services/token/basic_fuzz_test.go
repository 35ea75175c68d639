package token

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/fuzzseed"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
)

// FuzzBasicRoundTrip: client_secret_basic done as RFC 6749 §2.3.1 says
// (client_id and secret each form-urlencoded, joined by ':', then Base64)
// decodes back to exactly the client_id and secret, for every pair within
// the size limits; an empty part or an oversized one is refused as a
// challenge-carrying invalid_client, never truncated.
func FuzzBasicRoundTrip(f *testing.F) {
	fuzzseed.Sync(f, "FuzzBasicRoundTrip", []fuzzseed.Seed{
		{Name: "seed-plain", Args: []any{"c_partner", "s3cret"}},
		{Name: "seed-reserved-chars", Args: []any{"c:id", "p:ss%+&= word"}},
		{Name: "seed-percent-literal", Args: []any{"%41", "%zz%"}},
		{Name: "seed-plus-and-space", Args: []any{"a+b c", "+ +"}},
		{Name: "seed-unicode", Args: []any{"clïent", "sécret ☃"}},
		{Name: "seed-invalid-utf8", Args: []any{"\xff\xfe", "\x80"}},
		{Name: "seed-nul-and-newline", Args: []any{"a\x00b", "x\r\ny"}},
		{Name: "seed-empty-secret", Args: []any{"c_partner", ""}},
		{Name: "seed-empty-id", Args: []any{"", "secret"}},
		{Name: "seed-long-id", Args: []any{strings.Repeat("i", maxClientIDLen+1), "s"}},
		{Name: "seed-max-sizes", Args: []any{strings.Repeat("i", maxClientIDLen), strings.Repeat("%", maxSecretLen)}},
		{Name: "seed-colons", Args: []any{":::", ":"}},
	})
	f.Fuzz(func(t *testing.T, id, secret string) {
		raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
		header := "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
		if len(header) > maxAuthorizationLen {
			return // refused for its size, before decoding
		}
		c, failure := basicCredentials(header, &form{})
		fits := id != "" && secret != "" && len(id) <= maxClientIDLen && len(secret) <= maxSecretLen
		switch {
		case fits && failure != nil:
			t.Fatalf("well-formed credentials (%q, %q) refused: %v", id, secret, failure.err)
		case fits && (c.clientID != id || c.secret != secret):
			t.Fatalf("round trip of (%q, %q) gave (%q, %q)", id, secret, c.clientID, c.secret)
		case fits && (c.method != authSecretBasic || !c.viaHeader):
			t.Fatalf("credentials %+v: want client_secret_basic via the header", c)
		case !fits && failure == nil:
			t.Fatalf("(%q, %q) accepted: an empty or oversized part must be refused", id, secret)
		case !fits && (failure.err.Code != CodeInvalidClient || !failure.err.Challenge):
			t.Fatalf("(%q, %q) refused with %+v, want invalid_client with a Basic challenge", id, secret, failure.err)
		}
	})
}

// strictFormDecode is the reference decoder of one form-urlencoded part
// (WHATWG URL §5.1, RFC 6749 §2.3.1 / Appendix B): '+' is a space, '%'
// must be followed by two hex digits, every other byte stands for itself.
func strictFormDecode(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", false
			}
			b.WriteByte(unhexByte(s[i+1])<<4 | unhexByte(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhexByte(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// FuzzBasicDecode fuzzes the decoded Basic payload ("id:secret" before
// Base64, where the interesting mistakes are) against strictFormDecode:
// the header is accepted exactly when the payload has a ':' and both parts
// decode strictly to non-empty values within the limits, and then to the
// same values. Malformed percent-encoding ("%zz", "%4", a trailing "%") is
// refused, never passed through or half-decoded. The id is the part before
// the first ':' (an encoded id has none: ':' is %3A).
func FuzzBasicDecode(f *testing.F) {
	// "Basic " with nothing after it is not the Basic scheme at all once
	// trimmed: unsupported rather than malformed.
	refusalReasons := map[audit.Reason]bool{
		audit.ReasonMalformedCredential: true, audit.ReasonCredentialTooLarge: true, audit.ReasonUnsupportedCredential: true,
	}
	fuzzseed.Sync(f, "FuzzBasicDecode", []fuzzseed.Seed{
		{Name: "seed-plain", Args: []any{"c_partner:s3cret"}},
		{Name: "seed-encoded", Args: []any{"c%3Aid:p%3Ass%25%2B%26%3D+word"}},
		{Name: "seed-bad-percent", Args: []any{"c_partner:%zz"}},
		{Name: "seed-bad-percent-short", Args: []any{"c_partner:abc%4"}},
		{Name: "seed-bad-percent-trailing", Args: []any{"c_partner%:secret"}},
		{Name: "seed-bad-percent-unicode", Args: []any{"c_partner:%u00e9"}},
		{Name: "seed-percent-nul", Args: []any{"c_partner:a%00b"}},
		{Name: "seed-lowercase-hex", Args: []any{"c_partner:%e2%98%83"}},
		{Name: "seed-no-colon", Args: []any{"c_partner"}},
		{Name: "seed-empty-secret", Args: []any{"c_partner:"}},
		{Name: "seed-empty-id", Args: []any{":secret"}},
		{Name: "seed-raw-colon-in-secret", Args: []any{"c_partner:a:b"}},
		{Name: "seed-plus-id", Args: []any{"+:+"}},
		{Name: "seed-encoded-empty", Args: []any{"%20:%2B"}},
	})
	f.Fuzz(func(t *testing.T, payload string) {
		header := "Basic " + base64.StdEncoding.EncodeToString([]byte(payload))
		if len(header) > maxAuthorizationLen {
			return
		}
		c, failure := basicCredentials(header, &form{})
		encID, encSecret, colon := strings.Cut(payload, ":")
		id, okID := strictFormDecode(encID)
		secret, okSecret := strictFormDecode(encSecret)
		want := colon && okID && okSecret && id != "" && secret != "" && len(id) <= maxClientIDLen && len(secret) <= maxSecretLen
		switch {
		case want && failure != nil:
			t.Fatalf("payload %q refused (%s), want (%q, %q)", payload, failure.reason, id, secret)
		case want && (c.clientID != id || c.secret != secret):
			t.Fatalf("payload %q decoded to (%q, %q), want (%q, %q)", payload, c.clientID, c.secret, id, secret)
		case !want && failure == nil:
			t.Fatalf("payload %q accepted as (%q, %q): the reference decoder refuses it", payload, c.clientID, c.secret)
		case !want && (failure.err.Code != CodeInvalidClient || !failure.err.Challenge ||
			!refusalReasons[failure.reason]):
			t.Fatalf("payload %q refused with %s %+v, want a malformed-credential invalid_client with a challenge", payload, failure.reason, failure.err)
		}
	})
}

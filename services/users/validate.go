package users

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxEmailLen is the longest email address accepted, in bytes (RFC 5321
// §4.5.3.1.3 limits a path to 256 octets, 254 without the brackets).
const MaxEmailLen = 254

// FieldError is invalid input naming the offending field, so the API can
// answer InvalidArgument with a precise field violation.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// NormalizeEmail returns email trimmed and lower-cased, the form the store
// keeps and looks up, or a *FieldError for field when it does not look like
// an email address: exactly one @ with a non-empty local part and domain,
// no spaces or control characters, valid UTF-8, at most 254 bytes. It does
// not check that the domain exists.
func NormalizeEmail(field, email string) (string, error) {
	// Checked before lower-casing, which turns invalid bytes into U+FFFD.
	if !utf8.ValidString(email) {
		return "", fieldErr(field, "must be valid UTF-8")
	}
	e := strings.ToLower(strings.TrimSpace(email))
	switch {
	case e == "":
		return "", fieldErr(field, "required")
	case len(e) > MaxEmailLen:
		return "", fieldErr(field, "at most %d bytes", MaxEmailLen)
	case strings.ContainsFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", fieldErr(field, "must not contain spaces or control characters")
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", fieldErr(field, "must be an email address: one @ between a local part and a domain")
	}
	return e, nil
}

package users

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// MaxEmailLen is the longest email address accepted, in bytes (RFC 5321
// §4.5.3.1.3 limits a path to 256 octets, 254 without the brackets).
const MaxEmailLen = 254

// Limits of the profile claims, in bytes.
const (
	// MaxProfileTextLen bounds name, given_name and family_name.
	MaxProfileTextLen = 200
	// MaxPreferredUsernameLen bounds preferred_username.
	MaxPreferredUsernameLen = 128
	// MaxLocaleLen bounds locale: the length RFC 5646 §4.4.1 asks every
	// implementation to support.
	MaxLocaleLen = 35
)

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

// normalizeText returns a profile text claim trimmed of surrounding white
// space, or a *FieldError for field when it is not valid UTF-8, contains
// NUL or another control character once trimmed (NUL fails
// database.Storable; a tab or a line break inside breaks every display of
// the claim), or is longer than limit bytes once trimmed. Empty is valid:
// the claim is unknown.
func normalizeText(field, v string, limit int) (string, error) {
	if !utf8.ValidString(v) {
		return "", fieldErr(field, "must be valid UTF-8")
	}
	v = strings.TrimSpace(v)
	if strings.ContainsFunc(v, unicode.IsControl) {
		return "", fieldErr(field, "must not contain NUL or other control characters")
	}
	if len(v) > limit {
		return "", fieldErr(field, "at most %d bytes", limit)
	}
	return v, nil
}

// normalizeName is normalizeText for name, given_name and family_name.
func normalizeName(field, v string) (string, error) {
	return normalizeText(field, v, MaxProfileTextLen)
}

// normalizePreferredUsername is normalizeText for preferred_username, at
// most MaxPreferredUsernameLen bytes with no white space inside.
func normalizePreferredUsername(field, v string) (string, error) {
	v, err := normalizeText(field, v, MaxPreferredUsernameLen)
	if err != nil {
		return "", err
	}
	if strings.ContainsFunc(v, unicode.IsSpace) {
		return "", fieldErr(field, "must not contain white space")
	}
	return v, nil
}

// normalizeLocale returns a locale trimmed and in the canonical case of
// BCP 47 (RFC 5646 §2.1.1: en-US, zh-Hant-TW), or a *FieldError for field
// when it is not a well-formed tag of known subtags (x/text's language
// registry) of at most MaxLocaleLen bytes. Underscores (POSIX's en_US) are
// refused, not rewritten; deprecated subtags are kept as given (iw stays
// iw), while a grandfathered tag becomes its preferred value (i-klingon:
// tlh). Empty is valid: the locale is unknown.
func normalizeLocale(field, v string) (string, error) {
	v, err := normalizeText(field, v, MaxLocaleLen)
	if err != nil || v == "" {
		return v, err
	}
	bad := fieldErr(field, "must be a BCP 47 language tag such as en-US or fr-CA")
	if strings.ContainsFunc(v, func(r rune) bool { return r != '-' && !isASCIIAlnum(r) }) {
		return "", bad
	}
	// Raw: no canonicalization of deprecated subtags.
	tag, err := language.Raw.Parse(v)
	var unknown language.ValueError
	switch {
	case errors.As(err, &unknown):
		return "", fieldErr(field, "must be a BCP 47 language tag: unknown subtag %q", unknown.Subtag())
	case err != nil:
		return "", bad
	}
	canonical := tag.String()
	if len(canonical) > MaxLocaleLen {
		return "", fieldErr(field, "at most %d bytes", MaxLocaleLen)
	}
	return canonical, nil
}

func isASCIIAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

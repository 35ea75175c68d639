package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The JOSE header and the claims set are read by the small scanner below
// rather than by encoding/json, for two reasons: encoding/json keeps the
// last of duplicate members, and a member that one parser reads one way and
// another parser the other way is how `{"alg":"ES256","alg":"none"}`
// attacks work (RFC 8725 §3.7; RFC 7515 §5.2 lets a JWS with duplicate
// header names be refused). And it allocates only the strings it returns.
//
// Input is first checked with utf8.Valid and json.Valid, so the scanner
// walks well-formed JSON; it still checks bounds and returns
// errMalformedJSON instead of panicking.

var (
	errMalformedJSON   = errors.New("malformed JSON")
	errDuplicateMember = errors.New("duplicate JSON member")
)

// maxMembersLinear is how many members are checked for duplicates by a
// linear scan before a map is used.
const maxMembersLinear = 16

// validJSONObject reports whether data is valid UTF-8 JSON whose top-level
// value is an object.
func validJSONObject(data []byte) bool {
	if !utf8.Valid(data) || !json.Valid(data) {
		return false
	}
	i := skipWS(data, 0)
	return i < len(data) && data[i] == '{'
}

// forEachMember calls fn with the decoded name and raw value of every
// member of the JSON object data, in order. It fails on a duplicate name,
// compared after unescaping ("a\u006cg" is "alg"). data must have passed
// validJSONObject; nested values are skipped, not checked.
func forEachMember(data []byte, fn func(name, value []byte) error) error {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errMalformedJSON
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	var (
		small [maxMembersLinear][]byte
		seen  = small[:0]
		many  map[string]struct{}
	)
	for {
		if i >= len(data) || data[i] != '"' {
			return errMalformedJSON
		}
		end, err := skipString(data, i)
		if err != nil {
			return err
		}
		name, err := unquote(data[i:end])
		if err != nil {
			return err
		}
		// Duplicate check.
		if many == nil {
			for _, s := range seen {
				if bytes.Equal(s, name) { // not-secret: JSON member names
					return errDuplicateMember
				}
			}
			if len(seen) < maxMembersLinear {
				seen = append(seen, name)
			} else {
				many = make(map[string]struct{}, 2*maxMembersLinear)
				for _, s := range seen {
					many[string(s)] = struct{}{}
				}
			}
		}
		if many != nil {
			if _, dup := many[string(name)]; dup {
				return errDuplicateMember
			}
			many[string(name)] = struct{}{}
		}

		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return errMalformedJSON
		}
		i = skipWS(data, i+1)
		vend, err := skipValue(data, i)
		if err != nil {
			return err
		}
		if err := fn(name, data[i:vend]); err != nil {
			return err
		}
		i = skipWS(data, vend)
		if i >= len(data) {
			return errMalformedJSON
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return nil
		default:
			return errMalformedJSON
		}
	}
}

// forEachElement calls fn with the raw value of every element of the JSON
// array data (already validated).
func forEachElement(data []byte, fn func(value []byte) error) error {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return errMalformedJSON
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		return nil
	}
	for {
		vend, err := skipValue(data, i)
		if err != nil {
			return err
		}
		if err := fn(data[i:vend]); err != nil {
			return err
		}
		i = skipWS(data, vend)
		if i >= len(data) {
			return errMalformedJSON
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case ']':
			return nil
		default:
			return errMalformedJSON
		}
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at data[i] == '"'.
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errMalformedJSON
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errMalformedJSON
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipString(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errMalformedJSON
	default: // number, true, false, null
		j := i
		for j < len(data) {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return 0, errMalformedJSON
				}
				return j, nil
			}
			j++
		}
		if j == i {
			return 0, errMalformedJSON
		}
		return j, nil
	}
}

// unquote returns the content of the JSON string raw (with its quotes):
// the bytes themselves when there is no escape, else the decoded value.
func unquote(raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, errMalformedJSON
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errMalformedJSON
	}
	return []byte(s), nil
}

// jsonString returns the value of raw if it is a JSON string.
func jsonString(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	b, err := unquote(raw)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// maxNumericDate is 9999-12-31T23:59:59Z: a later NumericDate is refused
// rather than overflowing time arithmetic.
const maxNumericDate = 253402300799

// numericDate parses a RFC 7519 NumericDate: a non-negative JSON number of
// seconds since the epoch, possibly with a fraction, not after year 9999.
// Strings, booleans, null, negative numbers and overflowing floats are
// refused.
func numericDate(raw []byte) (time.Time, bool) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return time.Time{}, false
	}
	// Fast path: an integer of at most 12 digits cannot overflow.
	integer := len(raw) <= 12
	var n int64
	for i := 0; integer && i < len(raw); i++ {
		c := raw[i]
		if c < '0' || c > '9' {
			integer = false
			break
		}
		n = n*10 + int64(c-'0')
	}
	if integer {
		if n > maxNumericDate {
			return time.Time{}, false
		}
		return time.Unix(n, 0), true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

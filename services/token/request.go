package token

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

const (
	// maxBodyBytes caps request bodies of the OAuth endpoints (checklist
	// item 79): a larger body gets 413 without being read to the end.
	maxBodyBytes = 64 << 10
	// maxParams bounds the parameters of one request, which also bounds
	// the duplicate check.
	maxParams = 32
	// maxAuthorizationLen caps the Authorization header: longer values are
	// refused with no decoding or crypto work.
	maxAuthorizationLen = 4 << 10
)

// form holds the decoded parameters of an application/x-www-form-urlencoded
// body, in order. A handful of parameters: a slice beats a map.
type form struct {
	names, values []string
	// buf backs names and values for the usual handful of parameters,
	// so that a form is one allocation.
	buf [2 * formParams]string
}

// formParams is how many parameters a form holds before its slices grow.
const formParams = 6

// get returns the value of name; a parameter sent without a value is as if
// omitted (RFC 6749 §3.1).
func (f *form) get(name string) string {
	for i, n := range f.names {
		if n == name {
			return f.values[i]
		}
	}
	return ""
}

// all returns every non-empty value of name (only resource may repeat).
func (f *form) all(name string) []string {
	var out []string
	for i, n := range f.names {
		if n == name && f.values[i] != "" {
			out = append(out, f.values[i])
		}
	}
	return out
}

func (f *form) has(name string) bool { return f.get(name) != "" }

// set replaces or adds name.
func (f *form) set(name, value string) {
	for i, n := range f.names {
		if n == name {
			f.values[i] = value
			return
		}
	}
	f.names = append(f.names, name)
	f.values = append(f.values, value)
}

// del removes name.
func (f *form) del(name string) {
	for i := len(f.names) - 1; i >= 0; i-- {
		if f.names[i] == name {
			f.names = append(f.names[:i], f.names[i+1:]...)
			f.values = append(f.values[:i], f.values[i+1:]...)
		}
	}
}

// encode is the form as a form-encoded string again.
func (f *form) encode() string {
	var b strings.Builder
	for i, n := range f.names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(n))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(f.values[i]))
	}
	return b.String()
}

// repeatable names the parameters that may appear more than once: RFC 8707
// §2 allows several resource parameters.
func repeatable(name string) bool { return name == "resource" }

// readForm applies the transport rules shared by the OAuth POST endpoints
// (checklist item 57, RFC 6749 §3.1–3.2, §2.3.1) and returns the decoded
// body:
//   - nothing in the URL query: parameters and credentials belong in the
//     body (400);
//   - Content-Type application/x-www-form-urlencoded (400 otherwise);
//   - at most 64 KiB, refused with 413 without reading it all;
//   - no parameter twice (400), empty values dropped (§3.1).
func readForm(w http.ResponseWriter, r *http.Request) (*form, error) {
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		return nil, errInvalidRequest("parameters must be sent in the request body, not in the URL query")
	}
	if err := checkFormContentType(r.Header.Values("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > maxBodyBytes {
		return nil, errTooLarge()
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, maxBodyBytes), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge()
		}
		return nil, errInvalidRequest("the request body could not be read")
	}
	return parseForm(string(body))
}

// readBody reads body to its end into a buffer sized from the declared
// length (one byte more, to see the end without growing), where
// io.ReadAll would start at 512 bytes and grow and copy for a typical
// introspection or token request. The declared length only sizes the
// buffer: a body that is longer or shorter is still read whole, and the
// MaxBytesReader still bounds it.
func readBody(body io.Reader, declared int64) ([]byte, error) {
	size := 512
	if declared > 0 && declared < maxBodyBytes {
		size = int(declared) + 1
	}
	b := make([]byte, 0, size)
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func errTooLarge() *Error {
	return newError(CodeInvalidRequest, http.StatusRequestEntityTooLarge, "the request body is larger than 64 KiB")
}

func checkFormContentType(vals []string) error {
	if len(vals) != 1 {
		return errInvalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if vals[0] == contentTypeFormURLEncoded { // the common case, without allocation
		return nil
	}
	mt, params, err := mime.ParseMediaType(vals[0])
	if err != nil || mt != contentTypeFormURLEncoded {
		return errInvalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errInvalidRequest("the charset must be UTF-8")
	}
	return nil
}

// parseForm decodes an application/x-www-form-urlencoded body.
func parseForm(body string) (*form, error) {
	f := &form{}
	f.names, f.values = f.buf[:0:formParams], f.buf[formParams:formParams:2*formParams]
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return nil, errInvalidRequest("the request body is not valid form encoding")
		}
		if name == "" {
			return nil, errInvalidRequest("a parameter has no name")
		}
		if len(f.names) == maxParams {
			return nil, errInvalidRequest("too many parameters")
		}
		if !repeatable(name) {
			for _, n := range f.names {
				if n == name {
					// RFC 6749 §3.1: parameters MUST NOT be included
					// more than once.
					return nil, errInvalidRequest("parameter %s is repeated", name)
				}
			}
		}
		f.names = append(f.names, name)
		f.values = append(f.values, value)
	}
	return f, nil
}

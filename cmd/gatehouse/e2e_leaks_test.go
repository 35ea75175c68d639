package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
)

// Secrets never leave: every end-to-end test runs with a leak watch. It
// learns the secrets the tests see — client secrets, API keys, access and
// refresh tokens, authorization codes, passwords, code verifiers — from
// the CLI's JSON output and from every HTTP exchange made through
// http.DefaultTransport (the OAuth clients, the REST calls), and checks:
//
//   - when a server stops: its logs and its metrics hold none of them, nor
//     anything shaped like a JWT, an API key or a private key;
//   - on every error response (4xx, 5xx): the body and headers echo no
//     secret of the request and no internal detail (SQL, file paths,
//     stack traces).
//
// A finding names the kind of secret and where it was seen, never the
// secret.

// leaks is the watch of the whole test binary.
var leaks = newLeakWatch()

type leakWatch struct {
	mu       sync.Mutex
	secrets  map[string]string // value → kind
	problems []string
}

func newLeakWatch() *leakWatch { return &leakWatch{secrets: map[string]string{}} }

// minSecretLen keeps short values (a scope, a port) out of the watch: every
// real secret here is far longer.
const minSecretLen = 16

// add remembers a secret of the given kind.
func (w *leakWatch) add(kind, v string) {
	if len(v) < minSecretLen {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.secrets[v]; !ok {
		w.secrets[v] = kind
	}
}

// secretFields are the JSON members and form fields that carry a secret.
var secretFields = map[string]bool{
	"client_secret": true, "api_key": true, "access_token": true, "refresh_token": true,
	"id_token": true, "code": true, "code_verifier": true, "password": true, "private_jwk": true,
	"token": true, "assertion": true, "client_assertion": true,
}

// collectJSON remembers the secrets in a JSON document, at any depth.
func (w *leakWatch) collectJSON(b []byte) {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		case string:
			if secretFields[key] {
				w.add(key, x)
			}
		}
	}
	walk("", v)
}

// collectValues remembers the secrets of a form body or a query.
func (w *leakWatch) collectValues(vs url.Values) {
	for k, list := range vs {
		if secretFields[k] {
			for _, v := range list {
				w.add(k, v)
			}
		}
	}
}

// requestSecrets returns the secrets a request carries (its credential,
// its form's secret fields), remembering them too.
func (w *leakWatch) requestSecrets(r *http.Request, body []byte) []string {
	var out []string
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		for _, v := range r.Header.Values(h) {
			scheme, cred, ok := strings.Cut(v, " ")
			if !ok {
				cred = scheme
			}
			if strings.EqualFold(scheme, "basic") {
				if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
					if _, secret, ok := strings.Cut(string(dec), ":"); ok {
						if s, err := url.QueryUnescape(secret); err == nil {
							secret = s
						}
						cred = secret
					}
				}
			}
			w.add("credential", cred)
			out = append(out, cred)
		}
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if vs, err := url.ParseQuery(string(body)); err == nil {
			w.collectValues(vs)
			for k, list := range vs {
				if secretFields[k] {
					out = append(out, list...)
				}
			}
		}
	}
	if q := r.URL.Query(); len(q) > 0 {
		w.collectValues(q)
	}
	return slices.DeleteFunc(out, func(s string) bool { return len(s) < minSecretLen })
}

// collectResponse remembers what a response hands out: its JSON secrets,
// a code or token in a redirect, and cookies (refresh tokens).
func (w *leakWatch) collectResponse(resp *http.Response, body []byte) {
	w.collectJSON(body)
	if loc, err := resp.Location(); err == nil {
		w.collectValues(loc.Query())
		if frag, err := url.ParseQuery(loc.Fragment); err == nil {
			w.collectValues(frag)
		}
	}
	for _, c := range resp.Cookies() {
		w.add("cookie "+c.Name, c.Value)
	}
}

// internalDetail matches what a client must never see in an error.
var internalDetail = regexp.MustCompile(`(?i)SQLSTATE|sqlite|\bpgx?\b|\bpq:|syntax error at|goroutine \d+|\.go:\d+|panic:|/tmp/|/home/|/root/|/var/lib/`)

// checkErrorResponse records a problem when an error response echoes one
// of the request's secrets or an internal detail.
func (w *leakWatch) checkErrorResponse(r *http.Request, resp *http.Response, body []byte, reqSecrets []string) {
	if resp.StatusCode < 400 {
		return
	}
	var hdr strings.Builder
	for k, vs := range resp.Header {
		if k == "Set-Cookie" {
			continue // clearing a cookie names it, not its value
		}
		fmt.Fprintf(&hdr, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	seen := string(body) + "\n" + hdr.String()
	where := fmt.Sprintf("the %d answer to %s %s", resp.StatusCode, r.Method, r.URL.Path)
	for _, s := range reqSecrets {
		if strings.Contains(seen, s) {
			w.problem("a secret of the request is echoed in " + where)
		}
	}
	if m := internalDetail.FindString(seen); m != "" {
		w.problem(fmt.Sprintf("an internal detail (%q) is in %s", m, where))
	}
}

func (w *leakWatch) problem(p string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.problems = append(w.problems, p)
}

// summary counts the secrets watched, by kind.
func (w *leakWatch) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	byKind := map[string]int{}
	for _, k := range w.secrets {
		byKind[k]++
	}
	kinds := make([]string, 0, len(byKind))
	for k, n := range byKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d secrets watched (%s)", len(w.secrets), strings.Join(kinds, ", "))
}

// takeProblems returns the problems found so far and forgets them.
func (w *leakWatch) takeProblems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.problems
	w.problems = nil
	return p
}

// Shapes of secrets that must never be logged even if the tests never saw
// them: a JWT (header.payload.signature), an API key, a PEM private key.
var (
	jwtShape    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}`)
	apiKeyShape = regexp.MustCompile(regexp.QuoteMeta(apikey.Prefix) + `[A-Za-z0-9_-]+`)
)

// scan returns a finding for every secret or secret shape in text.
func (w *leakWatch) scan(where, text string) []string {
	w.mu.Lock()
	var kinds []string
	for v, kind := range w.secrets {
		if strings.Contains(text, v) {
			kinds = append(kinds, kind)
		}
	}
	w.mu.Unlock()
	sort.Strings(kinds)
	var out []string
	for _, k := range slices.Compact(kinds) {
		out = append(out, fmt.Sprintf("a %s seen by the test appears in %s", k, where))
	}
	if jwtShape.MatchString(text) {
		out = append(out, "something shaped like a JWT appears in "+where)
	}
	if slices.ContainsFunc(apiKeyShape.FindAllString(text, -1), apikey.Looks) {
		out = append(out, "something shaped like an API key appears in "+where)
	}
	if strings.Contains(text, "PRIVATE KEY") {
		out = append(out, "private key material appears in "+where)
	}
	return out
}

// watchingTransport is http.DefaultTransport with the leak watch.
type watchingTransport struct{ base http.RoundTripper }

func (wt watchingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil && r.GetBody != nil {
		// GetBody gives a fresh copy: the one sent is left alone.
		if rc, err := r.GetBody(); err == nil {
			body, _ = io.ReadAll(io.LimitReader(rc, 1<<20))
			_ = rc.Close()
		}
	}
	reqSecrets := leaks.requestSecrets(r, body)
	resp, err := wt.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "event-stream") {
		return resp, nil
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return resp, nil //nolint:nilerr // the reader sees the short body as the caller would have
	}
	leaks.collectResponse(resp, b)
	leaks.checkErrorResponse(r, resp, b, reqSecrets)
	return resp, nil
}

// watchHTTP installs the watch on http.DefaultTransport, for TestMain.
func watchHTTP() {
	http.DefaultTransport = watchingTransport{base: http.DefaultTransport}
}

// checkMetricsForLeaks scans the metrics of a running server.
func (s *server) checkMetricsForLeaks() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.creds.HTTPAddr+"/metrics", nil)
	if err != nil {
		return
	}
	// Not the watched transport: metrics are scanned, not collected.
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, f := range leaks.scan("the metrics", string(b)) {
		s.t.Error(f)
	}
}

// checkLogsForLeaks scans the logs of a stopped server, and reports the
// error responses found so far.
func (s *server) checkLogsForLeaks() {
	for _, f := range leaks.scan("the server logs", s.logs.String()) {
		s.t.Error(f)
	}
	for _, p := range leaks.takeProblems() {
		s.t.Error(p)
	}
}

// TestLeakWatch: the watch finds what it is for, so that a quiet run means
// something.
func TestLeakWatch(t *testing.T) {
	w := newLeakWatch()
	w.collectJSON([]byte(`{"client":{"client_id":"c_1"},"client_secret":"S3cr3t-value-of-a-client","items":[{"access_token":"at-0123456789abcdef"}],"code":16}`))
	w.collectValues(url.Values{"refresh_token": {"rt-0123456789abcdef0123"}, "scope": {"inventory:read-and-much-more"}})
	tests := []struct {
		name, text string
		want       int
	}{
		{"clean", `{"msg":"token issued","client_id":"c_1","scope":"inventory:read-and-much-more"}`, 0},
		{"client secret", `{"msg":"x","secret":"S3cr3t-value-of-a-client"}`, 1},
		{"access token", `at-0123456789abcdef`, 1},
		{"refresh token", `rt=rt-0123456789abcdef0123`, 1},
		{"a JWT never seen", `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjXzEifQ.MEUCIQDk3n9Jp4zqV0aXj1cYQ`, 1},
		{"private key", "-----BEGIN EC PRIVATE KEY-----", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.scan("the text", tt.text); len(got) != tt.want {
				t.Fatalf("findings %q, want %d", got, tt.want)
			}
		})
	}
	t.Run("error echoing the credential", func(t *testing.T) {
		r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/v1/x", nil) //nolint:noctx // not sent
		r.Header.Set("Authorization", "Bearer abcdefghijklmnopqrstuvwxyz")
		secrets := w.requestSecrets(r, nil)
		resp := &http.Response{StatusCode: 401, Header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token", error_description="abcdefghijklmnopqrstuvwxyz"`}}}
		w.checkErrorResponse(r, resp, nil, secrets)
		resp = &http.Response{StatusCode: 500, Header: http.Header{}}
		w.checkErrorResponse(r, resp, []byte(`{"message":"pq: relation \"clients\" does not exist"}`), nil)
		if p := w.takeProblems(); len(p) != 2 {
			t.Fatalf("problems %q, want 2", p)
		}
	})
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/users"
	userssqlstore "github.com/gatehouse-dev/gatehouse/services/users/sqlstore"
	"google.golang.org/grpc"
)

// usersFixture is the real UserService over a SQLite store, registered in
// the harness's server, with cheap hashing and a recording revoker.
type usersFixture struct {
	svc *users.Service
	rev *recordingRevoker
}

func newUsersFixture(t *testing.T, srv *grpc.Server) *usersFixture {
	t.Helper()
	store, err := userssqlstore.New(t.Context(), dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &usersFixture{rev: &recordingRevoker{}}
	cheap := users.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	f.svc = users.New(store, users.WithParams(cheap), users.WithRevoker(f.rev))
	usersv1.RegisterUserServiceServer(srv, f.svc)
	return f
}

// recordingRevoker records revocations, or fails while fail is set.
type recordingRevoker struct {
	mu   sync.Mutex
	reqs []*revocationv1.RevokeRequest
	fail bool
}

func (r *recordingRevoker) Revoke(_ context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return nil, errors.New("revocation list down")
	}
	r.reqs = append(r.reqs, req)
	return &revocationv1.RevokeResponse{Entry: &revocationv1.Entry{Kind: req.GetKind(), Id: req.GetId()}}, nil
}

func (r *recordingRevoker) requests() []*revocationv1.RevokeRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *recordingRevoker) setFail(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = v
}

// runStdin runs the CLI with the harness's credentials file and stdin.
func (h *harness) runStdin(stdin string, args ...string) result {
	h.t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--credentials", h.creds)
	code := Run(h.t.Context(), args, strings.NewReader(stdin), &out, &errOut, func(string) string { return "" })
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (h *harness) okStdin(stdin string, args ...string) string {
	h.t.Helper()
	r := h.runStdin(stdin, args...)
	if r.code != 0 || r.stderr != "" {
		h.t.Fatalf("gatehouse %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func (h *harness) authenticates(email, password string) bool {
	h.t.Helper()
	_, err := h.users.svc.Authenticate(h.t.Context(), email, password)
	if err != nil && !errors.Is(err, users.ErrInvalidCredentials) {
		h.t.Fatalf("Authenticate: %v", err)
	}
	return err == nil
}

const (
	userPW  = "correct horse battery staple"
	userPW2 = "an entirely new passphrase"
)

func TestUsers(t *testing.T) {
	h := newHarness(t)

	// Text create: the password comes from stdin and is never printed.
	out := h.okStdin(userPW+"\n", "users", "create", "--email", "Ann@Example.com", "--password-stdin")
	var annID string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "user_id:"); ok {
			annID = strings.TrimSpace(v)
		}
	}
	if !strings.HasPrefix(annID, "u_") || !strings.Contains(out, "Created user "+annID+".") ||
		!strings.Contains(out, "ann@example.com") || !strings.Contains(out, "status:") || strings.Contains(out, userPW) {
		t.Fatalf("users create (text):\n%s", out)
	}
	if !h.authenticates("ann@example.com", userPW) {
		t.Fatal("the password given on stdin does not authenticate")
	}

	// JSON create; CRLF line ending and later lines are not part of the
	// password.
	created := h.okJSONStdin(userPW+"\r\nsecond line\n", "users", "create", "--password-stdin", "--email", "bob@example.com")
	bobID := str(t, created, "user_id")
	if created["email"] != "bob@example.com" || created["disabled"] != false || created["create_time"] == nil || created["user"] != nil {
		t.Fatalf("users create -o json: %v", created)
	}
	for k := range created {
		if strings.Contains(k, "password") || strings.Contains(k, "hash") {
			t.Errorf("users create -o json has field %q", k)
		}
	}
	if !h.authenticates("bob@example.com", userPW) {
		t.Fatal("CRLF-terminated password does not authenticate")
	}
	// Without a final newline, the whole input is the password.
	carolID := str(t, h.okJSONStdin(userPW, "users", "create", "--email", "carol@example.com", "--password-stdin"), "user_id")
	if !h.authenticates("carol@example.com", userPW) {
		t.Fatal("password without a newline does not authenticate")
	}

	// get, text and JSON.
	got := h.ok("users", "get", annID)
	if !strings.Contains(got, "email:") || !strings.Contains(got, "ann@example.com") || !strings.Contains(got, "active") {
		t.Fatalf("users get:\n%s", got)
	}
	if g := h.okJSON("users", "get", annID); g["user_id"] != annID || g["email"] != "ann@example.com" {
		t.Fatalf("users get -o json: %v", g)
	}

	// list: pages of one, oldest first, and --all.
	var ids []string
	token := ""
	for range 5 {
		args := []string{"users", "list", "--page-size", "1"}
		if token != "" {
			args = append(args, "--page-token", token)
		}
		page := h.okJSON(args...)
		items := page["users"].([]any)
		if len(items) != 1 {
			t.Fatalf("page of %d users, want 1: %v", len(items), page)
		}
		ids = append(ids, items[0].(map[string]any)["user_id"].(string))
		token, _ = page["next_page_token"].(string)
		if token == "" {
			break
		}
	}
	if !slices.Equal(ids, []string{annID, bobID, carolID}) {
		t.Fatalf("paged list: %v", ids)
	}
	all := h.okJSON("users", "list", "--all", "--page-size", "2")
	if n := len(all["users"].([]any)); n != 3 || all["next_page_token"] != nil {
		t.Fatalf("users list --all: %d users, %v", n, all["next_page_token"])
	}
	text := h.ok("users", "list", "--page-size", "2")
	if !strings.Contains(text, "USER_ID") || !strings.Contains(text, "EMAIL") || !strings.Contains(text, "ann@example.com") ||
		strings.Contains(text, "carol@example.com") || !strings.Contains(text, "--page-token ") {
		t.Fatalf("users list (text):\n%s", text)
	}

	// disable: the user cannot sign in and a subject revocation is recorded.
	dis := h.ok("users", "disable", annID)
	if !strings.Contains(dis, "Disabled user "+annID) || !strings.Contains(dis, "disabled") {
		t.Fatalf("users disable:\n%s", dis)
	}
	if reqs := h.users.rev.requests(); len(reqs) != 1 || reqs[0].GetKind() != revocationv1.Kind_KIND_SUBJECT || reqs[0].GetId() != annID {
		t.Fatalf("revocations after disable: %v", reqs)
	}
	if h.authenticates("ann@example.com", userPW) {
		t.Fatal("a disabled user authenticates")
	}
	if g := h.okJSON("users", "get", annID); g["disabled"] != true {
		t.Fatalf("after disable: %v", g)
	}
	mask := h.lastRequest("UpdateUser").(*usersv1.UpdateUserRequest).GetUpdateMask().GetPaths()
	if !slices.Equal(mask, []string{"disabled"}) {
		t.Fatalf("update_mask %v, want [disabled]", mask)
	}

	// enable, JSON.
	en := h.okJSON("users", "enable", annID)
	if en["user_id"] != annID || en["disabled"] != false {
		t.Fatalf("users enable -o json: %v", en)
	}
	if !h.authenticates("ann@example.com", userPW) || len(h.users.rev.requests()) != 1 {
		t.Fatal("after enable: cannot sign in, or a revocation was recorded")
	}

	// set-password: the new password works, the old one does not.
	sp := h.okStdin(userPW2+"\n", "users", "set-password", annID, "--password-stdin")
	if !strings.Contains(sp, "Set the password of user "+annID) || strings.Contains(sp, userPW2) {
		t.Fatalf("users set-password:\n%s", sp)
	}
	if h.authenticates("ann@example.com", userPW) || !h.authenticates("ann@example.com", userPW2) {
		t.Fatal("set-password did not replace the password")
	}
	if j := h.okJSONStdin(userPW+"\n", "users", "set-password", "--password-stdin", annID); j["user_id"] != annID {
		t.Fatalf("users set-password -o json: %v", j)
	}

	// The revocation list is down: disable says what happened and what to do.
	h.users.rev.setFail(true)
	r := h.run("users", "disable", bobID)
	assertFailed(t, r, 1, "disable user "+bobID, "the user is disabled", "could not be revoked", "gatehouse users disable "+bobID)
	if strings.Contains(r.stderr, "cannot reach") {
		t.Errorf("a revocation failure reads as an unreachable server: %q", r.stderr)
	}
	h.users.rev.setFail(false)

	long := strings.Repeat("x", maxPasswordInput+1)
	failures := []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"missing --email", userPW, []string{"users", "create", "--password-stdin"}, []string{"--email is required"}},
		{"missing --password-stdin", userPW, []string{"users", "create", "--email", "dan@example.com"}, []string{"--password-stdin is required"}},
		{"empty stdin", "", []string{"users", "create", "--email", "dan@example.com", "--password-stdin"}, []string{"no password on stdin"}},
		{"empty first line", "\n" + userPW + "\n", []string{"users", "create", "--email", "dan@example.com", "--password-stdin"}, []string{"no password on stdin"}},
		{"huge stdin", long, []string{"users", "create", "--email", "dan@example.com", "--password-stdin"}, []string{"longer than"}},
		{"short password", "short\n", []string{"users", "create", "--email", "dan@example.com", "--password-stdin"}, []string{"create user dan@example.com", "password", "12 to 1024 bytes"}},
		{"bad email", userPW, []string{"users", "create", "--email", "dan", "--password-stdin"}, []string{"email", "email address"}},
		{"duplicate email", userPW, []string{"users", "create", "--email", "ANN@example.com", "--password-stdin"}, []string{"already exists"}},
		{"unknown user", "", []string{"users", "get", "u_nope"}, []string{"user u_nope: not found"}},
		{"disable unknown user", "", []string{"users", "disable", "u_nope"}, []string{"disable user u_nope", "not found"}},
		{"set-password unknown user", userPW, []string{"users", "set-password", "u_nope", "--password-stdin"}, []string{"not found"}},
		{"set-password without stdin flag", userPW, []string{"users", "set-password", annID}, []string{"--password-stdin is required"}},
		{"set-password short", "tiny\n", []string{"users", "set-password", annID, "--password-stdin"}, []string{"password"}},
		{"missing ID", "", []string{"users", "disable"}, []string{"missing ID"}},
		{"extra argument", "", []string{"users", "get", "a", "b"}, []string{`unexpected argument "b"`}},
		{"bad page size", "", []string{"users", "list", "--page-size", "1000"}, []string{"page_size"}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			r := h.runStdin(f.stdin, f.args...)
			assertFailed(t, r, 1, f.want...)
			for _, secret := range []string{userPW, "short", "tiny"} {
				if strings.Contains(r.stderr, secret) {
					t.Errorf("stderr echoes the password: %q", r.stderr)
				}
			}
		})
	}
	if !h.authenticates("ann@example.com", userPW) {
		t.Error("a refused set-password changed the password")
	}
	if n := len(h.okJSON("users", "list")["users"].([]any)); n != 3 {
		t.Errorf("refused creates left users behind: %d users", n)
	}
}

// TestUsersProfile: users create and users update carry the OpenID
// Connect profile claims, and update sends exactly the fields whose flags
// were given.
func TestUsersProfile(t *testing.T) {
	h := newHarness(t)

	// create with every profile flag: text shows them, JSON carries them.
	out := h.okStdin(userPW+"\n", "users", "create", "--email", "ann@example.com", "--password-stdin",
		"--name", "Ann Smith", "--given-name", "Ann", "--family-name", "Smith", "--preferred-username", "ann",
		"--locale", "en-us", "--email-verified")
	for _, want := range []string{"name:", "Ann Smith", "given_name:", "family_name:", "Smith", "preferred_username:", "locale:", "en-US", "email_verified:", "true"} {
		if !strings.Contains(out, want) {
			t.Errorf("users create (text) lacks %q:\n%s", want, out)
		}
	}
	var id string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "user_id:"); ok {
			id = strings.TrimSpace(v)
		}
	}
	full := map[string]any{"name": "Ann Smith", "given_name": "Ann", "family_name": "Smith", "preferred_username": "ann", "locale": "en-US", "email_verified": true}
	assertUserJSON(t, "users get", h.okJSON("users", "get", id), full)

	// create without them: empty profile, shown as dashes and false.
	bare := h.okStdin(userPW+"\n", "users", "create", "--email", "bob@example.com", "--password-stdin")
	if !strings.Contains(bare, "email_verified:") || !strings.Contains(bare, "false") || !strings.Contains(bare, "locale:") {
		t.Errorf("users create without a profile:\n%s", bare)
	}
	tests := []struct {
		name string
		args []string
		mask []string
		want map[string]any // fields of the user after the update
	}{
		{
			"one flag", []string{"--given-name", "Annie"}, []string{"given_name"},
			map[string]any{"name": "Ann Smith", "given_name": "Annie", "family_name": "Smith", "preferred_username": "ann", "locale": "en-US", "email_verified": true},
		},
		{
			"several flags in mask order", []string{"--locale", "FR-ca", "--name", " Ann B. Smith "}, []string{"name", "locale"},
			map[string]any{"name": "Ann B. Smith", "given_name": "Annie", "locale": "fr-CA", "email_verified": true},
		},
		{
			"empty values clear", []string{"--family-name", "", "--preferred-username="}, []string{"family_name", "preferred_username"},
			map[string]any{"name": "Ann B. Smith", "family_name": "", "preferred_username": "", "email_verified": true},
		},
		{
			"email_verified false", []string{"--email-verified=false"}, []string{"email_verified"},
			map[string]any{"name": "Ann B. Smith", "email_verified": false},
		},
		{
			"email_verified true", []string{"--email-verified"}, []string{"email_verified"},
			map[string]any{"email_verified": true},
		},
		{
			"new email clears email_verified", []string{"--email", "Ann2@Example.com"}, []string{"email"},
			map[string]any{"email": "ann2@example.com", "email_verified": false, "name": "Ann B. Smith"},
		},
		{
			"new email verified at once", []string{"--email-verified", "--email", "ann3@example.com"}, []string{"email", "email_verified"},
			map[string]any{"email": "ann3@example.com", "email_verified": true},
		},
		{
			"every flag", []string{
				"--email", "ann@example.com", "--name", "山田 太郎", "--given-name", "太郎", "--family-name", "山田",
				"--preferred-username", "taro", "--locale", "ja-JP", "--email-verified=true", "--disabled=false",
			},
			[]string{"email", "name", "given_name", "family_name", "preferred_username", "locale", "email_verified", "disabled"},
			map[string]any{"email": "ann@example.com", "name": "山田 太郎", "given_name": "太郎", "family_name": "山田", "preferred_username": "taro", "locale": "ja-JP", "email_verified": true, "disabled": false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := h.okJSON(append([]string{"users", "update", id}, tc.args...)...)
			assertUserJSON(t, "users update -o json", got, tc.want)
			mask := h.lastRequest("UpdateUser").(*usersv1.UpdateUserRequest).GetUpdateMask().GetPaths()
			if !slices.Equal(mask, tc.mask) {
				t.Errorf("update_mask %v, want %v", mask, tc.mask)
			}
			assertUserJSON(t, "users get", h.okJSON("users", "get", id), tc.want)
		})
	}

	// Text update names what changed and prints the user.
	text := h.ok("users", "update", id, "--locale", "de-DE")
	if !strings.Contains(text, "Updated user "+id+" (locale).") || !strings.Contains(text, "de-DE") || !strings.Contains(text, "taro") {
		t.Errorf("users update (text):\n%s", text)
	}

	// --disabled through update revokes as disable does.
	if got := h.okJSON("users", "update", id, "--disabled"); got["disabled"] != true {
		t.Fatalf("users update --disabled: %v", got)
	}
	if reqs := h.users.rev.requests(); len(reqs) != 1 || reqs[0].GetId() != id {
		t.Fatalf("revocations after update --disabled: %v", reqs)
	}
	h.users.rev.setFail(true)
	assertFailed(t, h.run("users", "update", id, "--disabled=true"), 1, "update user "+id, "the user is disabled", "could not be revoked")
	h.users.rev.setFail(false)

	failures := []struct {
		name string
		args []string
		want []string
	}{
		{"no flags", []string{"users", "update", id}, []string{"nothing to change", "--name", "--email-verified"}},
		{"bad locale", []string{"users", "update", id, "--locale", "en_US"}, []string{"update user " + id, "locale", "BCP 47"}},
		{"white space in preferred username", []string{"users", "update", id, "--preferred-username", "a b"}, []string{"preferred_username", "white space"}},
		{"name too long", []string{"users", "update", id, "--name", strings.Repeat("n", 201)}, []string{"name", "200 bytes"}},
		{"bad email", []string{"users", "update", id, "--email", "nope"}, []string{"email"}},
		{"unknown user", []string{"users", "update", "u_nope", "--name", "X"}, []string{"update user u_nope", "not found"}},
		{"missing ID", []string{"users", "update", "--name", "X"}, []string{"missing ID"}},
		{"bad boolean", []string{"users", "update", id, "--email-verified=maybe"}, []string{"email-verified"}},
		{"create with bad locale", []string{"users", "create", "--email", "carol@example.com", "--password-stdin", "--locale", "english"}, []string{"locale"}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			r := h.runStdin(userPW+"\n", f.args...)
			if r.code == 0 {
				t.Fatalf("exit 0, stdout %q", r.stdout)
			}
			for _, w := range f.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %q", w, r.stderr)
				}
			}
		})
	}
	// The refused updates changed nothing.
	assertUserJSON(t, "users get after refusals", h.okJSON("users", "get", id), map[string]any{"locale": "de-DE", "name": "山田 太郎", "preferred_username": "taro"})
	if n := len(h.okJSON("users", "list")["users"].([]any)); n != 2 {
		t.Errorf("a refused create left a user behind: %d users", n)
	}
}

// assertUserJSON checks fields of a user printed with -o json; a nil want
// means the field is absent (empty or false, which JSON output omits).
func assertUserJSON(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %#v, want %#v", what, k, got[k], v)
		}
	}
}

func (h *harness) okJSONStdin(stdin string, args ...string) map[string]any {
	h.t.Helper()
	out := h.okStdin(stdin, append(args, "-o", "json")...)
	m := map[string]any{}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		h.t.Fatalf("gatehouse %s -o json: not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

func TestUsersHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"users: manage user accounts", "gatehouse users create --email E --password-stdin", "gatehouse users set-password ID --password-stdin"}},
		{[]string{"users", "-h"}, []string{"create", "get", "list", "update", "disable", "enable", "set-password"}},
		{[]string{"help", "users", "create"}, []string{"-email", "-password-stdin", "first line of stdin", "-name", "-given-name", "-family-name", "-preferred-username", "-locale", "-email-verified", "no email-verification flow"}},
		{[]string{"help", "users", "update"}, []string{"gatehouse users update ID", "-email", "-name", "-given-name", "-family-name", "-preferred-username", "-locale", "-email-verified", "-disabled", "only those"}},
		{[]string{"users", "list", "-h"}, []string{"-page-size", "-page-token", "-all"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(t.Context(), tc.args, strings.NewReader(""), &out, &errOut, func(string) string { return "" })
			if code != 0 || errOut.Len() != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("usage lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestReadPassword(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"pw\n", "pw", true},
		{"pw\r\n", "pw", true},
		{"pw", "pw", true},
		{"  spaced pw  \n", "  spaced pw  ", true},
		{"first\nsecond\n", "first", true},
		{"", "", false},
		{"\n", "", false},
		{"\r\n", "", false},
	}
	for _, tc := range tests {
		got, err := readPassword("x", true, strings.NewReader(tc.in))
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("readPassword(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if _, err := readPassword("x", true, nil); err == nil {
		t.Error("readPassword(nil stdin): no error")
	}
}

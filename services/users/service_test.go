package users_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/users"
	"github.com/gatehouse-dev/gatehouse/services/users/sqlstore"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// cheap are parameters fast enough for tests.
var cheap = users.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const (
	password  = "correct horse battery staple"
	password2 = "another long enough password"
)

// fakeRevoker records revocations, or fails while fail is set.
type fakeRevoker struct {
	mu   sync.Mutex
	reqs []*revocationv1.RevokeRequest
	fail bool
}

func (f *fakeRevoker) Revoke(_ context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("revocation list down")
	}
	f.reqs = append(f.reqs, req)
	return &revocationv1.RevokeResponse{Entry: &revocationv1.Entry{Kind: req.GetKind(), Id: req.GetId()}}, nil
}

func (f *fakeRevoker) requests() []*revocationv1.RevokeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakeRevoker) setFail(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = v
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	svc   *users.Service
	store users.Store
	rev   *fakeRevoker
	clock *clock
	logs  *bytes.Buffer
}

func newEnv(t *testing.T, opts ...users.Option) *env {
	t.Helper()
	store, err := sqlstore.New(t.Context(), dbtest.SQLiteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, rev: &fakeRevoker{}, clock: &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}, logs: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = users.New(store, append([]users.Option{
		users.WithParams(cheap), users.WithRevoker(e.rev), users.WithClock(e.clock.now), users.WithLogger(log),
	}, opts...)...)
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) create(t *testing.T, email, pw string) *usersv1.User {
	t.Helper()
	resp, err := e.svc.CreateUser(t.Context(), &usersv1.CreateUserRequest{Email: email, Password: pw})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return resp.GetUser()
}

func (e *env) update(ctx context.Context, u *usersv1.User, paths ...string) (*usersv1.User, error) {
	resp, err := e.svc.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: u, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
	return resp.GetUser(), err
}

// assertCode checks a status code and, for InvalidArgument, the field of
// the BadRequest violation.
func assertCode(t *testing.T, err error, code codes.Code, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("error %v: code %v, want %v", err, st.Code(), code)
	}
	if field == "" {
		return
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
			}
		}
	}
	t.Errorf("error %v: no field violation for %q", err, field)
}

var idPattern = regexp.MustCompile(`^u_[a-z2-7]{26}$`)

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "  Ann.Smith@Example.COM ", password)
	now := e.clock.now()
	if !idPattern.MatchString(u.GetUserId()) || u.GetEmail() != "ann.smith@example.com" || u.GetDisabled() ||
		!u.GetCreateTime().AsTime().Equal(now) || !u.GetUpdateTime().AsTime().Equal(now) {
		t.Fatalf("CreateUser = %v", u)
	}
	stored, err := e.store.Get(t.Context(), u.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(stored.PasswordHash, password) {
		t.Errorf("stored hash %q: want argon2id with the service's params", stored.PasswordHash)
	}
	other := e.create(t, "bob@example.com", password)
	if other.GetUserId() == u.GetUserId() {
		t.Error("two users got one id")
	}

	tests := []struct {
		name, email, password string
		code                  codes.Code
		field                 string
	}{
		{"no email", "", password, codes.InvalidArgument, "email"},
		{"not an email", "ann", password, codes.InvalidArgument, "email"},
		{"two @", "a@b@example.com", password, codes.InvalidArgument, "email"},
		{"email too long", strings.Repeat("a", 250) + "@b.co", password, codes.InvalidArgument, "email"},
		{"no password", "c@example.com", "", codes.InvalidArgument, "password"},
		{"short password", "c@example.com", "elevenchars", codes.InvalidArgument, "password"},
		{"long password", "c@example.com", strings.Repeat("x", 1025), codes.InvalidArgument, "password"},
		{"password not UTF-8", "c@example.com", "twelve bytes\xff", codes.InvalidArgument, "password"},
		{"duplicate email", "ann.smith@example.com", password, codes.AlreadyExists, ""},
		{"duplicate email, other case", "ANN.SMITH@example.com", password, codes.AlreadyExists, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateUser(t.Context(), &usersv1.CreateUserRequest{Email: tc.email, Password: tc.password})
			assertCode(t, err, tc.code, tc.field)
		})
	}
}

func TestGetAndListUsers(t *testing.T) {
	e := newEnv(t)
	var want []string
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"} {
		want = append(want, e.create(t, email, password).GetUserId())
		e.clock.advance(time.Second)
	}
	got, err := e.svc.GetUser(t.Context(), &usersv1.GetUserRequest{UserId: want[2]})
	if err != nil || got.GetUser().GetEmail() != "c@example.com" {
		t.Fatalf("GetUser = %v, %v", got, err)
	}
	_, err = e.svc.GetUser(t.Context(), &usersv1.GetUserRequest{UserId: "u_nope"})
	assertCode(t, err, codes.NotFound, "")
	_, err = e.svc.GetUser(t.Context(), &usersv1.GetUserRequest{})
	assertCode(t, err, codes.InvalidArgument, "user_id")

	var paged []string
	tok := ""
	for range 5 {
		resp, err := e.svc.ListUsers(t.Context(), &usersv1.ListUsersRequest{PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range resp.GetUsers() {
			paged = append(paged, u.GetUserId())
		}
		if tok = resp.GetNextPageToken(); tok == "" {
			break
		}
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged ListUsers = %v, want %v (creation order)", paged, want)
	}
	all, err := e.svc.ListUsers(t.Context(), &usersv1.ListUsersRequest{})
	if err != nil || len(all.GetUsers()) != 5 || all.GetNextPageToken() != "" {
		t.Errorf("ListUsers with defaults = %d users, token %q, %v", len(all.GetUsers()), all.GetNextPageToken(), err)
	}
	for _, req := range []*usersv1.ListUsersRequest{{PageSize: -1}, {PageSize: 501}} {
		_, err := e.svc.ListUsers(t.Context(), req)
		assertCode(t, err, codes.InvalidArgument, "page_size")
	}
	for _, tok := range []string{"!!", "bm90IGEgY3Vyc29y", "MTIz"} {
		_, err := e.svc.ListUsers(t.Context(), &usersv1.ListUsersRequest{PageToken: tok})
		assertCode(t, err, codes.InvalidArgument, "page_token")
	}
}

func TestUpdateUser(t *testing.T) {
	e := newEnv(t)
	ann := e.create(t, "ann@example.com", password)
	e.create(t, "bob@example.com", password)
	e.clock.advance(time.Minute)

	got, err := e.update(t.Context(), &usersv1.User{UserId: ann.GetUserId(), Email: " Ann2@Example.com", Disabled: true}, "email")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetEmail() != "ann2@example.com" || got.GetDisabled() || !got.GetUpdateTime().AsTime().Equal(e.clock.now()) ||
		!got.GetCreateTime().AsTime().Equal(ann.GetCreateTime().AsTime()) {
		t.Errorf("update email: %v (only the masked field may change)", got)
	}
	if len(e.rev.requests()) != 0 {
		t.Error("an email change recorded a revocation")
	}

	tests := []struct {
		name  string
		user  *usersv1.User
		paths []string
		code  codes.Code
		field string
	}{
		{"no user", nil, []string{"disabled"}, codes.InvalidArgument, "user.user_id"},
		{"no user id", &usersv1.User{Disabled: true}, []string{"disabled"}, codes.InvalidArgument, "user.user_id"},
		{"empty mask", &usersv1.User{UserId: ann.GetUserId()}, nil, codes.InvalidArgument, "update_mask"},
		{"user_id in mask", &usersv1.User{UserId: ann.GetUserId()}, []string{"user_id"}, codes.InvalidArgument, "update_mask"},
		{"create_time in mask", &usersv1.User{UserId: ann.GetUserId()}, []string{"create_time"}, codes.InvalidArgument, "update_mask"},
		{"password in mask", &usersv1.User{UserId: ann.GetUserId()}, []string{"password"}, codes.InvalidArgument, "update_mask"},
		{"bad email", &usersv1.User{UserId: ann.GetUserId(), Email: "nope"}, []string{"email"}, codes.InvalidArgument, "user.email"},
		{"empty email", &usersv1.User{UserId: ann.GetUserId()}, []string{"email"}, codes.InvalidArgument, "user.email"},
		{"taken email", &usersv1.User{UserId: ann.GetUserId(), Email: "BOB@example.com"}, []string{"email"}, codes.AlreadyExists, ""},
		{"unknown user", &usersv1.User{UserId: "u_nope", Disabled: true}, []string{"disabled"}, codes.NotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.update(t.Context(), tc.user, tc.paths...)
			assertCode(t, err, tc.code, tc.field)
		})
	}
	if len(e.rev.requests()) != 0 {
		t.Error("a refused update recorded a revocation")
	}
}

func TestDisableRecordsRevocation(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "ann@example.com", password)
	id := u.GetUserId()

	got, err := e.update(t.Context(), &usersv1.User{UserId: id, Disabled: true}, "disabled")
	if err != nil || !got.GetDisabled() {
		t.Fatalf("disable: %v, %v", got, err)
	}
	reqs := e.rev.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d revocations recorded, want 1", len(reqs))
	}
	r := reqs[0]
	wantExpiry := e.clock.now().Add(30 * 24 * time.Hour)
	if r.GetKind() != revocationv1.Kind_KIND_SUBJECT || r.GetId() != id || r.GetReason() == "" || !r.GetExpireTime().AsTime().Equal(wantExpiry) {
		t.Errorf("revocation %v, want KIND_SUBJECT %s expiring at %v", r, id, wantExpiry)
	}
	if _, err := e.svc.Authenticate(t.Context(), "ann@example.com", password); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("Authenticate of a disabled user = %v, want ErrInvalidCredentials", err)
	}

	// Enabling records nothing, and the user can sign in again.
	if _, err := e.update(t.Context(), &usersv1.User{UserId: id, Disabled: false}, "disabled"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.rev.requests()); n != 1 {
		t.Errorf("enabling recorded a revocation (%d in all)", n)
	}
	if _, err := e.svc.Authenticate(t.Context(), "ann@example.com", password); err != nil {
		t.Errorf("Authenticate after re-enabling: %v", err)
	}

	// The revocation list is down: the call fails with Unavailable, the
	// user is disabled nonetheless, and a retry records the revocation.
	e.rev.setFail(true)
	_, err = e.update(t.Context(), &usersv1.User{UserId: id, Disabled: true}, "disabled")
	assertCode(t, err, codes.Unavailable, "")
	if stored, err := e.store.Get(t.Context(), id); err != nil || !stored.Disabled {
		t.Errorf("after a failed revocation the user is %+v, %v; want disabled", stored, err)
	}
	e.rev.setFail(false)
	if _, err := e.update(t.Context(), &usersv1.User{UserId: id, Disabled: true}, "disabled"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if reqs := e.rev.requests(); len(reqs) != 2 || reqs[1].GetId() != id {
		t.Errorf("after the retry: %v, want a second revocation of %s", reqs, id)
	}

	// Without a revoker, disabling works and records nothing.
	bare := users.New(e.store, users.WithParams(cheap))
	if _, err := bare.UpdateUser(t.Context(), &usersv1.UpdateUserRequest{
		User: &usersv1.User{UserId: id, Disabled: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}},
	}); err != nil {
		t.Errorf("disable without a revoker: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "ann@example.com", password)
	got, err := e.svc.Authenticate(t.Context(), "  ANN@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.GetUserId() || got.Email != "ann@example.com" || got.PasswordHash != "" || got.Disabled {
		t.Errorf("Authenticate = %+v; want the user without its hash", got)
	}

	e.create(t, "off@example.com", password)
	off, err := e.store.GetByEmail(t.Context(), "off@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.update(t.Context(), &usersv1.User{UserId: off.ID, Disabled: true}, "disabled"); err != nil {
		t.Fatal(err)
	}
	refused := []struct{ name, email, password string }{
		{"wrong password", "ann@example.com", password2},
		{"empty password", "ann@example.com", ""},
		{"password prefix", "ann@example.com", password[:len(password)-1]},
		{"unknown email", "nobody@example.com", password},
		{"malformed email", "not-an-email", password},
		{"empty email", "", password},
		{"disabled user, right password", "off@example.com", password},
		{"disabled user, wrong password", "off@example.com", password2},
		{"password too long", "ann@example.com", strings.Repeat("x", users.MaxPasswordLen+1)},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.svc.Authenticate(t.Context(), tc.email, tc.password)
			if err != users.ErrInvalidCredentials || got != (users.User{}) { //nolint:errorlint // the same sentinel, unwrapped, for every refusal
				t.Errorf("Authenticate = %+v, %v; want ErrInvalidCredentials", got, err)
			}
		})
	}
}

// failingStore fails every read.
type failingStore struct{ users.Store }

func (failingStore) GetByEmail(context.Context, string) (users.User, error) {
	return users.User{}, errors.New("database down")
}

func TestAuthenticateErrors(t *testing.T) {
	e := newEnv(t)
	down := users.New(failingStore{e.store}, users.WithParams(cheap))
	if _, err := down.Authenticate(t.Context(), "ann@example.com", password); err == nil || errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("Authenticate with the store down = %v, want an error other than ErrInvalidCredentials", err)
	}

	u := e.create(t, "ann@example.com", password)
	if _, err := e.store.Update(t.Context(), u.GetUserId(), func(u *users.User) error {
		u.PasswordHash = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Authenticate(t.Context(), "ann@example.com", password)
	if !errors.Is(err, users.ErrInvalidHash) {
		t.Errorf("Authenticate with a 4 GiB stored hash = %v, want ErrInvalidHash", err)
	}
}

func TestAuthenticateRehashes(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "ann@example.com", password)
	before, err := e.store.Get(t.Context(), u.GetUserId())
	if err != nil {
		t.Fatal(err)
	}

	stronger := users.Params{Memory: 128, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32}
	svc2 := users.New(e.store, users.WithParams(stronger), users.WithClock(e.clock.now))
	// A wrong password does not rehash.
	if _, err := svc2.Authenticate(t.Context(), "ann@example.com", password2); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if cur, _ := e.store.Get(t.Context(), u.GetUserId()); cur.PasswordHash != before.PasswordHash {
		t.Fatal("a failed sign-in replaced the hash")
	}
	if _, err := svc2.Authenticate(t.Context(), "ann@example.com", password); err != nil {
		t.Fatal(err)
	}
	after, err := e.store.Get(t.Context(), u.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(after.PasswordHash, "$argon2id$v=19$m=128,t=2,p=2$") {
		t.Errorf("after sign-in the hash is %q, want one with the new params", after.PasswordHash)
	}
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("a rehash moved update_time from %v to %v", before.UpdatedAt, after.UpdatedAt)
	}
	// Both services still accept the password (the old one verifies any
	// well-formed hash and would rehash back).
	if _, err := svc2.Authenticate(t.Context(), "ann@example.com", password); err != nil {
		t.Errorf("second sign-in: %v", err)
	}
	if _, err := e.svc.Authenticate(t.Context(), "ann@example.com", password); err != nil {
		t.Errorf("sign-in with the original params: %v", err)
	}
}

func TestSetPassword(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "ann@example.com", password)
	e.clock.advance(time.Minute)
	resp, err := e.svc.SetPassword(t.Context(), &usersv1.SetPasswordRequest{UserId: u.GetUserId(), Password: password2})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetUser().GetUpdateTime().AsTime().Equal(e.clock.now()) || resp.GetUser().GetEmail() != "ann@example.com" {
		t.Errorf("SetPassword = %v", resp.GetUser())
	}
	if _, err := e.svc.Authenticate(t.Context(), "ann@example.com", password); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("old password after SetPassword: %v, want ErrInvalidCredentials", err)
	}
	if _, err := e.svc.Authenticate(t.Context(), "ann@example.com", password2); err != nil {
		t.Errorf("new password after SetPassword: %v", err)
	}

	tests := []struct {
		name  string
		req   *usersv1.SetPasswordRequest
		code  codes.Code
		field string
	}{
		{"no user id", &usersv1.SetPasswordRequest{Password: password}, codes.InvalidArgument, "user_id"},
		{"short password", &usersv1.SetPasswordRequest{UserId: u.GetUserId(), Password: "short"}, codes.InvalidArgument, "password"},
		{"password not UTF-8", &usersv1.SetPasswordRequest{UserId: u.GetUserId(), Password: "\xff\xfe twelve bytes"}, codes.InvalidArgument, "password"},
		{"unknown user", &usersv1.SetPasswordRequest{UserId: "u_nope", Password: password}, codes.NotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.SetPassword(t.Context(), tc.req)
			assertCode(t, err, tc.code, tc.field)
		})
	}
	if _, err := e.svc.Authenticate(t.Context(), "ann@example.com", password2); err != nil {
		t.Errorf("refused SetPassword calls changed the password: %v", err)
	}
}

// TestNoSecretsInLogs runs every path, failures included, and checks that
// no password or hash reaches the log.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	u := e.create(t, "ann@example.com", password)
	ctx := t.Context()
	stored, err := e.store.Get(ctx, u.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = e.svc.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "ann@example.com", Password: password2})
	_, _ = e.svc.SetPassword(ctx, &usersv1.SetPasswordRequest{UserId: u.GetUserId(), Password: password2})
	_, _ = e.svc.Authenticate(ctx, "ann@example.com", password)
	_, _ = e.svc.Authenticate(ctx, "ann@example.com", password2)
	_, _ = e.svc.Authenticate(ctx, "nobody@example.com", password)
	e.rev.setFail(true)
	_, _ = e.update(ctx, &usersv1.User{UserId: u.GetUserId(), Disabled: true}, "disabled")
	after, err := e.store.Get(ctx, u.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("nothing was logged; the test proves nothing")
	}
	for _, secret := range []string{password, password2, stored.PasswordHash, after.PasswordHash, "$argon2id$"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q:\n%s", secret, logs)
		}
	}
}

// unreachableStore fails every read of one user as a database that is
// away does, or with err.
type unreachableStore struct {
	users.Store
	err error
}

func (s unreachableStore) Get(context.Context, string) (users.User, error) {
	return users.User{}, s.err
}

// TestStoreUnavailableIsUnavailable: a store that cannot be reached is
// Unavailable at the API (callers retry, REST answers 503); any other
// store failure stays Internal.
func TestStoreUnavailableIsUnavailable(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"connection dropped", fmt.Errorf("users: get: %w", io.ErrUnexpectedEOF), codes.Unavailable},
		{"connection refused", fmt.Errorf("users: get: %w", &pgconn.ConnectError{}), codes.Unavailable},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, codes.Unavailable},
		{"a bug", errors.New("users: scan: unexpected column"), codes.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := users.New(unreachableStore{e.store, tc.err}, users.WithParams(cheap))
			_, err := svc.GetUser(t.Context(), &usersv1.GetUserRequest{UserId: "u_abcdefghijklmnopqrstuvwxyz"})
			if status.Code(err) != tc.want {
				t.Fatalf("GetUser: %v, want %v", err, tc.want)
			}
		})
	}
}

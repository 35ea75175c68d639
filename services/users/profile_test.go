package users_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/internal/gatewaytest"
	"github.com/gatehouse-dev/gatehouse/services/users"
)

// profileOf is the profile part of a user, for comparisons.
type profileOf struct {
	Name, GivenName, FamilyName, PreferredUsername, Locale string
	EmailVerified                                          bool
}

func protoProfile(u *usersv1.User) profileOf {
	return profileOf{u.GetName(), u.GetGivenName(), u.GetFamilyName(), u.GetPreferredUsername(), u.GetLocale(), u.GetEmailVerified()}
}

func storedProfile(u users.User) profileOf {
	return profileOf{u.Name, u.GivenName, u.FamilyName, u.PreferredUsername, u.Locale, u.EmailVerified}
}

func TestCreateUserProfile(t *testing.T) {
	e := newEnv(t)
	// Valid profiles, as given and as stored.
	valid := []struct {
		name string
		req  *usersv1.CreateUserRequest
		want profileOf
	}{
		{"no profile", &usersv1.CreateUserRequest{}, profileOf{}},
		{
			"every claim",
			&usersv1.CreateUserRequest{Name: "Ann Smith", GivenName: "Ann", FamilyName: "Smith", PreferredUsername: "ann", Locale: "en-US", EmailVerified: true},
			profileOf{"Ann Smith", "Ann", "Smith", "ann", "en-US", true},
		},
		{
			"trimmed",
			&usersv1.CreateUserRequest{Name: "  Ann Smith\u00a0", GivenName: "\tAnn ", FamilyName: " Smith", PreferredUsername: " ann ", Locale: " fr-CA "},
			profileOf{"Ann Smith", "Ann", "Smith", "ann", "fr-CA", false},
		},
		{
			"unicode",
			&usersv1.CreateUserRequest{Name: "山田 太郎", GivenName: "Zoe\u0308", FamilyName: "Müller-Lüdenscheidt", PreferredUsername: "jörg_🎌", Locale: "zh-Hant-TW"},
			profileOf{"山田 太郎", "Zoe\u0308", "Müller-Lüdenscheidt", "jörg_🎌", "zh-Hant-TW", false},
		},
		{"locale in canonical case", &usersv1.CreateUserRequest{Locale: "EN-gb"}, profileOf{Locale: "en-GB"}},
		{"locale language only", &usersv1.CreateUserRequest{Locale: "de"}, profileOf{Locale: "de"}},
		{"locale deprecated subtag kept", &usersv1.CreateUserRequest{Locale: "iw"}, profileOf{Locale: "iw"}},
		{"locale with extension and private use", &usersv1.CreateUserRequest{Locale: "en-US-u-ca-gregory-x-twain"}, profileOf{Locale: "en-US-u-ca-gregory-x-twain"}},
		{
			"longest values",
			&usersv1.CreateUserRequest{Name: strings.Repeat("é", 100), GivenName: strings.Repeat("g", 200), FamilyName: strings.Repeat("𝄞", 50), PreferredUsername: strings.Repeat("p", 128)},
			profileOf{strings.Repeat("é", 100), strings.Repeat("g", 200), strings.Repeat("𝄞", 50), strings.Repeat("p", 128), "", false},
		},
		{"white space only is empty", &usersv1.CreateUserRequest{Name: "   ", Locale: " "}, profileOf{}},
		{"email verified only", &usersv1.CreateUserRequest{EmailVerified: true}, profileOf{EmailVerified: true}},
	}
	for i, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			req := proto.CloneOf(tc.req)
			req.Email, req.Password = strings.ReplaceAll(tc.name, " ", "-")+"@example.com", password
			resp, err := e.svc.CreateUser(t.Context(), req)
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if got := protoProfile(resp.GetUser()); got != tc.want {
				t.Errorf("CreateUser returned %+v, want %+v", got, tc.want)
			}
			stored, err := e.store.Get(t.Context(), resp.GetUser().GetUserId())
			if err != nil {
				t.Fatal(err)
			}
			if got := storedProfile(stored); got != tc.want {
				t.Errorf("stored %+v, want %+v", got, tc.want)
			}
			got, err := e.svc.GetUser(t.Context(), &usersv1.GetUserRequest{UserId: stored.ID})
			if err != nil || protoProfile(got.GetUser()) != tc.want {
				t.Errorf("GetUser = %v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	invalid := []struct {
		name  string
		req   *usersv1.CreateUserRequest
		field string
	}{
		{"name not UTF-8", &usersv1.CreateUserRequest{Name: "Ann\xff"}, "name"},
		{"name with NUL", &usersv1.CreateUserRequest{Name: "Ann\x00Smith"}, "name"},
		{"name with a newline", &usersv1.CreateUserRequest{Name: "Ann\nSmith"}, "name"},
		{"name with DEL", &usersv1.CreateUserRequest{Name: "Ann\x7f"}, "name"},
		{"name too long", &usersv1.CreateUserRequest{Name: strings.Repeat("é", 100) + "x"}, "name"},
		{"given_name not UTF-8", &usersv1.CreateUserRequest{GivenName: "\xc3("}, "given_name"},
		{"given_name too long", &usersv1.CreateUserRequest{GivenName: strings.Repeat("g", 201)}, "given_name"},
		{"family_name with NUL", &usersv1.CreateUserRequest{FamilyName: "\x00"}, "family_name"},
		{"family_name too long", &usersv1.CreateUserRequest{FamilyName: strings.Repeat("f", 201)}, "family_name"},
		{"preferred_username with a space", &usersv1.CreateUserRequest{PreferredUsername: "ann smith"}, "preferred_username"},
		{"preferred_username with a no-break space", &usersv1.CreateUserRequest{PreferredUsername: "ann\u00a0smith"}, "preferred_username"},
		{"preferred_username too long", &usersv1.CreateUserRequest{PreferredUsername: strings.Repeat("p", 129)}, "preferred_username"},
		{"preferred_username with a tab", &usersv1.CreateUserRequest{PreferredUsername: "ann\tsmith"}, "preferred_username"},
		{"locale not a tag", &usersv1.CreateUserRequest{Locale: "english"}, "locale"},
		{"locale with underscore", &usersv1.CreateUserRequest{Locale: "en_US"}, "locale"},
		{"locale unknown language", &usersv1.CreateUserRequest{Locale: "zz"}, "locale"},
		{"locale empty subtag", &usersv1.CreateUserRequest{Locale: "en--US"}, "locale"},
		{"locale trailing hyphen", &usersv1.CreateUserRequest{Locale: "en-"}, "locale"},
		{"locale with a space inside", &usersv1.CreateUserRequest{Locale: "en US"}, "locale"},
		{"locale non-ASCII", &usersv1.CreateUserRequest{Locale: "ën"}, "locale"},
		{"locale too long", &usersv1.CreateUserRequest{Locale: "en-US-u-ca-gregory-x-abcdefgh-ijklmn"}, "locale"},
		{"locale with NUL", &usersv1.CreateUserRequest{Locale: "en\x00"}, "locale"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			req := proto.CloneOf(tc.req)
			req.Email, req.Password = "refused@example.com", password
			_, err := e.svc.CreateUser(t.Context(), req)
			assertCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	if _, err := e.store.GetByEmail(t.Context(), "refused@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("a refused create left a user behind: %v", err)
	}
}

func TestUpdateUserProfile(t *testing.T) {
	full := profileOf{"Ann Smith", "Ann", "Smith", "ann", "en-US", true}
	tests := []struct {
		name  string
		start profileOf
		user  *usersv1.User
		paths []string
		want  profileOf
	}{
		{
			"name only", full,
			&usersv1.User{Name: " Ann B. Smith ", GivenName: "ignored", Locale: "ignored"}, []string{"name"},
			profileOf{"Ann B. Smith", "Ann", "Smith", "ann", "en-US", true},
		},
		{
			"every claim", profileOf{},
			&usersv1.User{Name: "山田 太郎", GivenName: "太郎", FamilyName: "山田", PreferredUsername: "taro", Locale: "JA-jp", EmailVerified: true},
			[]string{"name", "given_name", "family_name", "preferred_username", "locale", "email_verified"},
			profileOf{"山田 太郎", "太郎", "山田", "taro", "ja-JP", true},
		},
		{
			"cleared by empty values", full, &usersv1.User{},
			[]string{"name", "given_name", "family_name", "preferred_username", "locale", "email_verified"},
			profileOf{},
		},
		{"email_verified set", profileOf{}, &usersv1.User{EmailVerified: true}, []string{"email_verified"}, profileOf{EmailVerified: true}},
		{"email_verified cleared", full, &usersv1.User{}, []string{"email_verified"}, profileOf{"Ann Smith", "Ann", "Smith", "ann", "en-US", false}},
		{
			"new email clears email_verified", full, &usersv1.User{Email: "ann.new@example.com"}, []string{"email"},
			profileOf{"Ann Smith", "Ann", "Smith", "ann", "en-US", false},
		},
		{
			"new email verified in the same update", full, &usersv1.User{Email: "ann.new@example.com", EmailVerified: true}, []string{"email_verified", "email"},
			full,
		},
		{
			"same email keeps email_verified", full, &usersv1.User{Email: " ANN@example.com"}, []string{"email"},
			full,
		},
		{
			"disabled leaves the profile", full, &usersv1.User{Disabled: true}, []string{"disabled"},
			full,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			created, err := e.svc.CreateUser(t.Context(), &usersv1.CreateUserRequest{
				Email: "ann@example.com", Password: password,
				Name: tc.start.Name, GivenName: tc.start.GivenName, FamilyName: tc.start.FamilyName,
				PreferredUsername: tc.start.PreferredUsername, Locale: tc.start.Locale, EmailVerified: tc.start.EmailVerified,
			})
			if err != nil {
				t.Fatal(err)
			}
			e.clock.advance(time.Minute)
			in := proto.CloneOf(tc.user)
			in.UserId = created.GetUser().GetUserId()
			got, err := e.update(t.Context(), in, tc.paths...)
			if err != nil {
				t.Fatal(err)
			}
			if p := protoProfile(got); p != tc.want {
				t.Errorf("UpdateUser returned %+v, want %+v", p, tc.want)
			}
			if !got.GetUpdateTime().AsTime().Equal(e.clock.now()) {
				t.Errorf("update_time %v, want %v", got.GetUpdateTime().AsTime(), e.clock.now())
			}
			stored, err := e.store.Get(t.Context(), in.GetUserId())
			if err != nil || storedProfile(stored) != tc.want {
				t.Errorf("stored %+v, %v; want %+v", storedProfile(stored), err, tc.want)
			}
		})
	}
}

func TestUpdateUserProfileRefused(t *testing.T) {
	e := newEnv(t)
	start := &usersv1.CreateUserRequest{Email: "ann@example.com", Password: password, Name: "Ann Smith", Locale: "en-US", EmailVerified: true}
	created, err := e.svc.CreateUser(t.Context(), start)
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetUser().GetUserId()
	tests := []struct {
		name  string
		user  *usersv1.User
		paths []string
		field string
	}{
		{"name with NUL", &usersv1.User{Name: "A\x00"}, []string{"name"}, "user.name"},
		{"given_name not UTF-8", &usersv1.User{GivenName: "\xff"}, []string{"given_name"}, "user.given_name"},
		{"family_name too long", &usersv1.User{FamilyName: strings.Repeat("f", 201)}, []string{"family_name"}, "user.family_name"},
		{"preferred_username with a space", &usersv1.User{PreferredUsername: "a b"}, []string{"preferred_username"}, "user.preferred_username"},
		{"locale not a tag", &usersv1.User{Locale: "en_US"}, []string{"locale"}, "user.locale"},
		{"one bad field refuses the others", &usersv1.User{Name: "New Name", Locale: "nope!"}, []string{"name", "locale"}, "user.locale"},
		{"camelCase path", &usersv1.User{GivenName: "Ann"}, []string{"givenName"}, "update_mask"},
		{"unknown path", &usersv1.User{}, []string{"nickname"}, "update_mask"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := proto.CloneOf(tc.user)
			in.UserId = id
			_, err := e.update(t.Context(), in, tc.paths...)
			assertCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	stored, err := e.store.Get(t.Context(), id)
	if want := (profileOf{Name: "Ann Smith", Locale: "en-US", EmailVerified: true}); err != nil || storedProfile(stored) != want ||
		!stored.UpdatedAt.Equal(created.GetUser().GetUpdateTime().AsTime()) {
		t.Errorf("after refused updates: %+v, %v; want %+v, unchanged", stored, err, want)
	}
}

func TestLookup(t *testing.T) {
	e := newEnv(t)
	created, err := e.svc.CreateUser(t.Context(), &usersv1.CreateUserRequest{
		Email: "ann@example.com", Password: password, Name: "Ann Smith", GivenName: "Ann", FamilyName: "Smith",
		PreferredUsername: "ann", Locale: "en-US", EmailVerified: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetUser().GetUserId()
	want := users.User{
		ID: id, Email: "ann@example.com", CreatedAt: e.clock.now(), UpdatedAt: e.clock.now(),
		Name: "Ann Smith", GivenName: "Ann", FamilyName: "Smith", PreferredUsername: "ann", Locale: "en-US", EmailVerified: true,
	}
	got, err := e.svc.Lookup(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Lookup = %+v\nwant %+v (without the password hash)", got, want)
	}

	// A disabled user is returned, marked disabled.
	e.clock.advance(time.Minute)
	if _, err := e.update(t.Context(), &usersv1.User{UserId: id, Disabled: true}, "disabled"); err != nil {
		t.Fatal(err)
	}
	want.Disabled, want.UpdatedAt = true, e.clock.now()
	if got, err := e.svc.Lookup(t.Context(), id); err != nil || got != want {
		t.Errorf("Lookup of a disabled user = %+v, %v\nwant %+v", got, err, want)
	}

	for _, tc := range []struct{ name, id string }{
		{"unknown", "u_nope"},
		{"empty", ""},
		{"NUL", "u\x00x"},
		{"not UTF-8", "\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.svc.Lookup(t.Context(), tc.id)
			if !errors.Is(err, users.ErrNotFound) || got != (users.User{}) {
				t.Errorf("Lookup(%q) = %+v, %v; want ErrNotFound", tc.id, got, err)
			}
		})
	}

	// A store failure is not ErrNotFound.
	broken := users.New(unreachableStore{e.store, errors.New("disk on fire")}, users.WithParams(cheap))
	if _, err := broken.Lookup(t.Context(), id); err == nil || errors.Is(err, users.ErrNotFound) {
		t.Errorf("Lookup over a failing store = %v, want its error", err)
	}
}

// TestProfileOverREST: the profile goes through the REST facade both ways,
// and a PATCH without update_mask changes exactly the fields of its body
// (the gateway derives the mask from them).
func TestProfileOverREST(t *testing.T) {
	e := newEnv(t)
	h := gatewaytest.New(t,
		func(s *grpc.Server) { usersv1.RegisterUserServiceServer(s, e.svc) },
		func(ctx context.Context, mux *runtime.ServeMux, cc *grpc.ClientConn) error {
			return usersv1.RegisterUserServiceHandlerClient(ctx, mux, usersv1.NewUserServiceClient(cc))
		})
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		out := map[string]any{}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: %d, body %q", method, path, rec.Code, rec.Body.String())
		}
		return rec.Code, out
	}

	code, created := call(http.MethodPost, "/v1/users", `{"email":"ann@example.com","password":"`+password+`",
		"name":"Ann Smith","given_name":"Ann","family_name":"Smith","preferred_username":"ann","locale":"en-us","email_verified":true}`)
	if code != http.StatusOK {
		t.Fatalf("POST /v1/users: %d %v", code, created)
	}
	u := created["user"].(map[string]any)
	id := u["user_id"].(string)
	want := map[string]any{"name": "Ann Smith", "given_name": "Ann", "family_name": "Smith", "preferred_username": "ann", "locale": "en-US", "email_verified": true}
	for k, v := range want {
		if u[k] != v {
			t.Errorf("created user %s = %v, want %v", k, u[k], v)
		}
	}

	tests := []struct {
		name   string
		path   string
		body   string
		status int
		want   map[string]any // fields of the user after the call; nil: absent (empty)
	}{
		{
			"body fields only", "/v1/users/" + id, `{"given_name":"Annie","locale":"fr-ca"}`, http.StatusOK,
			map[string]any{"name": "Ann Smith", "given_name": "Annie", "family_name": "Smith", "locale": "fr-CA", "email_verified": true},
		},
		{
			"explicit mask clears", "/v1/users/" + id + "?update_mask=family_name,email_verified", `{}`, http.StatusOK,
			map[string]any{"name": "Ann Smith", "given_name": "Annie", "family_name": nil, "locale": "fr-CA", "email_verified": nil},
		},
		{
			"invalid locale", "/v1/users/" + id, `{"locale":"en_US"}`, http.StatusBadRequest,
			map[string]any{"locale": "fr-CA"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := call(http.MethodPatch, tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("PATCH: %d %v, want %d", code, out, tc.status)
			}
			_, got := call(http.MethodGet, "/v1/users/"+id, "")
			u := got["user"].(map[string]any)
			for k, v := range tc.want {
				if u[k] != v {
					t.Errorf("%s = %v, want %v", k, u[k], v)
				}
			}
		})
	}
}

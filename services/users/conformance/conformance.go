// Package conformance is the executable form of the users.Store contract.
// The store's tests call Run on SQLite and on PostgreSQL, so both databases
// are held to the same behaviour, including the choices the interface leaves open:
//
//   - times come back in UTC, truncated to microseconds;
//   - List of nothing returns an empty slice, not nil, and a limit below 1
//     is an error;
//   - emails are unique and compared byte for byte (the service
//     normalizes them);
//   - Update returns the user as Get will return it, returns the error of
//     its function unchanged, and refuses to change ID or CreatedAt;
//   - the profile claims (name, given_name, family_name,
//     preferred_username, locale, email_verified) are kept byte for byte,
//     unicode and empty values alike, by Create, Update, Get, GetByEmail
//     and List (the service validates them; stores do not).
//
// The concurrency tests check that Update is a read-modify-write in one
// transaction (no lost updates across connections or processes) and that a
// duplicate email is refused under concurrent creates.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/users"
)

// NewStores returns n stores over one new, empty, migrated database, each
// with its own connection pool as n processes would have, and arranges
// cleanup with t.Cleanup.
type NewStores func(t *testing.T, n int) []users.Store

// Run tests a users.Store implementation against the contract.
func Run(t *testing.T, newStores NewStores) {
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, newStores NewStores)
	}{
		{"CreateGet", testCreateGet},
		{"CreateDuplicate", testCreateDuplicate},
		{"NotFound", testNotFound},
		{"List", testList},
		{"Update", testUpdate},
		{"UpdateErrors", testUpdateErrors},
		{"Profile", testProfile},
		{"ConcurrentUpdate", testConcurrentUpdate},
		{"ConcurrentCreate", testConcurrentCreate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, t.Context(), newStores) })
	}
}

// zone is deliberately not UTC: stores must hand back UTC whatever they
// were given.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// t0 carries nanoseconds, which every backend truncates to microseconds.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, zone)

func user(id, email string, created time.Time) users.User {
	return users.User{
		ID:           id,
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		CreatedAt:    created,
		UpdatedAt:    created.Add(time.Second),
	}
}

// stored is u as a store hands it back.
func stored(u users.User) users.User {
	u.CreatedAt = u.CreatedAt.UTC().Truncate(time.Microsecond)
	u.UpdatedAt = u.UpdatedAt.UTC().Truncate(time.Microsecond)
	return u
}

func assertUser(t *testing.T, got, want users.User) {
	t.Helper()
	// == compares the times' locations too: UTC is part of the contract.
	if got != want {
		t.Errorf("user:\n got %+v\nwant %+v", got, want)
	}
}

func create(t *testing.T, ctx context.Context, s users.Store, u users.User) {
	t.Helper()
	if err := s.Create(ctx, u); err != nil {
		t.Fatalf("Create(%s): %v", u.ID, err)
	}
}

func get(t *testing.T, ctx context.Context, s users.Store, id string) users.User {
	t.Helper()
	u, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return u
}

func ids(us []users.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

// profile is the part of a users.User that holds the OpenID Connect
// claims.
type profile struct {
	name, given, family, preferred, locale string
	verified                               bool
}

func withProfile(u users.User, p profile) users.User {
	u.Name, u.GivenName, u.FamilyName, u.PreferredUsername, u.Locale = p.name, p.given, p.family, p.preferred, p.locale
	u.EmailVerified = p.verified
	return u
}

// profiles are values a store must keep byte for byte: what the service
// lets through (trimmed, valid UTF-8 without NUL, up to 200 bytes), with
// the characters that trip up collations, quoting and encodings.
var profiles = []struct {
	name string
	p    profile
}{
	{"empty", profile{}},
	{"ascii", profile{"Ann Smith", "Ann", "Smith", "ann", "en-US", true}},
	{"latin accents", profile{"Jörg Müller-Lüdenscheidt", "Jörg", "Müller-Lüdenscheidt", "jörg", "de-DE", true}},
	{"combining marks", profile{"Zoe\u0308 Åsa", "Zoe\u0308", "A\u030asa", "zoe\u0308", "sv", false}},
	{"cjk and emoji", profile{"山田 太郎 🎌", "太郎", "山田", "yamada_太郎", "ja-JP", true}},
	{"right to left", profile{"محمد بن سلمان", "محمد", "بن سلمان", "مح", "ar-EG", false}},
	{"quotes and sql", profile{`O'Brien "Bob" \ %_`, "Bob');--", `O'Brien`, `$1`, "x-private", false}},
	{"longest", profile{strings.Repeat("é", 100), strings.Repeat("g", 200), strings.Repeat("𝄞", 50), strings.Repeat("p", 128), "en-US-u-ca-gregory-x-abcdefgh-ij", true}},
	{"verified only", profile{verified: true}},
}

func testProfile(t *testing.T, ctx context.Context, newStores NewStores) {
	s := newStores(t, 1)[0]
	later := t0.Add(time.Hour)
	for i, tc := range profiles {
		t.Run(tc.name, func(t *testing.T) {
			// Created with the profile: Get, GetByEmail and List agree.
			id, email := fmt.Sprintf("u_c%02d", i), fmt.Sprintf("c%02d@example.com", i)
			u := withProfile(user(id, email, t0.Add(time.Duration(i)*time.Minute)), tc.p)
			create(t, ctx, s, u)
			assertUser(t, get(t, ctx, s, id), stored(u))
			byEmail, err := s.GetByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			assertUser(t, byEmail, stored(u))
			listed, err := s.List(ctx, &users.Cursor{CreatedAt: u.CreatedAt.Add(-time.Microsecond), ID: id}, 1)
			if err != nil || len(listed) != 1 {
				t.Fatalf("List from %s = %v, %v", id, ids(listed), err)
			}
			assertUser(t, listed[0], stored(u))

			// Updated to the profile from another one, and back: every
			// claim is written, the empty ones included.
			other := profile{"Other Name", "Other", "Name", "other", "fr-CA", !tc.p.verified}
			id, email = fmt.Sprintf("u_u%02d", i), fmt.Sprintf("u%02d@example.com", i)
			before := withProfile(user(id, email, t0), other)
			create(t, ctx, s, before)
			got, err := s.Update(ctx, id, func(cur *users.User) error {
				assertUser(t, *cur, stored(before))
				*cur = withProfile(*cur, tc.p)
				cur.UpdatedAt = later
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := withProfile(before, tc.p)
			want.UpdatedAt = later
			assertUser(t, got, stored(want))
			assertUser(t, get(t, ctx, s, id), stored(want))
			if _, err := s.Update(ctx, id, func(cur *users.User) error { *cur = withProfile(*cur, other); return nil }); err != nil {
				t.Fatal(err)
			}
			want = withProfile(want, other)
			assertUser(t, get(t, ctx, s, id), stored(want))
		})
	}
	// The profiles are listed with everything else, in order.
	all, err := s.List(ctx, nil, 100)
	if err != nil || len(all) != 2*len(profiles) {
		t.Fatalf("List = %v, %v; want %d users", ids(all), err, 2*len(profiles))
	}
	for _, u := range all {
		if u.ID[:3] != "u_c" {
			continue
		}
		var i int
		if _, err := fmt.Sscanf(u.ID, "u_c%02d", &i); err != nil {
			t.Fatal(err)
		}
		assertUser(t, u, stored(withProfile(user(u.ID, u.Email, t0.Add(time.Duration(i)*time.Minute)), profiles[i].p)))
	}
}

func testCreateGet(t *testing.T, ctx context.Context, newStores NewStores) {
	s := newStores(t, 1)[0]
	u := user("u_a", "ann@example.com", t0)
	u.Disabled = true
	create(t, ctx, s, u)
	assertUser(t, get(t, ctx, s, "u_a"), stored(u))
	byEmail, err := s.GetByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, byEmail, stored(u))
}

func testCreateDuplicate(t *testing.T, ctx context.Context, newStores NewStores) {
	s := newStores(t, 1)[0]
	create(t, ctx, s, user("u_a", "ann@example.com", t0))
	for _, dup := range []users.User{
		user("u_b", "ann@example.com", t0), // same email
		user("u_a", "bob@example.com", t0), // same id
	} {
		if err := s.Create(ctx, dup); !errors.Is(err, users.ErrAlreadyExists) {
			t.Errorf("Create(%s, %s) = %v, want ErrAlreadyExists", dup.ID, dup.Email, err)
		}
	}
	// Emails compare byte for byte: normalizing is the service's job.
	create(t, ctx, s, user("u_c", "Ann@example.com", t0))
	if _, err := s.GetByEmail(ctx, "bob@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("the refused create left bob@example.com behind: %v", err)
	}
}

func testNotFound(t *testing.T, ctx context.Context, newStores NewStores) {
	s := newStores(t, 1)[0]
	create(t, ctx, s, user("u_a", "ann@example.com", t0))
	if _, err := s.Get(ctx, "u_nope"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetByEmail(ctx, "nobody@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("GetByEmail(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetByEmail(ctx, "ANN@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("GetByEmail(other case) = %v, want ErrNotFound", err)
	}
	called := false
	_, err := s.Update(ctx, "u_nope", func(*users.User) error { called = true; return nil })
	if !errors.Is(err, users.ErrNotFound) || called {
		t.Errorf("Update(unknown) = %v (update called: %v), want ErrNotFound without a call", err, called)
	}
}

func testList(t *testing.T, ctx context.Context, newStores NewStores) {
	s := newStores(t, 1)[0]
	empty, err := s.List(ctx, nil, 10)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("List of nothing = %#v, %v; want an empty slice", empty, err)
	}
	if _, err := s.List(ctx, nil, 0); err == nil {
		t.Error("List with limit 0: no error")
	}
	// Created out of order, two at the same time: listed by (created, id).
	create(t, ctx, s, user("u_c", "c@example.com", t0.Add(2*time.Second)))
	create(t, ctx, s, user("u_b", "b@example.com", t0))
	create(t, ctx, s, user("u_a", "a@example.com", t0))
	create(t, ctx, s, user("u_d", "d@example.com", t0.Add(time.Second)))
	want := []string{"u_a", "u_b", "u_d", "u_c"}

	all, err := s.List(ctx, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(all), want) {
		t.Fatalf("List = %v, want %v", ids(all), want)
	}
	assertUser(t, all[0], stored(user("u_a", "a@example.com", t0)))

	var paged []string
	var after *users.Cursor
	for range len(want) + 1 {
		page, err := s.List(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, ids(page)...)
		last := page[len(page)-1]
		after = &users.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged List = %v, want %v", paged, want)
	}
	// A cursor in another zone and with nanoseconds means the same instant.
	page, err := s.List(ctx, &users.Cursor{CreatedAt: t0, ID: "u_a"}, 10)
	if err != nil || !slices.Equal(ids(page), want[1:]) {
		t.Errorf("List after (t0, u_a) = %v, %v; want %v", ids(page), err, want[1:])
	}
}

func testUpdate(t *testing.T, ctx context.Context, newStores NewStores) {
	s := newStores(t, 1)[0]
	u := user("u_a", "ann@example.com", t0)
	create(t, ctx, s, u)
	later := t0.Add(time.Hour)
	got, err := s.Update(ctx, "u_a", func(cur *users.User) error {
		assertUser(t, *cur, stored(u))
		cur.Email = "ann2@example.com"
		cur.PasswordHash = "$argon2id$new"
		cur.Disabled = true
		cur.UpdatedAt = later
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := stored(users.User{ID: "u_a", Email: "ann2@example.com", PasswordHash: "$argon2id$new", Disabled: true, CreatedAt: t0, UpdatedAt: later})
	assertUser(t, got, want)
	assertUser(t, get(t, ctx, s, "u_a"), want)
	if _, err := s.GetByEmail(ctx, "ann@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("old email still found: %v", err)
	}
	if byEmail, err := s.GetByEmail(ctx, "ann2@example.com"); err != nil || byEmail.ID != "u_a" {
		t.Errorf("GetByEmail(new email) = %+v, %v", byEmail, err)
	}
	// The freed email can be taken by someone else.
	create(t, ctx, s, user("u_b", "ann@example.com", t0))
}

func testUpdateErrors(t *testing.T, ctx context.Context, newStores NewStores) {
	s := newStores(t, 1)[0]
	a, b := user("u_a", "ann@example.com", t0), user("u_b", "bob@example.com", t0)
	create(t, ctx, s, a)
	create(t, ctx, s, b)

	sentinel := errors.New("sentinel")
	_, err := s.Update(ctx, "u_a", func(u *users.User) error {
		u.Disabled = true
		return sentinel
	})
	if err != sentinel { //nolint:errorlint // returned unchanged is the contract
		t.Errorf("Update with failing func = %v, want the func's error unchanged", err)
	}
	if _, err := s.Update(ctx, "u_a", func(u *users.User) error { u.Email = "bob@example.com"; return nil }); !errors.Is(err, users.ErrAlreadyExists) {
		t.Errorf("Update to a taken email = %v, want ErrAlreadyExists", err)
	}
	if _, err := s.Update(ctx, "u_a", func(u *users.User) error { u.ID = "u_z"; u.Disabled = true; return nil }); err == nil {
		t.Error("Update changing the ID: no error")
	}
	if _, err := s.Update(ctx, "u_a", func(u *users.User) error { u.CreatedAt = t0.Add(time.Hour); u.Disabled = true; return nil }); err == nil {
		t.Error("Update changing CreatedAt: no error")
	}
	// Nothing of the refused updates was written.
	assertUser(t, get(t, ctx, s, "u_a"), stored(a))
	assertUser(t, get(t, ctx, s, "u_b"), stored(b))
	if _, err := s.Get(ctx, "u_z"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Get(u_z) = %v, want ErrNotFound", err)
	}
}

const (
	writers   = 8
	perWriter = 20
)

// testConcurrentUpdate has writers on two stores (two processes) each
// increment a counter kept in the user's email: a lost update shows as a
// final count below writers*perWriter.
func testConcurrentUpdate(t *testing.T, ctx context.Context, newStores NewStores) {
	ss := newStores(t, 2)
	create(t, ctx, ss[0], user("u_a", "0@example.com", t0))
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			s := ss[w%2]
			for range perWriter {
				_, err := s.Update(ctx, "u_a", func(u *users.User) error {
					var n int
					if _, err := fmt.Sscanf(u.Email, "%d@example.com", &n); err != nil {
						return fmt.Errorf("email %q: %w", u.Email, err)
					}
					u.Email = fmt.Sprintf("%d@example.com", n+1)
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, want := get(t, ctx, ss[1], "u_a").Email, fmt.Sprintf("%d@example.com", writers*perWriter); got != want {
		t.Errorf("after %d concurrent increments the email is %q, want %q: updates were lost", writers*perWriter, got, want)
	}
}

// testConcurrentCreate has writers create users with one email at once:
// exactly one succeeds.
func testConcurrentCreate(t *testing.T, ctx context.Context, newStores NewStores) {
	ss := newStores(t, 2)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			errs[w] = ss[w%2].Create(ctx, user(fmt.Sprintf("u_%d", w), "same@example.com", t0))
		})
	}
	wg.Wait()
	created := 0
	for w, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, users.ErrAlreadyExists):
			t.Errorf("writer %d: %v, want nil or ErrAlreadyExists", w, err)
		}
	}
	if created != 1 {
		t.Errorf("%d creates of one email succeeded, want 1", created)
	}
	all, err := ss[0].List(ctx, nil, 100)
	if err != nil || len(all) != 1 {
		t.Errorf("List = %v, %v; want one user", ids(all), err)
	}
}

package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	"github.com/gatehouse-dev/gatehouse/services/keys/sqlstore"
)

// Shortened lifetimes for tests; the ratios are those of the defaults.
const (
	testRotation = 24 * time.Hour
	testLead     = 10 * time.Minute
	testRetire   = 70 * time.Minute
	testMaxAge   = time.Minute
)

// fakeClock is the Manager's clock in tests: time moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKEK(t testing.TB) *kek.KEK {
	t.Helper()
	raw := make([]byte, kek.Size)
	_, _ = rand.Read(raw)
	k, err := kek.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// backend opens n stores on one new database, each with its own handle as
// n processes would have, and a dump of everything the database holds.
type backend struct {
	name string
	open func(t testing.TB, n int) ([]keys.Store, func() []byte)
}

var backends = []backend{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
}

// openStores opens n stores on db's database, each with its own handle.
func openStores(t testing.TB, db database.DB, n int) []keys.Store {
	t.Helper()
	var stores []keys.Store
	for _, db := range dbtest.Handles(t, db, n) {
		s, err := sqlstore.New(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	return stores
}

// sqlitePath is the file of db's main database.
func sqlitePath(t testing.TB, db *database.SQLiteDB) string {
	t.Helper()
	var (
		seq        int
		name, path string
	)
	if err := db.Handle().QueryRowContext(context.Background(), `PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
		t.Fatal(err)
	}
	return path
}

func openSQLite(t testing.TB, n int) ([]keys.Store, func() []byte) {
	t.Helper()
	db := dbtest.SQLiteDB(t)
	stores := openStores(t, db, n)
	// Every byte on disk: the database, its WAL and shared memory, so
	// that a plaintext key in a free page or the log shows too. The file
	// is alone in a directory of the test's own.
	dir := filepath.Dir(sqlitePath(t, db))
	dump := func() []byte {
		var out bytes.Buffer
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out.Write(b)
		}
		return out.Bytes()
	}
	return stores, dump
}

func openPostgres(t testing.TB, n int) ([]keys.Store, func() []byte) {
	t.Helper()
	db := dbtest.PostgresDB(t)
	stores := openStores(t, db, n)
	// Every column of every row of every table, both as the server
	// prints it and as the raw values.
	dump := func() []byte {
		var out bytes.Buffer
		for _, table := range []string{"signing_keys", "platform_ca", "client_certificates"} {
			dumpTable(t, db.Pool(), table, &out)
		}
		return out.Bytes()
	}
	return stores, dump
}

func dumpTable(t testing.TB, pool *pgxpool.Pool, table string, out *bytes.Buffer) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT t::text, t.* FROM `+table+` t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if b, ok := v.([]byte); ok {
				out.Write(b)
			}
			fmt.Fprintf(out, "%v\n", v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// recorder is a Publisher that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []*eventsv1.KeyRotated
	fail   error
}

func (r *recorder) PublishKeyRotated(_ context.Context, ev *eventsv1.KeyRotated) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return r.fail
}

// take returns the events so far as "kid-label:STATE@version" and forgets
// them; label maps kids to readable names.
func (r *recorder) take(label map[string]string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		name := label[ev.GetKid()]
		if name == "" {
			name = ev.GetKid()
		}
		out = append(out, fmt.Sprintf("%s:%s@%d", name, ev.GetState(), ev.GetJwksVersion()))
	}
	r.events = nil
	return out
}

// testOptions are the shortened lifetimes on clock, with 2048-bit RSA to
// keep tests quick.
func testOptions(clock *fakeClock, extra ...keys.Option) []keys.Option {
	return append([]keys.Option{
		keys.WithClock(clock.Now),
		keys.WithRotationInterval(testRotation),
		keys.WithPublishLead(testLead),
		keys.WithRetirePeriod(testRetire),
		keys.WithJWKSMaxAge(testMaxAge),
		keys.WithRSABits(2048),
	}, extra...)
}

func newManager(t testing.TB, store keys.Store, k *kek.KEK, opts ...keys.Option) *keys.Manager {
	t.Helper()
	m, err := keys.New(store, k, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func start(t testing.TB, m *keys.Manager) {
	t.Helper()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func signingKID(t testing.TB, m *keys.Manager) string {
	t.Helper()
	ak, err := m.SigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ak.KID
}

// jwksKIDs lists the kids the Manager publishes, in order, and checks
// what every published key must be (SECURITY-CHECKLIST item 18): a unique
// kid, an alg, use "sig", no private member.
func jwksKIDs(t testing.TB, m *keys.Manager) []string {
	t.Helper()
	body, _, _ := m.JWKS()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	var out []string
	for _, k := range doc.Keys {
		kid := fmt.Sprint(k["kid"])
		if slices.Contains(out, kid) {
			t.Errorf("kid %s published twice", kid)
		}
		if k["alg"] == nil || k["use"] != "sig" {
			t.Errorf("key %s: alg %v use %v, want an alg and use sig", kid, k["alg"], k["use"])
		}
		for _, p := range privateMembers {
			if _, ok := k[p]; ok {
				t.Errorf("key %s: private member %q published", kid, p)
			}
		}
		out = append(out, kid)
	}
	return out
}

// states maps kid to state, as the store has it.
func states(t testing.TB, s keys.Store) map[string]keys.State {
	t.Helper()
	ks, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]keys.State{}
	for _, k := range ks {
		out[k.KID] = k.State
	}
	return out
}

func find(t testing.TB, s keys.Store, kid string) keys.Key {
	t.Helper()
	ks, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("no key %s", kid)
	return keys.Key{}
}

// logBuffer is a JSON slog logger whose output the test can search.
type logBuffer struct{ logtest.Buffer }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func short(kid string) string {
	if len(kid) > 8 {
		return kid[:8]
	}
	return kid
}

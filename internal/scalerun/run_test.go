package scalerun

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
)

// scaleURL is a database URL of the test's own on the PostgreSQL server the
// other tests use: the run drops and creates a whole database, so it cannot
// share theirs. Without a server the test is skipped, or fails under CI
// (dbtest decides).
func scaleURL(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	u.Path = "/" + DatabasePrefix + "_test_" + hex.EncodeToString(b)
	return u.String()
}

// The whole run at a tiny size: every figure is measured, no request
// fails, and the database is gone afterwards.
func TestRunTiny(t *testing.T) {
	dbURL := scaleURL(t)
	var progress strings.Builder
	rep, err := Run(t.Context(), Config{DatabaseURL: dbURL, Sizes: []int{200}, Duration: time.Second, Concurrency: 4, Sample: 50, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rep.Sizes) != 1 {
		t.Fatalf("%d sizes reported", len(rep.Sizes))
	}
	f := rep.Sizes[0]
	t.Logf("\n%s", rep)
	if rep.Failed() {
		t.Errorf("requests failed:\n%s", rep)
	}
	for name, r := range map[string]Rate{"token": f.Token, "API key cached": f.APIKeyCached, "API key first seen": f.APIKeyUncached, "JWKS": f.JWKS, "introspection": f.Introspect} {
		if r.Requests == 0 || r.PerSecond <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: %+v", name, r)
		}
	}
	// Each client and each sampled key at most once: every request a
	// cache miss (a slow machine may not get through all of them in
	// time).
	if f.Token.Requests > 50 || f.APIKeyUncached.Requests > 49 {
		t.Errorf("cache-miss runs: %d token requests, %d key requests; want at most 50 and 49", f.Token.Requests, f.APIKeyUncached.Requests)
	}
	if f.Snapshot.Entries != 200 || f.Snapshot.Took <= 0 {
		t.Errorf("snapshot: %+v, want 200 entries", f.Snapshot)
	}
	if f.Load.Rows != 1020 || f.StartUp <= 0 || f.DatabaseBytes <= 0 || len(f.Tables) == 0 {
		t.Errorf("figures: %+v", f)
	}
	if !strings.Contains(rep.String(), "revocation snapshot, new validator") {
		t.Errorf("report:\n%s", rep)
	}
	// Run dropped it: creating it again must work, and is undone.
	if err := recreateDatabase(t.Context(), dbURL); err != nil {
		t.Fatal(err)
	}
	if err := dropDatabase(t.Context(), dbURL); err != nil {
		t.Fatal(err)
	}
}

func TestConfigRefuses(t *testing.T) {
	ok := Config{DatabaseURL: "postgres://postgres@127.0.0.1:5432/" + DatabasePrefix, Sizes: []int{100}, Duration: time.Second, Concurrency: 1, Sample: 10}
	if err := ok.check(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"a database the run must not drop": func(c *Config) { c.DatabaseURL = "postgres://postgres@127.0.0.1:5432/test" },
		"a server off this machine":        func(c *Config) { c.DatabaseURL = "postgres://postgres@db.example.com:5432/" + DatabasePrefix },
		"no size":                          func(c *Config) { c.Sizes = nil },
		"a size too large":                 func(c *Config) { c.Sizes = []int{MaxSize + 1} },
		"an unbounded duration":            func(c *Config) { c.Duration = 0 },
		"no concurrency":                   func(c *Config) { c.Concurrency = 0 },
		"no sample":                        func(c *Config) { c.Sample = 0 },
	} {
		c := ok
		edit(&c)
		if err := c.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

package storecompat

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	clientsql "github.com/gatehouse-dev/gatehouse/services/clients/sqlstore"
	keysql "github.com/gatehouse-dev/gatehouse/services/keys/sqlstore"
	revocationsql "github.com/gatehouse-dev/gatehouse/services/revocation/sqlstore"
	grantsql "github.com/gatehouse-dev/gatehouse/services/token/grantstore/sqlstore"
	usersql "github.com/gatehouse-dev/gatehouse/services/users/sqlstore"
)

// releases are the fixtures under testdata: databases written by these
// commits.
var releases = []string{"e95e7cd"}

// envWrite names the directory TestWriteFixtures writes into.
const envWrite = "GATEHOUSE_STORECOMPAT_WRITE"

// open opens the five stores of db with the current code, migrating as
// they do at start-up.
func open(t testing.TB, db database.DB) stores {
	t.Helper()
	ctx := context.Background()
	var (
		s   stores
		err error
	)
	s.clients, err = clientsql.New(ctx, db)
	must(t, "clients", err)
	s.keys, err = keysql.New(ctx, db)
	must(t, "keys", err)
	s.revocation, err = revocationsql.New(ctx, db)
	must(t, "revocation", err)
	s.users, err = usersql.New(ctx, db)
	must(t, "users", err)
	s.grants, err = grantsql.New(ctx, db)
	must(t, "grants", err)
	return s
}

// TestPreviousReleases opens each release's databases with the current
// stores: the migrations find nothing to do, every read returns what that
// release returned, and writes work on the old rows.
func TestPreviousReleases(t *testing.T) {
	for _, rel := range releases {
		dir := filepath.Join("testdata", rel)
		t.Run(rel+"/sqlite", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			copyFile(t, filepath.Join(dir, "gatehouse.db"), path)
			db, err := database.OpenSQLite(t.Context(), path)
			must(t, "open", err)
			defer db.Close()
			before := migrationRows(t, func(q string) (*sql.Rows, error) { return db.QueryContext(t.Context(), q) })
			s := open(t, database.NewSQLite(db))
			after := migrationRows(t, func(q string) (*sql.Rows, error) { return db.QueryContext(t.Context(), q) })
			keptMigrations(t, before, after)
			compareSnapshot(t, filepath.Join(dir, "snapshot-sqlite.json"), snapshot(t, s))
			exercise(t, s)
		})
		t.Run(rel+"/postgres", func(t *testing.T) {
			pool := dbtest.Postgres(t)
			dump, err := os.ReadFile(filepath.Join(dir, "postgres.sql"))
			must(t, "read dump", err)
			// No arguments: pgx sends the file with the simple protocol,
			// which runs several statements.
			_, err = pool.Exec(t.Context(), string(dump))
			must(t, "load dump", err)
			rows := func(q string) string {
				r, err := pool.Query(t.Context(), q)
				must(t, q, err)
				defer r.Close()
				var b strings.Builder
				for r.Next() {
					var (
						component string
						version   int
					)
					must(t, "scan", r.Scan(&component, &version))
					b.WriteString(component + ":" + strconv.Itoa(version) + " ")
				}
				must(t, q, r.Err())
				return b.String()
			}
			const q = `SELECT component, version FROM schema_migrations ORDER BY component, version`
			before := rows(q)
			s := open(t, database.NewPostgres(pool))
			keptMigrations(t, before, rows(q))
			compareSnapshot(t, filepath.Join(dir, "snapshot-postgres.json"), snapshot(t, s))
			exercise(t, s)
		})
	}
}

// keptMigrations checks that the release's schema_migrations rows are
// still there unchanged: the current code may only add migrations after
// them.
func keptMigrations(t *testing.T, before, after string) {
	t.Helper()
	have := map[string]bool{}
	for _, r := range strings.Fields(after) {
		have[r] = true
	}
	for _, r := range strings.Fields(before) {
		if !have[r] {
			t.Errorf("schema_migrations row %s of the release is gone or changed:\nbefore %s\nafter  %s", r, before, after)
		}
	}
}

// migrationRows lists schema_migrations as text.
func migrationRows(t testing.TB, query func(string) (*sql.Rows, error)) string {
	t.Helper()
	r, err := query(`SELECT component, version, applied_at FROM schema_migrations ORDER BY component, version`)
	must(t, "schema_migrations", err)
	defer r.Close()
	var b strings.Builder
	for r.Next() {
		var component, version, applied string
		must(t, "scan", r.Scan(&component, &version, &applied))
		b.WriteString(component + ":" + version + "@" + applied + " ")
	}
	must(t, "schema_migrations", r.Err())
	return b.String()
}

// compareSnapshot compares what the current stores read with what the
// release read. A field the release did not have (a column added since)
// must read as its zero value on the old rows, and is left out of the
// comparison.
func compareSnapshot(t *testing.T, goldenPath string, got map[string]any) {
	t.Helper()
	want, err := os.ReadFile(goldenPath)
	must(t, "read snapshot", err)
	var wantV, gotV any
	must(t, "parse snapshot", json.Unmarshal(want, &wantV))
	must(t, "parse current", json.Unmarshal(marshal(t, got), &gotV))
	if extra := newFields(t, wantV, gotV, ""); len(extra) > 0 {
		names := map[string]bool{}
		for _, p := range extra {
			names[p[strings.LastIndex(p, ".")+1:]] = true
		}
		t.Logf("fields the release did not have, zero on its rows: %s", strings.Join(slices.Sorted(maps.Keys(names)), ", "))
	}
	wantJSON, gotJSON := marshal(t, wantV), marshal(t, gotV)
	if !bytes.Equal(wantJSON, gotJSON) {
		dir := t.TempDir()
		wantPath, gotPath := filepath.Join(dir, "release.json"), filepath.Join(dir, "current.json")
		_ = os.WriteFile(wantPath, wantJSON, 0o600)
		_ = os.WriteFile(gotPath, gotJSON, 0o600)
		out, _ := exec.Command("diff", "-u", wantPath, gotPath).CombinedOutput()
		t.Errorf("the current stores read the old database differently from %s:\n%s", goldenPath, out)
	}
}

// newFields removes from got the object members that want lacks, failing
// the test unless they are zero, and returns their paths.
func newFields(t *testing.T, want, got any, path string) []string {
	t.Helper()
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return nil
		}
		for k, v := range g {
			if _, known := w[k]; !known {
				if !zeroJSON(v) {
					t.Errorf("%s.%s: a field the release did not have reads %v on its rows, want the zero value", path, k, v)
				}
				delete(g, k)
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, newFields(t, w[k], v, path+"."+k)...)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return nil
		}
		for i := range min(len(w), len(g)) {
			out = append(out, newFields(t, w[i], g[i], path+"["+strconv.Itoa(i)+"]")...)
		}
	}
	return out
}

func zeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == "" || v == "0001-01-01T00:00:00Z"
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	must(t, "marshal snapshot", err)
	return append(b, '\n')
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	must(t, "open fixture", err)
	defer in.Close()
	out, err := os.Create(to)
	must(t, "create copy", err)
	_, err = io.Copy(out, in)
	must(t, "copy fixture", err)
	must(t, "close copy", out.Close())
}

// TestWriteFixtures records the current code's databases as a release
// fixture; it runs only when GATEHOUSE_STORECOMPAT_WRITE names the
// directory (see the package comment).
func TestWriteFixtures(t *testing.T) {
	dir := os.Getenv(envWrite)
	if dir == "" {
		t.Skip(envWrite + " is not set: nothing to record")
	}
	must(t, "mkdir", os.MkdirAll(dir, 0o755))

	sqlitePath := filepath.Join(t.TempDir(), "src.db")
	db, err := database.OpenSQLite(t.Context(), sqlitePath)
	must(t, "open sqlite", err)
	defer db.Close()
	s := open(t, database.NewSQLite(db))
	populate(t, s)
	out := filepath.Join(dir, "gatehouse.db")
	_ = os.Remove(out)
	_, err = db.ExecContext(t.Context(), `VACUUM INTO ?`, out)
	must(t, "vacuum into", err)
	must(t, "write snapshot", os.WriteFile(filepath.Join(dir, "snapshot-sqlite.json"), marshal(t, snapshot(t, s)), 0o644))

	pool := dbtest.Postgres(t)
	ps := open(t, database.NewPostgres(pool))
	populate(t, ps)
	var schema string
	must(t, "schema", pool.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schema))
	url := os.Getenv(dbtest.EnvPostgresURL)
	if url == "" {
		url = dbtest.DefaultPostgresURL
	}
	cmd := exec.Command("pg_dump", "--inserts", "--no-owner", "--no-privileges", "--no-comments", "-n", schema, url)
	cmd.Stderr = os.Stderr
	dump, err := cmd.Output()
	must(t, "pg_dump", err)
	must(t, "write dump", os.WriteFile(filepath.Join(dir, "postgres.sql"), cleanDump(dump, schema), 0o644))
	must(t, "write snapshot", os.WriteFile(filepath.Join(dir, "snapshot-postgres.json"), marshal(t, snapshot(t, ps)), 0o644))
}

// cleanDump makes a pg_dump of one schema load into whatever schema the
// search_path names: no session settings, no schema of its own, no
// qualified names.
func cleanDump(dump []byte, schema string) []byte {
	drop := regexp.MustCompile(`^(SET |SELECT pg_catalog\.set_config|CREATE SCHEMA |ALTER SCHEMA |\\|--)`)
	var out []string
	for _, line := range strings.Split(string(dump), "\n") {
		if drop.MatchString(line) {
			continue
		}
		out = append(out, strings.ReplaceAll(line, schema+".", ""))
	}
	text := regexp.MustCompile(`\n{3,}`).ReplaceAllString(strings.Join(out, "\n"), "\n\n")
	return []byte("-- Written by pg_dump from a database of the stores of this release; see the package comment.\n" +
		strings.TrimSpace(text) + "\n")
}

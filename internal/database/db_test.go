package database_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
)

// schema is the table every test here uses, in each dialect: the column
// types are what the stores' migrations use for the same Go types.
var schema = map[database.Dialect][]string{
	database.PostgreSQL: {
		`CREATE TABLE parents (id text COLLATE "C" PRIMARY KEY)`,
		`CREATE TABLE items (
			id       text NOT NULL PRIMARY KEY,
			parent   text REFERENCES parents (id),
			n        bigint NOT NULL DEFAULT 0,
			flag     boolean NOT NULL DEFAULT false,
			at       timestamptz NOT NULL,
			until    timestamptz,
			tags     text[] NOT NULL DEFAULT '{}',
			blob     bytea
		)`,
		`CREATE TABLE tags (item text NOT NULL, tag text COLLATE "C" NOT NULL)`,
	},
	database.SQLite: {
		`CREATE TABLE parents (id TEXT NOT NULL PRIMARY KEY) STRICT`,
		`CREATE TABLE items (
			id       TEXT NOT NULL PRIMARY KEY,
			parent   TEXT REFERENCES parents (id),
			n        INTEGER NOT NULL DEFAULT 0,
			flag     INTEGER NOT NULL DEFAULT 0,
			at       INTEGER NOT NULL,
			until    INTEGER,
			tags     TEXT NOT NULL DEFAULT '[]',
			blob     BLOB
		) STRICT`,
		`CREATE TABLE tags (item TEXT NOT NULL, tag TEXT NOT NULL) STRICT`,
	},
}

// eachBackend runs test on a fresh database of each kind, with the schema.
func eachBackend(t *testing.T, test func(t *testing.T, db database.DB)) {
	dbtest.Each(t, func(t *testing.T, db database.DB) {
		for _, stmt := range schema[db.Dialect()] {
			if _, err := db.Exec(t.Context(), stmt); err != nil {
				t.Fatal(err)
			}
		}
		test(t, db)
	})
}

func insert(t *testing.T, q database.Querier, id string, at time.Time) {
	t.Helper()
	if _, err := q.Exec(t.Context(), `INSERT INTO items (id, at) VALUES ($1, $2)`, id, at); err != nil {
		t.Fatal(err)
	}
}

func TestPlaceholders(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		// $2 before $1, and $1 twice: both drivers bind by number.
		n, err := db.Exec(ctx, `INSERT INTO items (n, id, at, until) VALUES ($2, $1, $3, $3)`, "a", int64(7), time.Unix(5, 0))
		if err != nil || n != 1 {
			t.Fatalf("insert: %d rows, %v", n, err)
		}
		var id string
		var got int64
		if err := db.QueryRow(ctx, `SELECT id, n FROM items WHERE id = $1 AND n = $2 AND at = until AND id = $1`, "a", int64(7)).
			Scan(&id, &got); err != nil || id != "a" || got != 7 {
			t.Fatalf("select: %q %d %v", id, got, err)
		}
	})
}

func TestTimes(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		zone := time.FixedZone("X", 5*3600)
		at := time.Date(2026, 12, 7, 10, 11, 12, 345678999, zone)
		before := time.Date(1969, 7, 20, 20, 17, 40, 999, time.UTC) // before the epoch
		if _, err := db.Exec(ctx, `INSERT INTO items (id, at, until) VALUES ($1, $2, $3)`, "a", at, database.NullTime(time.Time{})); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO items (id, at, until) VALUES ($1, $2, $3)`, "b", before, database.NullTime(at)); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			id          string
			at, until   time.Time
			untilIsNull bool
		}{
			{"a", database.Stored(at), time.Time{}, true},
			{"b", database.Stored(before), database.Stored(at), false},
		}
		for _, tc := range tests {
			var gotAt, gotUntil time.Time
			var null bool
			err := db.QueryRow(ctx, `SELECT at, until, until IS NULL FROM items WHERE id = $1`, tc.id).Scan(&gotAt, &gotUntil, &null)
			if err != nil {
				t.Fatal(err)
			}
			if gotAt != tc.at || gotUntil != tc.until || null != tc.untilIsNull {
				t.Errorf("%s: at %v until %v (NULL %v), want %v %v (NULL %v)", tc.id, gotAt, gotUntil, null, tc.at, tc.until, tc.untilIsNull)
			}
			if gotAt.Location() != time.UTC {
				t.Errorf("%s: read in %v, want UTC", tc.id, gotAt.Location())
			}
		}
		if got := database.Stored(at); got.Nanosecond() != 345678000 || got.Location() != time.UTC {
			t.Errorf("Stored(%v) = %v", at, got)
		}
		// Comparisons between a column and a time argument are in time
		// order on both: the stores' expiry and cursor queries rely on it.
		rows, err := db.Query(ctx, `SELECT id FROM items WHERE at < $1 ORDER BY at`, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if ids := collect(t, rows); !slices.Equal(ids, []string{"b"}) {
			t.Errorf("before the epoch: %v, want [b]", ids)
		}
	})
}

func collect(t *testing.T, rows database.Rows) []string {
	t.Helper()
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLists(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		for id, tags := range map[string][]string{"nil": nil, "empty": {}, "some": {"b", "a", `"quoted",{}`}} {
			if _, err := db.Exec(ctx, `INSERT INTO items (id, at, tags) VALUES ($1, $2, $3)`, id, time.Unix(0, 0), tags); err != nil {
				t.Fatal(err)
			}
		}
		for id, want := range map[string][]string{"nil": {}, "empty": {}, "some": {"b", "a", `"quoted",{}`}} {
			var got []string
			if err := db.QueryRow(ctx, `SELECT tags FROM items WHERE id = $1`, id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got == nil || !slices.Equal(got, want) {
				t.Errorf("%s: tags %#v, want %#v", id, got, want)
			}
		}
		// SortedList: byte order, capitals first, and an empty list when
		// no row matches.
		for _, tag := range []string{"b", "a", "B"} {
			if _, err := db.Exec(ctx, `INSERT INTO tags (item, tag) VALUES ($1, $2)`, "some", tag); err != nil {
				t.Fatal(err)
			}
		}
		q := `SELECT ` + db.Dialect().SortedList("t.tag", "FROM tags t WHERE t.item = i.id") + ` FROM items i WHERE i.id = $1`
		for id, want := range map[string][]string{"some": {"B", "a", "b"}, "nil": {}} {
			var got []string
			if err := db.QueryRow(ctx, q, id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got == nil || !slices.Equal(got, want) {
				t.Errorf("SortedList of %s = %#v, want %#v", id, got, want)
			}
		}
	})
}

func TestIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		for i, id := range []string{"a", "b", "c", "d"} {
			if _, err := db.Exec(ctx, `INSERT INTO items (id, n, at) VALUES ($1, $2, $3)`, id, int64(i+1), time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
		}
		d := db.Dialect()
		rows, err := db.Query(ctx, `SELECT id FROM items WHERE `+d.In("n", "$1")+` ORDER BY id`, []int64{4, 2, 9})
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(t, rows); !slices.Equal(got, []string{"b", "d"}) {
			t.Errorf("n in [4 2 9]: %v", got)
		}
		n, err := db.Exec(ctx, `UPDATE items SET flag = true WHERE `+d.In("id", "$1"), []string{"a", "c", "z"})
		if err != nil || n != 2 {
			t.Errorf("update id in [a c z]: %d rows, %v", n, err)
		}
		n, err = db.Exec(ctx, `UPDATE items SET flag = true WHERE `+d.In("id", "$1"), []string(nil))
		if err != nil || n != 0 {
			t.Errorf("update id in nil: %d rows, %v", n, err)
		}
		rows, err = db.Query(ctx, `SELECT id FROM items WHERE flag ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(t, rows); !slices.Equal(got, []string{"a", "c"}) {
			t.Errorf("flagged: %v", got)
		}
	})
}

func TestBytewise(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		for _, id := range []string{"b", "a", "B", "é", "_"} {
			insert(t, db, id, time.Unix(0, 0))
		}
		rows, err := db.Query(ctx, `SELECT id FROM items ORDER BY `+db.Dialect().Bytewise("id"))
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(t, rows); !slices.Equal(got, []string{"B", "_", "a", "b", "é"}) {
			t.Errorf("byte order: %q", got)
		}
	})
}

// TestIsFalseUsesPartialIndex: the fragment selects the false rows, and the
// planner of each database uses a partial index declared as the stores'
// migrations declare theirs.
func TestIsFalseUsesPartialIndex(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		index := map[database.Dialect]string{
			database.PostgreSQL: `CREATE INDEX items_unflagged ON items (n) WHERE NOT flag`,
			database.SQLite:     `CREATE INDEX items_unflagged ON items (n) WHERE flag = 0`,
		}[db.Dialect()]
		if _, err := db.Exec(ctx, index); err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"a", "b", "c"} {
			if _, err := db.Exec(ctx, `INSERT INTO items (id, n, flag, at) VALUES ($1, $2, $3, $4)`, id, int64(i), id == "b", time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
		}
		query := `SELECT id FROM items WHERE ` + db.Dialect().IsFalse("flag") + ` ORDER BY n LIMIT $1`
		rows, err := db.Query(ctx, query, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(t, rows); !slices.Equal(got, []string{"a", "c"}) {
			t.Errorf("unflagged: %v", got)
		}
		var plan []string
		err = db.Tx(ctx, func(tx database.Tx) error {
			explain := `EXPLAIN QUERY PLAN ` + query
			if db.Dialect() == database.PostgreSQL {
				// Three rows: make the planner show whether it can use
				// the index at all.
				if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
					return err
				}
				explain = `EXPLAIN ` + query
			}
			rows, err := tx.Query(ctx, explain, 10)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					line                string
					id, parent, notused int64
				)
				if db.Dialect() == database.PostgreSQL {
					err = rows.Scan(&line)
				} else {
					err = rows.Scan(&id, &parent, &notused, &line)
				}
				if err != nil {
					return err
				}
				plan = append(plan, line)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(plan, "\n"), "items_unflagged") {
			t.Errorf("the query does not use the partial index:\n%s", strings.Join(plan, "\n"))
		}
	})
}

// TestUpsertAndReturning: ON CONFLICT, RETURNING and the boolean literals
// are written once for both.
func TestUpsertAndReturning(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		for i, want := range []int64{1, 0} {
			n, err := db.Exec(ctx, `INSERT INTO items (id, at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, "a", time.Unix(int64(i), 0))
			if err != nil || n != want {
				t.Errorf("insert %d: %d rows, %v; want %d", i, n, err, want)
			}
		}
		var (
			n    int64
			flag bool
		)
		err := db.QueryRow(ctx, `UPDATE items SET n = n + 1, flag = true WHERE id = $1 RETURNING n, flag`, "a").Scan(&n, &flag)
		if err != nil || n != 1 || !flag {
			t.Errorf("update returning: %d %v %v", n, flag, err)
		}
		err = db.QueryRow(ctx, `UPDATE items SET flag = false WHERE NOT flag RETURNING n`).Scan(&n)
		if !errors.Is(err, database.ErrNoRows) {
			t.Errorf("update of no row returning: %v, want ErrNoRows", err)
		}
	})
}

func TestErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		var id string
		if err := db.QueryRow(ctx, `SELECT id FROM items WHERE id = $1`, "none").Scan(&id); !errors.Is(err, database.ErrNoRows) {
			t.Errorf("no row: %v, want ErrNoRows", err)
		}
		insert(t, db, "a", time.Unix(0, 0))
		_, err := db.Exec(ctx, `INSERT INTO items (id, at) VALUES ($1, $2)`, "a", time.Unix(0, 0))
		if !database.IsUniqueViolation(err) || database.IsForeignKeyViolation(err) || database.IsUnavailable(err) {
			t.Errorf("duplicate key: %v, want a unique violation only", err)
		}
		_, err = db.Exec(ctx, `INSERT INTO items (id, parent, at) VALUES ($1, $2, $3)`, "b", "missing", time.Unix(0, 0))
		if !database.IsForeignKeyViolation(err) || database.IsUniqueViolation(err) {
			t.Errorf("missing parent: %v, want a foreign-key violation only", err)
		}
		// An error from fn rolls back what the transaction wrote.
		boom := errors.New("boom")
		err = db.Tx(ctx, func(tx database.Tx) error {
			insert(t, tx, "c", time.Unix(0, 0))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Tx returned %v, want fn's error", err)
		}
		if err := db.QueryRow(ctx, `SELECT id FROM items WHERE id = 'c'`).Scan(&id); !errors.Is(err, database.ErrNoRows) {
			t.Errorf("a rolled-back insert is visible: %v", err)
		}
	})
}

// TestSerialisedWriters runs read-modify-write increments from many
// goroutines: with a row lock (ForUpdate, ForNoKeyUpdate) or the named
// lock, none is lost on either database. Without them PostgreSQL's READ
// COMMITTED would lose some.
func TestSerialisedWriters(t *testing.T) {
	const writers, rounds = 8, 5
	for _, how := range []string{"ForUpdate", "ForNoKeyUpdate", "Lock"} {
		t.Run(how, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, db database.DB) {
				ctx := t.Context()
				insert(t, db, "counter", time.Unix(0, 0))
				d := db.Dialect()
				lock := map[string]string{"ForUpdate": d.ForUpdate(), "ForNoKeyUpdate": d.ForNoKeyUpdate()}[how]
				var wg sync.WaitGroup
				errs := make(chan error, writers*rounds)
				for range writers {
					wg.Go(func() {
						for range rounds {
							errs <- db.Tx(ctx, func(tx database.Tx) error {
								if how == "Lock" {
									if err := tx.Lock(ctx, "test.counter:"); err != nil {
										return err
									}
								}
								var n int64
								if err := tx.QueryRow(ctx, `SELECT n FROM items WHERE id = 'counter'`+lock).Scan(&n); err != nil {
									return err
								}
								_, err := tx.Exec(ctx, `UPDATE items SET n = $1 WHERE id = 'counter'`, n+1)
								return err
							})
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				var n int64
				if err := db.QueryRow(ctx, `SELECT n FROM items WHERE id = 'counter'`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != writers*rounds {
					t.Errorf("counter = %d after %d increments", n, writers*rounds)
				}
			})
		})
	}
}

// TestLockKey pins the advisory-lock key of Tx.Lock on PostgreSQL to the
// one earlier releases computed in SQL, so that replicas of two releases
// running side by side during an upgrade still exclude each other.
func TestLockKey(t *testing.T) {
	db := dbtest.PostgresDB(t)
	ctx := t.Context()
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Tx(ctx, func(tx database.Tx) error {
			if err := tx.Lock(ctx, "gatehouse.keys:"); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("Lock: %v", err)
	}
	var got bool
	err := db.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended('gatehouse.keys:' || current_schema(), 0))`).Scan(&got)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if got {
		t.Error("the earlier releases' key was free while Lock held its lock")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLockInOrder: the fragment makes a valid subquery of a bulk UPDATE on
// both, and selects the same rows as without it.
func TestLockInOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		for _, id := range []string{"c", "a", "b"} {
			insert(t, db, id, time.Unix(0, 0))
		}
		rows, err := db.Query(ctx, `UPDATE items SET n = n + 1
			WHERE id IN (SELECT id FROM items WHERE id <> $1`+db.Dialect().LockInOrder("id")+`)
			RETURNING id`, "b")
		if err != nil {
			t.Fatal(err)
		}
		got := collect(t, rows)
		slices.Sort(got)
		if !slices.Equal(got, []string{"a", "c"}) {
			t.Errorf("updated %v, want [a c]", got)
		}
	})
}

// TestReadTxSnapshot: every statement of a ReadTx reads the snapshot of its
// first, whatever commits meanwhile.
func TestReadTxSnapshot(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		insert(t, db, "a", time.Unix(0, 0))
		count := func(q database.Querier) (n int64) {
			t.Helper()
			if err := q.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		err := db.ReadTx(ctx, func(q database.Querier) error {
			first := count(q)
			insert(t, db, "b", time.Unix(0, 0)) // another connection
			if second := count(q); second != first {
				return fmt.Errorf("the snapshot moved: %d rows, then %d", first, second)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		if n := count(db); n != 2 {
			t.Errorf("after the ReadTx: %d rows, want 2", n)
		}
	})
}

// TestReadTxIsReadOnly: a write in a ReadTx fails on both.
func TestReadTxIsReadOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := context.WithoutCancel(t.Context())
		err := db.ReadTx(ctx, func(q database.Querier) error {
			_, err := q.Exec(ctx, `INSERT INTO items (id, at) VALUES ($1, $2)`, "a", time.Unix(0, 0))
			return err
		})
		if err == nil {
			t.Error("a ReadTx wrote")
		}
	})
}

// TestTxDefer: deferred statements run after fn, in order, and commit with
// it; one that fails rolls the whole transaction back, and a failed fn runs
// none. The connection serves the next transaction either way.
func TestTxDefer(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database.DB) {
		ctx := t.Context()
		at := time.Unix(1, 0)
		count := func() (n int64) {
			t.Helper()
			if err := db.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		err := db.Tx(ctx, func(tx database.Tx) error {
			tx.Defer(`INSERT INTO items (id, at) VALUES ($1, $2)`, "a", at)
			tx.Defer(`UPDATE items SET n = n + 1 WHERE id = $1`, "a")
			var n int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n); err != nil || n != 0 {
				t.Errorf("before fn returned: %d rows, %v; want none yet", n, err)
			}
			return nil
		})
		var n int64
		if err == nil {
			err = db.QueryRow(ctx, `SELECT n FROM items WHERE id = 'a'`).Scan(&n)
		}
		if err != nil || n != 1 {
			t.Fatalf("deferred insert then update: n = %d, %v", n, err)
		}
		err = db.Tx(ctx, func(tx database.Tx) error {
			insert(t, tx, "b", at)
			tx.Defer(`INSERT INTO items (id, at) VALUES ($1, $2)`, "c", at)
			tx.Defer(`INSERT INTO items (id, at) VALUES ($1, $2)`, "a", at) // a duplicate
			tx.Defer(`INSERT INTO items (id, at) VALUES ($1, $2)`, "d", at)
			return nil
		})
		if !database.IsUniqueViolation(err) {
			t.Errorf("failing deferred statement: %v, want a unique violation", err)
		}
		if n := count(); n != 1 {
			t.Errorf("after the failed commit: %d rows, want 1", n)
		}
		errFn := errors.New("refused")
		err = db.Tx(ctx, func(tx database.Tx) error {
			tx.Defer(`INSERT INTO items (id, at) VALUES ($1, $2)`, "e", at)
			return errFn
		})
		if !errors.Is(err, errFn) || count() != 1 {
			t.Errorf("failed fn: %v, %d rows; want its error and nothing written", err, count())
		}
		if err := db.Tx(ctx, func(tx database.Tx) error { return nil }); err != nil {
			t.Errorf("empty transaction: %v", err)
		}
		err = db.Tx(ctx, func(tx database.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO items (id, at) VALUES ($1, $2)`, "a", at); !database.IsUniqueViolation(err) {
				t.Errorf("duplicate as the first statement: %v", err)
			}
			return nil // ignoring it: the commit must not pretend
		})
		if err == nil && db.Dialect() == database.PostgreSQL {
			t.Error("commit after a failed statement succeeded")
		}
	})
}

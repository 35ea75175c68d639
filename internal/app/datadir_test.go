package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func TestLockDataDir(t *testing.T) {
	tests := []struct {
		name string
		// prepare leaves the directory as a previous process would, and
		// returns what still holds it, if anything.
		prepare func(t *testing.T, dir string) (release func())
		wantPID int // -1: the lock is taken
	}{
		{"new directory", func(*testing.T, string) func() { return nil }, -1},
		{"stale file of a process that crashed", func(t *testing.T, dir string) func() {
			if err := os.WriteFile(filepath.Join(dir, LockFile), []byte("999999999\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return nil
		}, -1},
		{"released by the previous process", func(t *testing.T, dir string) func() {
			release, err := lockDataDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			release()
			return nil
		}, -1},
		{"held by a running process", func(t *testing.T, dir string) func() {
			release, err := lockDataDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			return release
		}, os.Getpid()},
		{"held, PID not written yet", func(t *testing.T, dir string) func() {
			f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if err := tryLock(f); err != nil {
				t.Fatal(err)
			}
			return func() { _ = f.Close() }
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if held := tc.prepare(t, dir); held != nil {
				t.Cleanup(held)
			}
			release, err := lockDataDir(dir)
			if tc.wantPID == -1 {
				if err != nil {
					t.Fatalf("lockDataDir: %v", err)
				}
				b, _ := os.ReadFile(filepath.Join(dir, LockFile))
				if got := strings.TrimSpace(string(b)); got != strconv.Itoa(os.Getpid()) {
					t.Errorf("lock file holds %q, want this PID", got)
				}
				release()
				if b, _ := os.ReadFile(filepath.Join(dir, LockFile)); len(b) != 0 {
					t.Errorf("lock file holds %q after release, want it empty", b)
				}
				return
			}
			var inUse *DataDirInUseError
			if !errors.As(err, &inUse) || inUse.PID != tc.wantPID || inUse.Dir != dir {
				t.Fatalf("lockDataDir = %v, want in use by PID %d", err, tc.wantPID)
			}
			want := "data directory " + dir + " in use by "
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want it to start with %q", err, want)
			}
		})
	}
}

func TestUsesDataDir(t *testing.T) {
	const pg, nats = "postgres://db/gatehouse", "nats://nats:4222"
	tests := []struct {
		name string
		cfg  config.Config
		want bool
	}{
		{"all-in-one on SQLite and embedded NATS", config.Config{}, true},
		{"all-in-one on PostgreSQL and embedded NATS", config.Config{DatabaseURL: pg}, true},
		{"all-in-one on SQLite and external NATS", config.Config{NATSURL: nats}, true},
		{"all-in-one on PostgreSQL and external NATS", config.Config{DatabaseURL: pg, NATSURL: nats}, false},
		{"split service with a store on SQLite", config.Config{Service: "clients", NATSURL: nats}, true},
		{"split service with a store on PostgreSQL", config.Config{Service: "token", DatabaseURL: pg, NATSURL: nats}, false},
		{"split service without a store", config.Config{Service: "gateway", NATSURL: nats}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := usesDataDir(&tc.cfg); got != tc.want {
				t.Errorf("usesDataDir = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSecondStartRefused: a second process on a data directory in use
// stops before it opens the store or NATS, naming the holder.
func TestSecondStartRefused(t *testing.T) {
	a, _ := startApp(t)
	cfg, err := config.Load([]string{"--data-dir", a.cfg.DataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", ""}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		b.Shutdown()
		t.Fatal("a second App started on the same data directory")
	}
	want := "data directory " + a.cfg.DataDir + " in use by PID " + strconv.Itoa(os.Getpid())
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	a.Shutdown()
	release, err := lockDataDir(a.cfg.DataDir)
	if err != nil {
		t.Fatalf("after Shutdown: %v", err)
	}
	release()
}

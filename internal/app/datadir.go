package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// LockFile is the file in the data directory that a serving process holds
// a lock on, with its PID inside for the operator.
const LockFile = "gatehouse.lock"

// DataDirInUseError names the directory and, when it could be read, the
// PID of the process holding it.
type DataDirInUseError struct {
	Dir string
	PID int // 0: not known (the holder had not written it yet)
}

func (e *DataDirInUseError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("data directory %s in use by another process", e.Dir)
	}
	return fmt.Sprintf("data directory %s in use by PID %d", e.Dir, e.PID)
}

// lockDataDir takes the data directory when the process keeps state there,
// before anything opens that state; the closers let it go last.
func (a *App) lockDataDir() error {
	if !usesDataDir(a.cfg) {
		return nil
	}
	release, err := lockDataDir(a.cfg.DataDir)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, release)
	return nil
}

// usesDataDir reports whether cfg's process keeps state in the data
// directory that two processes must not share: the SQLite file or the
// embedded NATS server's JetStream store. A service on PostgreSQL and an
// external NATS only reads the KEK there (or refreshes the admin
// credentials file), which its replicas may share.
func usesDataDir(cfg *config.Config) bool {
	sqlite := cfg.DatabaseURL == "" && (cfg.Service == "" || len(ownedStores[cfg.Service]) > 0)
	return sqlite || cfg.NATSURL == ""
}

// lockDataDir takes the data directory for this process, creating it if
// need be, and returns the function that lets it go. The lock is an
// advisory lock on LockFile, which the kernel drops when the process
// exits however it exits, so a file left behind by a crash does not stand
// in the way: the next process takes it over.
//
// The file is never removed: a process that opened it just before the
// removal would lock an unlinked file while a third one locks a new one.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // the operator names the data directory
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		_ = f.Close()
		if errors.Is(err, errLocked) {
			return nil, &DataDirInUseError{Dir: dir, PID: readPID(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return func() {
		// Emptied first, so that a reader never sees the PID of a process
		// that no longer holds the directory.
		_ = f.Truncate(0)
		_ = f.Close()
	}, nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// readPID reads the holder's PID, or 0.
func readPID(path string) int {
	b, err := os.ReadFile(path) //nolint:gosec // the lock file in the operator's data directory
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

package database_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/faultproxy"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"a plain error", errors.New("boom"), false},
		{"no rows", fmt.Errorf("get: %w", sql.ErrNoRows), false},
		{"a unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"a syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"a connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"an admin shutdown", fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"a connection refused", fmt.Errorf("acquire: %w", refused), true},
		{"an unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"a reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"the caller's cancellation", fmt.Errorf("query: %w", context.Canceled), false},
		{"the caller's deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := database.IsUnavailable(tc.err); got != tc.want {
				t.Fatalf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestIsUnavailableOnARealOutage puts a fault proxy between pgx and
// PostgreSQL and cuts it: what pgx then returns, for a pooled connection
// dropped under it and for a new connection refused, is unavailability.
func TestIsUnavailableOnARealOutage(t *testing.T) {
	direct := dbtest.Postgres(t)
	cfg := direct.Config().ConnConfig.Copy()
	proxy, err := faultproxy.New(net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	host, port, _ := net.SplitHostPort(proxy.Addr())
	cfg.Host = host
	_, _ = fmt.Sscan(port, &cfg.Port)
	cfg.ConnectTimeout = 5 * time.Second

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx) //nolint:errcheck // dropped by the proxy anyway
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT 1/0").Scan(&one); err == nil || database.IsUnavailable(err) {
		t.Fatalf("a division by zero: %v, unavailable %v; want an error that is not unavailability", err, database.IsUnavailable(err))
	}

	proxy.Down()
	err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	if !database.IsUnavailable(err) {
		t.Errorf("a query on a dropped connection: %v (%T), not unavailability", err, err)
	}
	_, err = pgx.ConnectConfig(ctx, cfg)
	if !database.IsUnavailable(err) {
		t.Errorf("a connection refused: %v (%T), not unavailability", err, err)
	}
	proxy.Up()
	again, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	_ = again.Close(ctx)
}

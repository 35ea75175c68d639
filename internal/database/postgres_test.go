package database_test

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
)

func TestOpenPostgres(t *testing.T) {
	dbtest.Postgres(t) // skips (or fails in CI) when there is no server
	url := os.Getenv(dbtest.EnvPostgresURL)
	if url == "" {
		url = dbtest.DefaultPostgresURL
	}
	pool, err := database.OpenPostgres(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var one int
	if err := pool.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestOpenPostgresErrorsHidePassword(t *testing.T) {
	const pw = "Sup3rS3cretPw"
	tests := []struct{ name, url, want string }{
		{"unreachable", "postgres://alice:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "127.0.0.1:1/db"},
		{"bad port", "postgres://alice:" + pw + "@127.0.0.1:notaport/db", "parse"},
		{"bad escape", "postgres://alice:" + pw + "%zz@127.0.0.1/db", "parse"},
		{"key value", "host=127.0.0.1 port=1 user=alice password=" + pw + " dbname=db sslmode=disable connect_timeout=2", "127.0.0.1:1/db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := database.OpenPostgres(t.Context(), tt.url)
			if err == nil {
				pool.Close()
				t.Fatal("OpenPostgres succeeded")
			}
			t.Log(err)
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

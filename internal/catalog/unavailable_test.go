package catalog_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"testing"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
)

// Errors from a real server and a real closed port: only those that say the
// database is (for now) out of reach are Unavailable.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	db := catalogtest.Postgres(t).DB()

	// A connection the server terminates, as a restart does.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid int
	if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	_, terminated := conn.ExecContext(ctx, "SELECT 1")

	down, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	refused := down.PingContext(ctx)

	noDB, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/vccingest_no_such_database?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer noDB.Close()
	missingDB := noDB.PingContext(ctx)

	_, badSQL := db.ExecContext(ctx, "SELECT * FROM vccingest_no_such_table")
	_, httpDown := net.Dial("tcp", "127.0.0.1:1") // as a VCC request to a dead host fails

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, cancelledErr := db.ExecContext(cancelled, "SELECT 1")

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection terminated by the server", terminated, true},
		{"no server listening", fmt.Errorf("catalog: read watermark: %w", refused), true},
		{"missing database", missingDB, false},
		{"SQL error", badSQL, false},
		{"network error outside the catalog", fmt.Errorf("VCC content API: %w", httpDown), false},
		{"cancelled", cancelledErr, false},
		{"nil", nil, false},
	} {
		if tc.err == nil && tc.name != "nil" {
			t.Errorf("%s: no error to classify", tc.name)
			continue
		}
		if got := catalog.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

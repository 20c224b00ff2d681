package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err means that the catalog's database could
// not be reached or dropped the connection (a PostgreSQL restart, failover
// or network blip), so that the same call may succeed once the server is
// back. Errors about the request itself (SQL, constraints, permissions,
// authentication, a missing database) and cancelled contexts are not.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection_exception
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true // not a server refusal (that is a PgError): no server to talk to
	}
	// pgconn's own errors (a broken or closed connection) are the only
	// ones in the chain that say whether they are safe to retry.
	var pgconnErr interface{ SafeToRetry() bool }
	return errors.As(err, &pgconnErr) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

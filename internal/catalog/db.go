package catalog

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dbtx runs the catalog's statements, written once with ? placeholders, on
// one of its databases, in or out of a transaction: SQLite through
// database/sql, PostgreSQL through pgx.
type dbtx interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

// rows is what *sql.Rows offers, on either database.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// row is what *sql.Row offers; no row is sql.ErrNoRows on either database.
type row interface{ Scan(dest ...any) error }

// sqlQuerier runs statements on SQLite. They are prepared once per catalog
// and reused: parsing SQL is most of the cost of a small statement there.
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	stmts *stmtCache
	tx    *sql.Tx // set inside a transaction
}

// stmt returns the prepared statement for query, bound to the transaction
// if there is one; nil (run it unprepared) for a statement first seen
// inside a transaction.
func (q sqlQuerier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s, err := q.stmts.get(ctx, query, q.tx == nil)
	if err != nil || s == nil || q.tx == nil {
		return s, err
	}
	return q.tx.StmtContext(ctx, s), nil
}

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return q.q.ExecContext(ctx, query, args...)
	}
	return s.ExecContext(ctx, args...)
}

func (q sqlQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	s, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return q.q.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

func (q sqlQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	s, err := q.stmt(ctx, query)
	if err != nil || s == nil {
		return q.q.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return s.QueryRowContext(ctx, args...)
}

type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool // first seen inside a transaction: prepare later
}

// get returns the cached statement for query; prepare says whether to
// prepare it on a miss (never inside a transaction: the pool's one
// connection is the transaction's, so preparing on the pool would wait for
// it forever).
func (c *stmtCache) get(ctx context.Context, query string, prepare bool) (*sql.Stmt, error) {
	c.mu.Lock()
	s, ok := c.m[query]
	if !ok && !prepare {
		c.wanted[query] = true
	}
	var later []string
	if prepare {
		for w := range c.wanted {
			later = append(later, w)
		}
		clear(c.wanted)
	}
	c.mu.Unlock()
	for _, w := range later {
		if w != query {
			_, _ = c.get(ctx, w, true)
		}
	}
	if ok || !prepare {
		return s, nil
	}
	// Prepare without the lock: it may wait for the connection, which a
	// transaction needing a cached statement holds.
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		s.Close()
		return prev, nil
	}
	c.m[query] = s
	return s, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// pgxQuerier runs statements on PostgreSQL, through a pool or in a
// transaction. pgx prepares and caches each statement per connection.
type pgxQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
	sqls *pgSQL
}

func (q pgxQuerier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tag, err := q.q.Exec(ctx, q.sqls.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return pgxResult(tag.RowsAffected()), nil
}

func (q pgxQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	r, err := q.q.Query(ctx, q.sqls.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{r}, nil
}

func (q pgxQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return pgxRow{q.q.QueryRow(ctx, q.sqls.rebind(query), args...)}
}

// pgxResult is the number of rows a statement affected.
type pgxResult int64

func (n pgxResult) RowsAffected() (int64, error) { return int64(n), nil }

func (pgxResult) LastInsertId() (int64, error) {
	return 0, errors.New("catalog: PostgreSQL has no last insert id; use RETURNING")
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}

type pgxRow struct{ pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	return err
}

// pgSQL caches the PostgreSQL form of each statement.
type pgSQL struct{ m sync.Map }

// rebind turns ? placeholders into PostgreSQL's $1, $2, … (the catalog's
// SQL has no ? inside string literals).
func (c *pgSQL) rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	if s, ok := c.m.Load(query); ok {
		return s.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	c.m.Store(query, b.String())
	return b.String()
}

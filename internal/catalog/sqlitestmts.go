package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"

	"modernc.org/sqlite"
)

// openSQLite opens the SQLite database dsn names, its connections keeping
// their statements prepared (sqliteConnector).
func openSQLite(dsn string) (*sql.DB, error) {
	return sql.OpenDB(sqliteConnector{dsn: dsn, drv: &sqlite.Driver{}}), nil
}

// sqliteStmtsPerConn bounds the statements a connection keeps prepared.
const sqliteStmtsPerConn = 128

// sqliteConnector opens SQLite connections that keep the statements they
// run prepared. modernc.org/sqlite parses and plans every statement passed
// to Exec or Query afresh; River's SQLite driver runs all its queries so
// (its producers poll several times a second), and parsing was about a
// fifth of a sync's CPU. A statement whose rows are still open is not
// shared: a second run of it meanwhile gets a statement of its own.
type sqliteConnector struct {
	dsn string
	drv *sqlite.Driver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &stmtConn{sqliteConn: conn.(sqliteConn), stmts: map[string]*keptStmt{}}, nil
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the driver's connections implement, and stmtConn
// passes on.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type stmtConn struct {
	sqliteConn
	mu    sync.Mutex
	stmts map[string]*keptStmt
	order []string // oldest first, for eviction
}

type keptStmt struct {
	stmt  driver.Stmt
	inUse bool // its rows are open
}

// take returns query's kept statement (preparing it on a miss) marked in
// use, or a statement of its own (nil keep) when the kept one is in use.
func (c *stmtConn) take(ctx context.Context, query string) (s driver.Stmt, keep *keptStmt, err error) {
	c.mu.Lock()
	k, ok := c.stmts[query]
	if ok && !k.inUse {
		k.inUse = true
		c.mu.Unlock()
		return k.stmt, k, nil
	}
	c.mu.Unlock()
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil || ok {
		return st, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k = &keptStmt{stmt: st, inUse: true}
	c.stmts[query] = k
	c.order = append(c.order, query)
	for len(c.order) > sqliteStmtsPerConn {
		old := c.order[0]
		c.order = c.order[1:]
		if o := c.stmts[old]; o != nil && !o.inUse {
			delete(c.stmts, old)
			_ = o.stmt.Close()
		} else if o != nil {
			c.order = append(c.order, old) // in use: evicted later
			break
		}
	}
	return st, k, nil
}

// give ends a use of s: a kept statement is free again, one of its own is
// closed.
func (c *stmtConn) give(s driver.Stmt, keep *keptStmt) {
	if keep == nil {
		_ = s.Close()
		return
	}
	c.mu.Lock()
	keep.inUse = false
	c.mu.Unlock()
}

func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, keep, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	defer c.give(s, keep)
	return s.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, keep, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	r, err := s.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.give(s, keep)
		return nil, err
	}
	return &keptRows{Rows: r, done: func() { c.give(s, keep) }}, nil
}

func (c *stmtConn) Close() error {
	c.mu.Lock()
	for _, k := range c.stmts {
		_ = k.stmt.Close()
	}
	clear(c.stmts)
	c.order = nil
	c.mu.Unlock()
	return c.sqliteConn.Close()
}

// keptRows gives its statement back when closed.
type keptRows struct {
	driver.Rows
	once sync.Once
	done func()
}

func (r *keptRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.done)
	return err
}

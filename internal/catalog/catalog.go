// Package catalog is vccingest's metadata store: tenants and their
// watermarks, sync windows, interactions, recordings, agents, runs and the
// Stats rows coverage compares against, on SQLite (embedded default, through
// modernc.org/sqlite) or PostgreSQL (through a pgx pool, which River's pgx
// driver shares for transactional enqueue), with versioned migrations
// per database embedded in the binary. The statements are written once, in
// the SQL both databases share, with ? placeholders rebound for PostgreSQL.
//
// The catalog is the source of truth for what is stored: a recording is
// "stored" only through MarkStored, which succeeds once per recording.
package catalog

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vccingest/vccingest/internal/secret"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationsFS embed.FS

// Dialects.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrPendingMigrations reports a catalog whose schema is older than this
// binary's.
var ErrPendingMigrations = errors.New("the catalog has pending migrations; run `vccingest migrate` first")

// Recording states.
const (
	StatusPending = "pending"
	StatusStored  = "stored"
	StatusFailed  = "failed" // for good; transient failures stay pending
)

// Catalog is an open catalog.
type Catalog struct {
	querier
	db      *sql.DB       // SQLite; on PostgreSQL a database/sql view of pool
	pool    *pgxpool.Pool // PostgreSQL
	stmts   *stmtCache    // SQLite
	pgSQL   *pgSQL        // PostgreSQL
	path    string        // SQLite file
	dialect string
	shown   string // the URL without credentials, for messages
}

// Tx is a catalog transaction. Its SQL transaction is also where River jobs
// are inserted, so that a row and the job for it commit together.
type Tx struct {
	querier
	sqlTx *sql.Tx // SQLite
	pgxTx pgx.Tx  // PostgreSQL
}

// SQL returns the SQLite transaction (for River's InsertTx with its SQLite
// driver); nil on PostgreSQL.
func (t *Tx) SQL() *sql.Tx { return t.sqlTx }

// Pgx returns the PostgreSQL transaction (for River's InsertTx with its pgx
// driver); nil on SQLite.
func (t *Tx) Pgx() pgx.Tx { return t.pgxTx }

// querier holds the statements that run the same in or out of a
// transaction, on either database.
type querier struct{ q dbtx }

func (q querier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.q.exec(ctx, query, args...)
}

func (q querier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return q.q.query(ctx, query, args...)
}

func (q querier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.q.queryRow(ctx, query, args...)
}

// Open opens the catalog at catalogURL: sqlite:///abs/path.db,
// sqlite://./rel/path.db or sqlite:rel/path.db. The directory is created.
// Call EnsureSchema before use.
func Open(ctx context.Context, catalogURL string) (*Catalog, error) {
	if u, err := url.Parse(catalogURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return openPostgres(ctx, u)
	}
	path, err := SQLitePath(catalogURL)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("catalog directory %s cannot be created: %w", filepath.Dir(path), err)
	}
	// WAL lets readers (ls, show, coverage) work beside a sync; immediate
	// transactions take the write lock up front so that concurrent writers
	// wait (busy_timeout) instead of failing halfway.
	dsn := "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := openSQLite(dsn)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	// One connection: SQLite has one writer at a time anyway, and River's
	// SQLite driver asks for it to avoid SQLITE_BUSY between its own parts.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	stmts := &stmtCache{db: db, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
	return &Catalog{querier: querier{q: sqlQuerier{q: db, stmts: stmts}}, db: db, stmts: stmts, path: path, dialect: dialectSQLite, shown: "sqlite://" + path}, nil
}

// OpenReadOnly opens a catalog only to read it (ls, show, coverage): a
// SQLite file is opened with mode=ro, so a catalog on a read-only disk, a
// snapshot or one the user may only read can be browsed; one that is not
// up to date is an error naming migrate (reading never migrates). A
// PostgreSQL catalog opens as Open does.
func OpenReadOnly(ctx context.Context, catalogURL string) (*Catalog, error) {
	path, err := SQLitePath(catalogURL)
	if err != nil {
		c, err := Open(ctx, catalogURL)
		if err != nil {
			return nil, err
		}
		if err := c.EnsureSchema(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	var c *Catalog
	// mode=ro reads a WAL catalog where its -shm file exists or can be
	// made; a read-only directory without one is read as immutable.
	for _, extra := range []string{"mode=ro", "mode=ro&immutable=1"} {
		dsn := "file:" + path + "?" + extra + "&_pragma=busy_timeout(15000)&_pragma=foreign_keys(1)"
		db, err := openSQLite(dsn)
		if err != nil {
			return nil, fmt.Errorf("open catalog %s: %w", path, err)
		}
		db.SetMaxOpenConns(1)
		stmts := &stmtCache{db: db, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
		c = &Catalog{querier: querier{q: sqlQuerier{q: db, stmts: stmts}}, db: db, stmts: stmts, path: path, dialect: dialectSQLite, shown: "sqlite://" + path}
		var pending []int
		if pending, err = c.Pending(ctx); err == nil {
			if len(pending) > 0 {
				c.Close()
				return nil, fmt.Errorf("%w (catalog %s, versions %v)", ErrPendingMigrations, c.shown, pending)
			}
			return c, nil
		}
		c.Close()
		if extra != "mode=ro" {
			return nil, fmt.Errorf("open catalog %s to read it: %w", path, err)
		}
	}
	return c, nil
}

// openPostgres opens a postgres:// catalog through a pgx pool, which River's
// pgx driver shares. Messages show the URL without its password.
func openPostgres(ctx context.Context, u *url.URL) (*Catalog, error) {
	shown := secret.RedactURL(u.String())
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("catalog URL %s: %w", shown, err)
	}
	if !strings.Contains(u.RawQuery, "pool_max_conns") {
		// River holds one for LISTEN and its jobs each take one at a time.
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", shown, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog %s is not reachable: %w", shown, err)
	}
	sqls := &pgSQL{}
	return &Catalog{querier: querier{q: pgxQuerier{q: pool, sqls: sqls}}, db: stdlib.OpenDBFromPool(pool), pool: pool, pgSQL: sqls, dialect: dialectPostgres, shown: shown}, nil
}

// Dialect is "sqlite" or "postgres".
func (c *Catalog) Dialect() string { return c.dialect }

// stripURLError drops the URL a *url.Error quotes (it may hold a password).
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// SQLitePath returns the database file named by a sqlite: catalog URL.
func SQLitePath(catalogURL string) (string, error) {
	u, err := url.Parse(catalogURL)
	if err != nil {
		return "", fmt.Errorf("catalog URL %s: %w", secret.RedactURL(catalogURL), stripURLError(err))
	}
	if u.Scheme != "sqlite" {
		if u.Scheme == "postgres" || u.Scheme == "postgresql" {
			return "", fmt.Errorf("catalog URL: %s is PostgreSQL, not an SQLite file", secret.RedactURL(catalogURL))
		}
		return "", fmt.Errorf("catalog URL %q: use sqlite:///path/to/catalog.db", catalogURL)
	}
	path := u.Opaque
	if path == "" {
		path = u.Host + u.Path
	}
	if path == "" {
		return "", fmt.Errorf("catalog URL %q names no file", catalogURL)
	}
	return filepath.Clean(filepath.FromSlash(path)), nil
}

// Path is the database file.
func (c *Catalog) Path() string { return c.path }

// DB returns a database/sql handle on the catalog's database (River's
// SQLite driver shares it).
func (c *Catalog) DB() *sql.DB { return c.db }

// Pool returns the PostgreSQL connection pool (River's pgx driver shares
// it); nil on SQLite.
func (c *Catalog) Pool() *pgxpool.Pool { return c.pool }

// Close closes the catalog.
func (c *Catalog) Close() error {
	if c.pool != nil {
		err := c.db.Close()
		c.pool.Close()
		return err
	}
	c.stmts.close()
	return c.db.Close()
}

// InTx runs fn in a transaction, committing if it returns nil. Inside fn use
// only tx: the SQLite pool has one connection.
func (c *Catalog) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if c.pool != nil {
		pgxTx, err := c.pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("catalog: begin: %w", err)
		}
		if err := fn(&Tx{querier: querier{q: pgxQuerier{q: pgxTx, sqls: c.pgSQL}}, pgxTx: pgxTx}); err != nil {
			_ = pgxTx.Rollback(context.WithoutCancel(ctx))
			return err
		}
		if err := pgxTx.Commit(ctx); err != nil {
			return fmt.Errorf("catalog: commit: %w", err)
		}
		return nil
	}
	sqlTx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: begin: %w", err)
	}
	if err := fn(&Tx{querier: querier{q: sqlQuerier{q: sqlTx, stmts: c.stmts, tx: sqlTx}}, sqlTx: sqlTx}); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("catalog: commit: %w", err)
	}
	return nil
}

// execScript runs a migration's statements (several, no arguments).
func (t *Tx) execScript(ctx context.Context, script string) error {
	if t.pgxTx != nil {
		_, err := t.pgxTx.Exec(ctx, script)
		return err
	}
	_, err := t.sqlTx.ExecContext(ctx, script)
	return err
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations(dialect string) ([]migration, error) {
	entries, err := fs.ReadDir(migrationsFS, "migrations/"+dialect)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version", e.Name())
		}
		b, err := migrationsFS.ReadFile("migrations/" + dialect + "/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Pending lists the versions of migrations not applied yet.
func (c *Catalog) Pending(ctx context.Context) ([]int, error) {
	ms, err := migrations(c.dialect)
	if err != nil {
		return nil, err
	}
	var pending []int
	if ok, err := c.hasMigrationsTable(ctx); err != nil || !ok {
		for _, m := range ms {
			pending = append(pending, m.version)
		}
		return pending, err
	}
	applied := map[int]bool{}
	rows, err := c.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, m := range ms {
		if !applied[m.version] {
			pending = append(pending, m.version)
		}
	}
	return pending, nil
}

// hasMigrationsTable reports whether the catalog records its migrations
// yet. Looking, not CREATE TABLE IF NOT EXISTS: on PostgreSQL two sessions
// creating the same table at once fail one of them (a duplicate pg_type
// row), so the table is made only under the migration lock
// (createMigrationsTable); and a read-only catalog is never written.
func (c *Catalog) hasMigrationsTable(ctx context.Context) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if c.dialect == dialectPostgres {
		q = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'`
	}
	var n int
	if err := c.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return false, fmt.Errorf("catalog: %w", err)
	}
	return n > 0, nil
}

// createMigrationsTable makes the table of applied migrations; called
// holding the migration lock.
func (c *Catalog) createMigrationsTable(ctx context.Context) error {
	if _, err := c.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}

// WithMigrationLock runs fn holding the catalog's migration lock: on
// PostgreSQL a session advisory lock of the catalog's schema, so that
// processes starting together on a new catalog do not apply a migration
// twice (or race to create the same table); an SQLite catalog is locked by
// the process that opens it for writing already.
func (c *Catalog) WithMigrationLock(ctx context.Context, fn func(ctx context.Context) error) error {
	if c.pool == nil || c.pool.Config().MaxConns < 2 {
		return fn(ctx) // the lock's connection would leave the migration none
	}
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("catalog: take the migration lock: %w", err)
	}
	defer conn.Release()
	const key = `hashtext('vccingest migrations ' || current_schema())`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return fmt.Errorf("catalog: take the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // the session's end releases it
		}
	}()
	return fn(ctx)
}

// Migrate applies every pending migration, each in its own transaction,
// holding the migration lock.
func (c *Catalog) Migrate(ctx context.Context) (applied []int, err error) {
	err = c.WithMigrationLock(ctx, func(ctx context.Context) error {
		applied, err = c.migrate(ctx)
		return err
	})
	return applied, err
}

func (c *Catalog) migrate(ctx context.Context) (applied []int, err error) {
	if err := c.createMigrationsTable(ctx); err != nil {
		return nil, err
	}
	pending, err := c.Pending(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := migrations(c.dialect)
	if err != nil {
		return nil, err
	}
	todo := map[int]bool{}
	for _, v := range pending {
		todo[v] = true
	}
	for _, m := range ms {
		if !todo[m.version] {
			continue
		}
		err := c.InTx(ctx, func(tx *Tx) error { return tx.applyMigration(ctx, m) })
		if err != nil {
			return applied, err
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

// applyMigration runs one migration and records it.
func (tx *Tx) applyMigration(ctx context.Context, m migration) error {
	if err := tx.execScript(ctx, m.sql); err != nil {
		return fmt.Errorf("catalog migration %s: %w", m.name, err)
	}
	_, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, ts(time.Now()))
	return err
}

// migrateNew applies every migration to a new catalog in one transaction,
// so that a process killed on its way leaves the catalog new, not half
// made (which EnsureSchema would take for an older schema).
func (c *Catalog) migrateNew(ctx context.Context) error {
	ms, err := migrations(c.dialect)
	if err != nil {
		return err
	}
	return c.InTx(ctx, func(tx *Tx) error {
		for _, m := range ms {
			if err := tx.applyMigration(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// EnsureSchema makes a new, empty catalog ready by applying every migration,
// and refuses (ErrPendingMigrations) a catalog that already holds data in an
// older schema: upgrading it is an explicit step (`vccingest migrate`).
func (c *Catalog) EnsureSchema(ctx context.Context) error {
	if pending, err := c.Pending(ctx); err == nil && len(pending) == 0 {
		return nil // up to date: no lock needed
	}
	return c.WithMigrationLock(ctx, func(ctx context.Context) error {
		if err := c.createMigrationsTable(ctx); err != nil {
			return err
		}
		pending, err := c.Pending(ctx)
		if err != nil || len(pending) == 0 {
			return err
		}
		var n int
		if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%w (catalog %s, versions %v)", ErrPendingMigrations, c.shown, pending)
		}
		return c.migrateNew(ctx)
	})
}

// tsLayout is fixed-width so that text order is time order.
const tsLayout = "2006-01-02T15:04:05.000000000Z"

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }

func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(tsLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("catalog: bad timestamp %q: %w", s, err)
	}
	return t, nil
}

func nullTS(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return parseTS(s.String)
}

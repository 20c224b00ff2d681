package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

func openStmtsDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := openSQLite("file:" + filepath.Join(t.TempDir(), "t.db") + "?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE n (v INTEGER); INSERT INTO n VALUES (1), (2), (3)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// kept is how many statements the pool's one connection keeps prepared.
func kept(t *testing.T, db *sql.DB) int {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := -1
	if err := c.Raw(func(dc any) error {
		sc := dc.(*stmtConn)
		sc.mu.Lock()
		defer sc.mu.Unlock()
		n = len(sc.stmts)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSQLiteStatements_PreparedOnceAndKept(t *testing.T) {
	db := openStmtsDB(t)
	before := kept(t, db)
	for i := range 5 {
		var sum int
		if err := db.QueryRow(`SELECT sum(v) + ? FROM n`, i).Scan(&sum); err != nil || sum != 6+i {
			t.Fatalf("run %d: sum %d, %v; want %d", i, sum, err, 6+i)
		}
		if _, err := db.Exec(`UPDATE n SET v = v WHERE v = ?`, i); err != nil {
			t.Fatal(err)
		}
	}
	if got := kept(t, db) - before; got != 2 {
		t.Errorf("%d more statements kept after running two statements five times each, want 2", got)
	}
}

// A statement whose rows are open is not reset under them: the same query
// run meanwhile (a nested loop in one transaction) gets its own statement,
// and both read all their rows.
func TestSQLiteStatements_SameQueryWhileItsRowsAreOpen(t *testing.T) {
	db := openStmtsDB(t)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `SELECT v FROM n ORDER BY v`
	outer, err := tx.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for outer.Next() {
		var a int
		if err := outer.Scan(&a); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var b int
			if err := inner.Scan(&b); err != nil {
				t.Fatal(err)
			}
			pairs = append(pairs, fmt.Sprint(a, b))
			if len(pairs) > 9 {
				t.Fatalf("the outer rows start over: %v", pairs) // reset under them
			}
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if len(pairs) != 9 {
		t.Fatalf("nested reads gave %d pairs %v, want 9", len(pairs), pairs)
	}
}

// The kept statements are bounded; one in use when the bound is passed
// stays usable, and is evicted later.
func TestSQLiteStatements_Bounded(t *testing.T) {
	db := openStmtsDB(t)
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	open, err := c.QueryContext(context.Background(), `SELECT v FROM n ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 * sqliteStmtsPerConn {
		var v int
		if err := c.QueryRowContext(context.Background(), fmt.Sprintf(`SELECT %d`, i)).Scan(&v); err != nil || v != i {
			t.Fatalf("SELECT %d: %d, %v", i, v, err)
		}
	}
	n := 0
	for open.Next() {
		n++
	}
	if err := open.Err(); err != nil || n != 3 {
		t.Fatalf("the rows open while statements were evicted: %d rows, %v; want 3", n, err)
	}
	open.Close()
	if err := c.Raw(func(dc any) error {
		sc := dc.(*stmtConn)
		if len(sc.stmts) > sqliteStmtsPerConn+1 || len(sc.order) != len(sc.stmts) {
			t.Errorf("%d statements kept (%d in order), want at most %d", len(sc.stmts), len(sc.order), sqliteStmtsPerConn+1)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

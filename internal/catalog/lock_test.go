package catalog

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestLock_ExcludesSecondHolderUntilReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "catalog.db.lock")
	a, err := AcquireLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: got %v, want ErrLocked", err)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	b, err := AcquireLock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	_ = b.Release()
}

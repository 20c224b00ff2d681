package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// legacyTempAge is how long a temporary file of an older vccingest
	// version (fileblob's, beside its final name) must have gone unwritten
	// before it is taken for a crash's leftover: such a version may still
	// be running against the bucket, and a write in progress keeps its
	// file's modification time fresh.
	legacyTempAge = 24 * time.Hour
	// legacySwept, a directory in the temporary area, records that a walk
	// of the whole bucket found no such file left, so later sweeps skip
	// that walk. A directory rather than a file so that nothing but
	// objects is ever a file outside the temporary directories.
	legacySwept = "legacy-swept"
	// lockGrace is how long a temporary directory may be without its lock
	// file: it is created just before the lock file, so an older one was
	// left by a process that died creating it or removing it.
	lockGrace = 10 * time.Minute
)

// SweepTemp removes what writes cut short left in a file:// bucket and
// returns how many partial objects it removed. They are never visible under
// a final key or in List; this reclaims their space. It removes only what
// no live process is writing, so any number of processes sharing the bucket
// may call it at any time (sync does at its start; serve may periodically):
//
//   - this Bucket's own temporary files that no write is using (a failed
//     write removes its file; this catches one whose removal failed);
//   - the temporary directory of another process that has ended: its lock
//     is free (or, where the file system has no locks, its pid is not
//     running on this host);
//   - the temporary files older vccingest versions wrote beside their final
//     names (<name>.<hex>.tmp), once unwritten for legacyTempAge. Finding
//     those means walking the whole bucket, so that is done only until one
//     walk finds none left.
//
// It looks nowhere else. Other backends have nothing to sweep: an unfinished
// upload there is not an object. Failures to remove something are returned
// together after the rest of the sweep.
func (b *Bucket) SweepTemp(ctx context.Context) (removed int, err error) {
	if b.dir == "" {
		return 0, nil
	}
	n, err := b.tmp.sweepOwn()
	removed += n
	errs := []error{err}
	entries, err := os.ReadDir(b.tmp.root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("read temporary area: %w", err))
	}
	own := b.tmp.ownName()
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		if !e.IsDir() || e.Name() == own || e.Name() == legacySwept {
			continue
		}
		n, err := sweepIfDead(filepath.Join(b.tmp.root, e.Name()))
		removed += n
		errs = append(errs, err)
	}
	n, err = b.sweepLegacy(ctx)
	removed += n
	errs = append(errs, err, ctx.Err())
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("sweep temporary files of bucket %s: %w", b.dir, err)
	}
	return removed, nil
}

// ownName is the base name of the area's directory ("" before a write).
func (a *tempArea) ownName() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dir == "" {
		return ""
	}
	return filepath.Base(a.dir)
}

// sweepOwn removes the files in the area's own directory that no write is
// using. Holding mu, it cannot race a write: a write names its file (under
// mu) before it creates it.
func (a *tempArea) sweepOwn() (removed int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dir == "" {
		return 0, nil
	}
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", a.dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.Name() == lockName || a.inflight[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(a.dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// sweepIfDead removes another Bucket's temporary directory if its owner
// has ended.
func sweepIfDead(dir string) (removed int, err error) {
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		info, err := os.Stat(dir)
		if err != nil || time.Since(info.ModTime()) < lockGrace {
			return 0, nil // being created, or already gone
		}
		return removeTempDir(dir)
	}
	if errors.Is(err, fs.ErrPermission) {
		return 0, nil // another user's: whether it is alive cannot be told
	}
	if err != nil {
		return 0, fmt.Errorf("open the lock of %s: %w", dir, err)
	}
	defer lf.Close() // after the removal: the lock keeps a second sweeper out meanwhile
	switch err := flock(lf); {
	case err == nil:
		// The owner's lock is gone, so is the owner.
	case errors.Is(err, syscall.EWOULDBLOCK):
		return 0, nil
	case lockUnsupported(err):
		if !pidGone(filepath.Base(dir)) {
			return 0, nil
		}
	default:
		return 0, fmt.Errorf("lock %s: %w", dir, err)
	}
	return removeTempDir(dir)
}

// removeTempDir removes a dead Bucket's temporary directory and returns how
// many partial objects were in it.
func removeTempDir(dir string) (int, error) {
	n, err := removeLockLast(dir)
	if err != nil {
		return 0, fmt.Errorf("remove %s, left by a process that ended: %w", dir, err)
	}
	return n, nil
}

// removeLockLast removes a temporary directory, its lock file after
// everything else: a process killed halfway leaves a directory that still
// has its (now free) lock, which the next sweep removes. Without the lock
// it would look like a directory being created and be left for lockGrace.
// It returns how many entries other than the lock the directory had.
func removeLockLast(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if e.Name() != lockName {
			n++
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	return n, errors.Join(append(errs, os.RemoveAll(dir))...)
}

// sweepLegacy removes older versions' temporary files (see SweepTemp), and
// records once none is left so that the walk is not repeated.
func (b *Bucket) sweepLegacy(ctx context.Context) (removed int, err error) {
	marker := filepath.Join(b.tmp.root, legacySwept)
	if _, err := os.Stat(marker); err == nil {
		return 0, nil
	}
	var errs []error
	young := false
	cutoff := time.Now().Add(-legacyTempAge)
	err = filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if ctx.Err() != nil {
			return filepath.SkipAll // SweepTemp reports it
		}
		if d.IsDir() {
			if path == b.tmp.root {
				return filepath.SkipDir
			}
			return nil
		}
		if !isTempName(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone meanwhile: committed or removed by its writer
		}
		if info.ModTime().After(cutoff) {
			young = true
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			return nil
		}
		removed++
		return nil
	})
	if err == nil && len(errs) == 0 && !young && ctx.Err() == nil {
		if err := os.MkdirAll(marker, 0o750); err != nil {
			errs = append(errs, fmt.Errorf("record that no old temporary file is left: %w", err))
		}
	}
	return removed, errors.Join(append(errs, err)...)
}

// isTempName matches fileblob's temporary names: <name>.<hex nanoseconds>.tmp.
func isTempName(name string) bool {
	rest, ok := strings.CutSuffix(name, ".tmp")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 || i == len(rest)-1 {
		return false
	}
	for _, c := range rest[i+1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

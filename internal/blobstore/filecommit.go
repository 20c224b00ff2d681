package blobstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"
)

// A file:// bucket commits an object itself instead of through fileblob's
// writer, which neither flushes the file before renaming it into place nor
// the directory after: after a power loss a catalog (possibly on another
// machine) could call a recording stored while its file is empty or gone.
//
// A write goes to a file in this Bucket's own directory of the temporary
// area (see temparea.go), is flushed to disk (fsync), and is renamed to its
// final name; every directory created on the way, and the final directory
// after the rename, is flushed too. Only then is the write reported
// committed. Reads, lists and deletes stay with fileblob, which reads
// objects with or without the .attrs files older versions wrote.

// commitFS is the file-system calls a file bucket's commit makes. The
// durability argument rests on their order, so tests swap it to record the
// order and to make single steps fail.
type commitFS interface {
	// CreateExcl creates a new file for writing; it fails if name exists.
	CreateExcl(name string) (tempFile, error)
	Mkdir(name string) error
	Rename(oldpath, newpath string) error
	// SyncDir flushes a directory's entries to disk.
	SyncDir(name string) error
	Remove(name string) error
}

// tempFile is a file being written; *os.File is one.
type tempFile interface {
	io.Writer
	Sync() error
	Close() error
}

type osFS struct{}

func (osFS) CreateExcl(name string) (tempFile, error) {
	// 0666 before the umask, as fileblob creates objects.
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
}

func (osFS) Mkdir(name string) error { return os.Mkdir(name, 0o750) }

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// filePath is where key lives in a file bucket. fileblob, which reads the
// bucket, stores some keys under escaped names (control characters, a "/"
// after "..", text that looks like its own escapes, invalid UTF-8) and
// refuses names ending in .attrs (its own metadata files); such keys are
// refused rather than written where fileblob would not find them. No key
// vccingest builds from valid ids is one.
func (b *Bucket) filePath(key string) (string, error) {
	if !utf8.ValidString(key) || strings.Contains(key, "__0x") || strings.HasSuffix(key, ".attrs") {
		return "", fmt.Errorf("%w: key %q", ErrBadID, key)
	}
	for _, part := range strings.Split(key, "/") {
		if strings.HasSuffix(part, "..") || strings.IndexFunc(part, func(r rune) bool { return r < 0x20 }) >= 0 {
			return "", fmt.Errorf("%w: key %q", ErrBadID, key)
		}
	}
	return filepath.Join(b.dir, filepath.FromSlash(key)), nil
}

// putFile is Put for a file bucket.
func (b *Bucket) putFile(ctx context.Context, key string, r io.Reader, wantSize int64) (Object, error) {
	final, err := b.filePath(key)
	if err != nil {
		return Object{}, err
	}
	tmp, release, err := b.tmp.reserve()
	if err != nil {
		return Object{}, fmt.Errorf("write %s: %w", key, err)
	}
	defer release()
	f, err := b.fs.CreateExcl(tmp)
	if err != nil {
		return Object{}, fmt.Errorf("write %s: create temporary file: %w", key, err)
	}
	open, renamed := true, false
	defer func() {
		if open {
			_ = f.Close()
		}
		if !renamed {
			_ = b.fs.Remove(tmp)
		}
	}()

	h, hd := sha256.New(), &head{}
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(f, h, hd), onlyReader{r}, *buf)
	copyBufs.Put(buf)
	if err == nil && wantSize >= 0 && n != wantSize {
		err = fmt.Errorf("%w: got %d bytes, want %d", ErrMismatch, n, wantSize)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return Object{}, fmt.Errorf("write %s: not committed: %w", key, err)
	}

	// The bytes reach the disk before the name does: a rename that
	// survives a power loss then never shows an empty or short file.
	if err := f.Sync(); err != nil {
		return Object{}, fmt.Errorf("commit %s: flush to disk: %w", key, err)
	}
	open = false
	if err := f.Close(); err != nil {
		return Object{}, fmt.Errorf("commit %s: %w", key, err)
	}
	dir := filepath.Dir(final)
	if err := b.ensureDir(dir); err != nil {
		return Object{}, fmt.Errorf("commit %s: %w", key, err)
	}
	if err := b.fs.Rename(tmp, final); err != nil {
		if errors.Is(err, syscall.EXDEV) {
			return Object{}, fmt.Errorf("commit %s: %s is on another file system than the bucket directory %s; a file bucket must be one file system (rename is what makes a commit atomic): %w", key, dir, b.dir, err)
		}
		return Object{}, fmt.Errorf("commit %s: %w", key, err)
	}
	renamed = true
	// An .attrs file an older version wrote describes the bytes replaced.
	_ = b.fs.Remove(final + ".attrs")
	if err := b.fs.SyncDir(dir); err != nil {
		// The object is complete under its name, but whether the name
		// survives a power loss is unknown: not reported stored. A retry
		// overwrites or adopts it.
		return Object{}, fmt.Errorf("commit %s: flush directory %s to disk: %w", key, dir, err)
	}
	d, _ := wavDuration(hd.buf, n)
	return Object{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Duration: d}, nil
}

// ensureDir makes dir exist for good: each directory it creates is flushed
// into its parent before an object is committed below it.
//
// A directory this process is creating must not be used by its other writes
// until it is flushed, or one of them could report an object stored in a
// directory a power loss then takes away: creating holds dirMu, and the
// check that a directory exists waits for it. (Another process creating the
// same directory at the same moment is not covered beyond this: losing the
// race to create it flushes its parent too.)
func (b *Bucket) ensureDir(dir string) error {
	b.dirMu.RLock()
	_, err := os.Stat(dir)
	b.dirMu.RUnlock()
	if err == nil {
		return nil
	}
	b.dirMu.Lock()
	defer b.dirMu.Unlock()
	return b.mkdirDurable(dir)
}

func (b *Bucket) mkdirDurable(dir string) error {
	err := b.fs.Mkdir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(dir)
		if dir == b.dir || parent == dir {
			return fmt.Errorf("bucket directory %s is gone: %w", b.dir, err)
		}
		if err := b.mkdirDurable(parent); err != nil {
			return err
		}
		err = b.fs.Mkdir(dir)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	// Also when it exists: another writer created it a moment ago and may
	// not have flushed its parent yet.
	if err := b.fs.SyncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("flush directory %s to disk: %w", filepath.Dir(dir), err)
	}
	return nil
}

package blobstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The temporary area of a file bucket is one directory per open Bucket
// (in practice, per process) under tempRoot:
//
//	.vccingest-tmp/<host>-<pid>-<random>/lock      flock'ed while the Bucket is open
//	.vccingest-tmp/<host>-<pid>-<random>/<n>.part  writes in progress
//
// The name says whose it is; the lock says whether its owner is alive: the
// kernel releases a flock when its process ends, even by kill -9, so a
// sweeper that can take the lock knows the owner is gone. The area is on the
// bucket's file system, so the rename that commits a write is atomic.
const (
	tempRoot = ".vccingest-tmp"
	lockName = "lock"
)

// tempArea is one Bucket's directory in the temporary area, created on its
// first write and removed by Close.
type tempArea struct {
	root string // <bucket dir>/.vccingest-tmp

	mu       sync.Mutex
	dir      string   // "" until the first write
	lock     *os.File // holds the flock
	seq      uint64
	inflight map[string]bool // names of the files writes are using
	closed   bool
}

func newTempArea(bucketDir string) *tempArea {
	return &tempArea{root: filepath.Join(bucketDir, tempRoot), inflight: map[string]bool{}}
}

// reserve names a new temporary file for one write; release forgets it
// once the write has renamed or removed it.
func (a *tempArea) reserve() (path string, release func(), err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return "", nil, errors.New("bucket is closed")
	}
	if a.dir == "" {
		if err := a.create(); err != nil {
			return "", nil, err
		}
	}
	a.seq++
	name := strconv.FormatUint(a.seq, 10) + ".part"
	a.inflight[name] = true
	release = func() {
		a.mu.Lock()
		delete(a.inflight, name)
		a.mu.Unlock()
	}
	return filepath.Join(a.dir, name), release, nil
}

func (a *tempArea) create() error {
	if err := os.MkdirAll(a.root, 0o750); err != nil {
		return fmt.Errorf("create temporary area %s: %w", a.root, err)
	}
	prefix := hostTag() + "-" + strconv.Itoa(os.Getpid()) + "-"
	for range 10 {
		var rnd [4]byte
		_, _ = rand.Read(rnd[:])
		dir := filepath.Join(a.root, prefix+hex.EncodeToString(rnd[:]))
		if err := os.Mkdir(dir, 0o750); errors.Is(err, os.ErrExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("create temporary directory: %w", err)
		}
		lock, ok, err := lockNew(dir)
		if err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
		if !ok {
			continue // a sweeper took it for a dead process's and removes it
		}
		a.dir, a.lock = dir, lock
		return nil
	}
	return fmt.Errorf("create temporary directory in %s: no free name after 10 tries", a.root)
}

// lockNew creates and locks dir's lock file. ok is false if a sweeper got
// to the file between its creation and the lock, and so removes dir.
func lockNew(dir string) (f *os.File, ok bool, err error) {
	path := filepath.Join(dir, lockName)
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("create lock file: %w", err)
	}
	switch err := flock(f); {
	case err == nil:
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
		return nil, false, nil
	case lockUnsupported(err):
		// Sweepers fall back to the pid in the name (same host only).
	default:
		f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	// Locked; but if a sweeper locked and removed it first, ours is the
	// lock of a file no longer there.
	fi, err1 := f.Stat()
	pi, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(fi, pi) {
		f.Close()
		return nil, false, nil
	}
	return f, true, nil
}

// close removes the directory and gives the lock up, in that order: while
// the files go, the lock still says they are not a dead process's.
func (a *tempArea) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.dir == "" {
		return nil
	}
	_, err := removeLockLast(a.dir)
	a.lock.Close()
	if err != nil {
		return fmt.Errorf("remove temporary directory %s: %w", a.dir, err)
	}
	a.dir = ""
	return nil
}

func flock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// lockUnsupported reports a file system without flock (some network and
// FUSE file systems).
func lockUnsupported(err error) bool {
	return errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOLCK)
}

// hostTag is the host name as it appears in temporary directory names.
func hostTag() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, h)
}

// pidGone reports whether the temporary directory name belongs to a
// process of this host that no longer runs. It errs towards "running": a
// reused pid keeps a dead process's files until the lock can tell.
func pidGone(name string) bool {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return false
	}
	j := strings.LastIndexByte(name[:i], '-')
	if j < 0 || name[:j] != hostTag() {
		return false
	}
	pid, err := strconv.Atoi(name[j+1 : i])
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

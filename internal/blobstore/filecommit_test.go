package blobstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recordingFS is the real file system, recording each commit step (paths
// relative to the bucket, the temporary file as "TMP") and failing the one
// fail names ("sync TMP", "rename", "syncdir t/2024/03/04/g", …).
type recordingFS struct {
	osFS
	dir  string
	fail string

	mu  sync.Mutex
	ops []string
}

var errInjected = errors.New("injected failure")

func (r *recordingFS) do(op string, paths ...string) error {
	for _, p := range paths {
		rel, _ := filepath.Rel(r.dir, p)
		if strings.HasPrefix(rel, tempRoot+string(filepath.Separator)) {
			rel = "TMP"
		}
		op += " " + filepath.ToSlash(rel)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	if r.fail != "" && (op == r.fail || strings.HasPrefix(op, r.fail+" ")) {
		return errInjected
	}
	return nil
}

func (r *recordingFS) CreateExcl(name string) (tempFile, error) {
	if err := r.do("create", name); err != nil {
		return nil, err
	}
	f, err := r.osFS.CreateExcl(name)
	if err != nil {
		return nil, err
	}
	return &recordingFile{tempFile: f, fs: r, name: name}, nil
}

func (r *recordingFS) Mkdir(name string) error {
	if err := r.do("mkdir", name); err != nil {
		return err
	}
	return r.osFS.Mkdir(name)
}

func (r *recordingFS) Rename(oldpath, newpath string) error {
	if err := r.do("rename", oldpath, newpath); err != nil {
		return err
	}
	return r.osFS.Rename(oldpath, newpath)
}

func (r *recordingFS) SyncDir(name string) error {
	if err := r.do("syncdir", name); err != nil {
		return err
	}
	return r.osFS.SyncDir(name)
}

func (r *recordingFS) Remove(name string) error {
	if err := r.do("remove", name); err != nil {
		return err
	}
	return r.osFS.Remove(name)
}

type recordingFile struct {
	tempFile
	fs    *recordingFS
	name  string
	wrote bool
}

func (f *recordingFile) Write(p []byte) (int, error) {
	if !f.wrote {
		f.wrote = true
		if err := f.fs.do("write", f.name); err != nil {
			return 0, err
		}
	}
	return f.tempFile.Write(p)
}

func (f *recordingFile) Sync() error {
	if err := f.fs.do("sync", f.name); err != nil {
		return err
	}
	return f.tempFile.Sync()
}

func (f *recordingFile) Close() error {
	_ = f.fs.do("close", f.name)
	return f.tempFile.Close()
}

func openRecording(t *testing.T, fail string) (*Bucket, *recordingFS) {
	t.Helper()
	b, err := Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rec := &recordingFS{dir: b.dir, fail: fail}
	b.fs = rec
	return b, rec
}

// The steps a power loss must not undo, in the order that makes a committed
// object survive one: the file's bytes are flushed before it gets its name,
// every directory created is flushed into its parent before the rename, and
// the final directory is flushed after the rename, before Put returns.
func TestPutFile_CommitOrder(t *testing.T) {
	ctx := context.Background()
	b, rec := openRecording(t, "")
	if _, err := b.Put(ctx, "t/2024/03/04/g/rec.wav", strings.NewReader("RIFF"), 4); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create TMP", "write TMP", "sync TMP", "close TMP",
		// mkdir g finds no parent, and so on up to t; then down again,
		// each flushed into its parent.
		"mkdir t/2024/03/04/g", "mkdir t/2024/03/04", "mkdir t/2024/03", "mkdir t/2024", "mkdir t",
		"syncdir .", "mkdir t/2024", "syncdir t", "mkdir t/2024/03", "syncdir t/2024",
		"mkdir t/2024/03/04", "syncdir t/2024/03", "mkdir t/2024/03/04/g", "syncdir t/2024/03/04",
		"rename TMP t/2024/03/04/g/rec.wav", "remove t/2024/03/04/g/rec.wav.attrs", "syncdir t/2024/03/04/g",
	}
	if !slices.Equal(rec.ops, want) {
		t.Errorf("first write into new directories:\n got %q\nwant %q", rec.ops, want)
	}

	// Into an existing directory (the sidecar beside it): no directory
	// step but the final one.
	rec.ops = nil
	if err := b.WriteSidecar(ctx, "t/2024/03/04/g/interaction.json", Sidecar{SchemaVersion: 1}); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"create TMP", "write TMP", "sync TMP", "close TMP",
		"rename TMP t/2024/03/04/g/interaction.json", "remove t/2024/03/04/g/interaction.json.attrs", "syncdir t/2024/03/04/g",
	}
	if !slices.Equal(rec.ops, want) {
		t.Errorf("sidecar into an existing directory:\n got %q\nwant %q", rec.ops, want)
	}
}

// A step that fails is an error naming the key, and before the rename it
// leaves nothing under the key and no temporary file.
func TestPutFile_FailedStep(t *testing.T) {
	key := "t/2024/03/04/g/rec.wav"
	for _, tc := range []struct {
		fail      string
		committed bool // the object is in place, only its durability unknown
	}{
		{fail: "create"},
		{fail: "write"},
		{fail: "sync"},
		{fail: "mkdir t/2024/03/04/g"},
		{fail: "syncdir t/2024/03/04"},
		{fail: "rename"},
		{fail: "syncdir t/2024/03/04/g", committed: true},
	} {
		t.Run(tc.fail, func(t *testing.T) {
			b, _ := openRecording(t, tc.fail)
			if err := os.MkdirAll(filepath.Join(b.dir, "t/2024/03/04"), 0o750); err != nil {
				t.Fatal(err)
			}
			_, err := b.Put(context.Background(), key, strings.NewReader("RIFF"), 4)
			if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), key) {
				t.Fatalf("Put = %v, want the injected failure, naming %s", err, key)
			}
			_, statErr := os.Stat(filepath.Join(b.dir, key))
			if got := statErr == nil; got != tc.committed {
				t.Errorf("object in place = %v, want %v", got, tc.committed)
			}
			entries, err := os.ReadDir(b.tmp.dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name() != lockName {
				t.Errorf("temporary directory holds %v, want only its lock", entries)
			}
		})
	}
}

func TestPutFile_EscapedKeysRefused(t *testing.T) {
	b, _ := openRecording(t, "")
	for _, key := range []string{"t/x../rec.wav", "t/a\x01b/rec.wav", "t/a__0x2f__b.wav", "t/bad\xff.wav", "t/g/rec.attrs", ".vccingest-tmp/x", ".vccingest-tmp"} {
		if _, err := b.Put(context.Background(), key, strings.NewReader("x"), 1); !errors.Is(err, ErrBadID) {
			t.Errorf("Put(%q) = %v, want ErrBadID", key, err)
		}
	}
}

// A Bucket's own leftover (a file no write uses) is swept; a directory
// without its lock file is left alone while it may be being created.
func TestSweepTemp_OwnLeftoversAndUnlockedDirs(t *testing.T) {
	ctx := context.Background()
	b, _ := openRecording(t, "")
	if _, err := b.Put(ctx, "t/2024/03/04/g/rec.wav", strings.NewReader("ok"), 2); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.tmp.dir, "7.part"), []byte("left"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(b.tmp.root, "otherhost-1-00000000")
	stale := filepath.Join(b.tmp.root, "otherhost-2-00000000")
	for _, d := range []string{fresh, stale} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "1.part"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(stale, old, old)
	if n, err := b.SweepTemp(ctx); n != 2 || err != nil {
		t.Fatalf("SweepTemp = %d, %v; want 2 (own leftover, stale unlocked directory)", n, err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a directory that may be being created was removed: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale directory without a lock file still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(b.tmp.dir, lockName)); err != nil {
		t.Errorf("own lock removed: %v", err)
	}
}

// Where the file system has no locks, a sweeper goes by the pid in the
// directory name, and only for this host.
func TestPidGone(t *testing.T) {
	ended := strconv.Itoa(endedPid(t))
	for name, want := range map[string]bool{
		hostTag() + "-" + strconv.Itoa(os.Getpid()) + "-0a0b0c0d": false,
		hostTag() + "-" + ended + "-0a0b0c0d":                     true,
		"elsewhere-" + ended + "-0a0b0c0d":                        false,
		"garbage":                                                 false,
	} {
		if got := pidGone(name); got != want {
			t.Errorf("pidGone(%q) = %v, want %v", name, got, want)
		}
	}
}

// endedPid returns the pid of a process that has ended and been reaped.
func endedPid(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess(os.Args[0], []string{os.Args[0], "-test.run=^$"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(p.Pid, 0) == nil {
		t.Skip("the pid is in use again already")
	}
	return p.Pid
}

// removeLockLast removes a temporary directory whole (its lock last, so a
// process killed halfway leaves the lock for the next sweep to find), and
// one already gone is no error.
func TestRemoveLockLast(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vm-1-0a0b0c0d")
	for _, p := range []string{lockName, "1.part", "2.part", "sub/3.part"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := removeLockLast(dir); n != 3 || err != nil {
		t.Fatalf("removeLockLast = %d, %v; want 3 entries besides the lock", n, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there (%v)", dir, err)
	}
	if n, err := removeLockLast(dir); n != 0 || err != nil {
		t.Errorf("removing a directory already gone: %d, %v", n, err)
	}
}

package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// TestBrowse_ReadOnlyCatalog: ls, show and coverage read a catalog the user
// may only read (a data dir without write permission: a snapshot, a backup,
// another user's) and change nothing in it. As root, whom permissions do
// not stop, the commands run as nobody.
func TestBrowse_ReadOnlyCatalog(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 7, Days: 1, CallsPerDay: 4}, "admin")
	if r := e.syncAll(); r.code != 0 {
		t.Fatalf("sync exited %d:\n%s", r.code, r.stderr)
	}
	before := dirSums(t, e.dataDir)
	// Read and enter for everyone up to the data dir (and the binary), no
	// write for anyone inside it.
	for d := e.dataDir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	_ = os.Chmod(filepath.Dir(binPath), 0o755)
	_ = filepath.WalkDir(e.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			mode := fs.FileMode(0o444)
			if d.IsDir() {
				mode = 0o555
			}
			err = os.Chmod(p, mode)
		}
		return err
	})
	t.Cleanup(func() {
		_ = filepath.WalkDir(e.dataDir, func(p string, d fs.DirEntry, err error) error { return os.Chmod(p, 0o755) })
	})
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin(t), append(args, "--data-dir", e.dataDir)...)
		if os.Getuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	out, code := run("ls", "--json")
	if code != 0 {
		t.Fatalf("ls on a read-only catalog exited %d:\n%s", code, out)
	}
	var items []lsItem
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) == 0 {
		t.Fatalf("ls --json printed %d items (%v):\n%s", len(items), err, out)
	}
	if out, code := run("show", items[0].InteractionID); code != 0 || !strings.Contains(out, items[0].InteractionID) {
		t.Errorf("show on a read-only catalog exited %d:\n%s", code, out)
	}
	if out, code := run("coverage", "--from", e.from.Format(time.DateOnly), "--to", e.to.Format(time.DateOnly)); code != 0 {
		t.Errorf("coverage on a read-only catalog exited %d:\n%s", code, out)
	}
	after := dirSums(t, e.dataDir)
	for p, sum := range before {
		if after[p] != sum {
			t.Errorf("%s changed while browsing", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared while browsing", p)
		}
	}
}

// dirSums maps each file under dir to its contents (as a string).
func dirSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

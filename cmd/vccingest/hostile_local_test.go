package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostileLocalCases are bad local input, run by TestSync_AgainstAHostileVCC
// beside the attacks of VCC (whose simulator serves as it is meant to), with
// the same checks: exit code, bounded time and memory, only verified bytes
// stored, nothing stored lost, no secret anywhere. Each is named after what
// it proves. Input that is not sync's runs another command (serve, ls) in
// its place, or other processes beside it (migrate).
var hostileLocalCases = []hostileCase{
	{name: "EmptyCatalogVariable_CountsAsUnsetTheConfigFilesCatalogIsUsed", code: 0,
		setup: func(t *testing.T, l hostileLocal) ([]string, []string) {
			file := filepath.Join(l.dataDir, "vccingest.yaml")
			if err := os.WriteFile(file, []byte("catalog: sqlite://"+filepath.Join(l.dataDir, "fleet.db")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"--config", file}, []string{"VCCINGEST_CATALOG="}
		},
		check: func(t *testing.T, h *hostileRun) {
			fleet := sqliteCount(t, filepath.Join(h.dataDir, "fleet.db"), `SELECT COUNT(*) FROM recordings WHERE status = 'stored'`)
			own := catalogCount(t, h.dataDir, `SELECT COUNT(*) FROM recordings WHERE status = 'stored'`)
			if fleet <= own {
				t.Errorf("the config file's catalog holds %d stored recordings, the data dir's default one %d: the empty VCCINGEST_CATALOG was taken for a setting", fleet, own)
			}
		}},
	{name: "CatalogPasswordsInTheURL_NeverPrinted", code: 3,
		args: []string{"--catalog", "postgres://vcc:pw-in-user-info@127.0.0.1:1/test?password=pw-in-query&sslpassword=pw-in-sslpassword"},
		check: func(t *testing.T, h *hostileRun) {
			for _, pw := range []string{"pw-in-user-info", "pw-in-query", "pw-in-sslpassword"} {
				if strings.Contains(h.stdout+h.stderr, pw) {
					t.Errorf("the catalog password %q was printed", pw)
				}
			}
			if !strings.Contains(h.stderr, "127.0.0.1:1") {
				t.Errorf("the error does not name the catalog it could not reach:\n%s", h.stderr)
			}
		}},
	{name: "SecretPastedAsItsReference_RefusedNotEchoed", code: 2,
		setup: func(t *testing.T, l hostileLocal) ([]string, []string) {
			return []string{"--client-secret-ref", l.cred.ClientSecret}, nil
		},
		check: func(t *testing.T, h *hostileRun) {
			if !strings.Contains(h.stderr, "client_secret_ref") && !strings.Contains(h.stderr, "client-secret-ref") {
				t.Errorf("the error does not name the setting to fix:\n%s", h.stderr)
			}
		}},
	{name: "AnotherLiveProcessesTempFiles_LeftInPlace", code: 0,
		setup: func(t *testing.T, l hostileLocal) ([]string, []string) {
			otherProcessTempDir(t, l.dataDir, true)
			return nil, nil
		},
		check: func(t *testing.T, h *hostileRun) {
			if _, err := os.Stat(filepath.Join(h.dataDir, "blobs", ".vccingest-tmp", liveTempDir, "1.part")); err != nil {
				t.Errorf("sync removed the write in progress of another process: %v", err)
			}
		}},
	{name: "ServeSweepsAStoppedProcesssTempFiles_ALiveOnesLeft", code: 0,
		command: []string{"serve"}, sigterm: true,
		setup: func(t *testing.T, l hostileLocal) ([]string, []string) {
			otherProcessTempDir(t, l.dataDir, true)
			otherProcessTempDir(t, l.dataDir, false)
			return []string{"--config", serveConfig(t, l)}, nil
		},
		// serve runs until told: SIGTERM once the stopped process's
		// directory is gone (never, if serve does not sweep: the case
		// then fails on its exit code and the hang guard).
		stopWhen: func(dataDir string) bool {
			_, err := os.Stat(filepath.Join(dataDir, "blobs", ".vccingest-tmp", deadTempDir))
			return errors.Is(err, fs.ErrNotExist)
		},
		check: func(t *testing.T, h *hostileRun) {
			if _, err := os.Stat(filepath.Join(h.dataDir, "blobs", ".vccingest-tmp", liveTempDir, "1.part")); err != nil {
				t.Errorf("serve removed the write in progress of another process: %v", err)
			}
			if !strings.Contains(h.stderr, "removed partial downloads left by a stopped process") {
				t.Errorf("no log line says what was swept")
			}
		}},
	{name: "ReadOnlyCatalog_BrowsedChangingNothing", code: 0,
		command: []string{"ls", "--json"}, asNobody: true,
		setup: func(t *testing.T, l hostileLocal) ([]string, []string) {
			makeReadOnly(t, l.dataDir)
			return []string{"--data-dir", l.dataDir}, nil
		},
		check: func(t *testing.T, h *hostileRun) {
			var items []lsItem
			if err := json.Unmarshal([]byte(h.stdout), &items); err != nil || len(items) == 0 {
				t.Fatalf("ls --json printed %d items (%v)", len(items), err)
			}
			for _, args := range [][]string{
				{"show", items[0].InteractionID},
				{"coverage", "--from", hostileDay.Format(time.DateOnly), "--to", hostileDay.AddDate(0, 0, 2).Format(time.DateOnly)},
			} {
				cmd := exec.Command(bin(t), append(args, "--data-dir", h.dataDir)...)
				runAsNobody(cmd)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Errorf("%s on a read-only catalog: %v\n%s", args[0], err, out)
				} else if args[0] == "show" && !strings.Contains(string(out), items[0].InteractionID) {
					t.Errorf("show does not show %s:\n%s", items[0].InteractionID, out)
				}
			}
			after := dirSums(t, h.dataDir)
			for p, was := range h.before {
				if after[p] != was {
					t.Errorf("%s changed while browsing", p)
				}
			}
			for p := range after {
				// The suite's own check opens the catalog as root before
				// this one: SQLite's shared-memory and log files are its.
				if _, ok := h.before[p]; !ok && !strings.HasSuffix(p, "-shm") && !strings.HasSuffix(p, "-wal") {
					t.Errorf("%s appeared while browsing", p)
				}
			}
		}},
	migrationRaceCase(),
	{name: "FileBucketCommit_FsyncedBeforeTheRenameAndItsDirectoryAfter", code: 0,
		// What a power loss needs, seen in the system calls the binary
		// makes: every object's bytes reach the disk before its name does,
		// and its name before the catalog says stored.
		setup: func(t *testing.T, _ hostileLocal) ([]string, []string) {
			if _, err := exec.LookPath("strace"); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatal("strace is not installed (.ci/run installs Debian's strace package): the file bucket's commits cannot be traced")
				}
				t.Skip("strace is not installed")
			}
			return nil, nil
		},
		via: func(dataDir string) []string {
			return []string{"strace", "-f", "-qq", "--seccomp-bpf", "-y", "-s", "4096", "-e", "signal=none",
				"-e", "trace=fsync,rename,renameat,renameat2", "-o", filepath.Join(dataDir, "commit.strace")}
		},
		check: all(allStored, fsyncedCommits)},
	{name: "MigrateWithCatalogPasswords_PrintsTheURLRedacted", code: 0,
		command: []string{"migrate"}, setup: catalogWithPasswords,
		check: func(t *testing.T, h *hostileRun) {
			noPasswords(t, h)
			if !strings.Contains(h.stdout, "xxxxx") {
				t.Errorf("migrate does not print the catalog URL with its passwords hidden")
			}
		}},
	{name: "CatalogPasswordsInAReachableURL_NotInTheStartLine", code: 0, setup: catalogWithPasswords,
		check: func(t *testing.T, h *hostileRun) {
			noPasswords(t, h)
			if !strings.Contains(h.stderr, `msg="sync starting"`) {
				t.Errorf("no start line")
			}
		}},
	{name: "BadAPIURLWithAPassword_RefusedNotEchoed", code: 2,
		args: []string{"--api-url", "ftp://vcc:hunter2-api@gw.example/", "--auth-url", "https://gw.example/token"},
		check: func(t *testing.T, h *hostileRun) {
			noPasswords(t, h)
			if !strings.Contains(h.stderr, "api_url") {
				t.Errorf("the error does not name api_url")
			}
		}},
	{name: "S3EndpointThatNeverAnswers_GivesUpAtTheBucketCheck", code: 3,
		setup: func(t *testing.T, l hostileLocal) ([]string, []string) {
			endpoint := silentListener(t)
			return []string{"--bucket", "s3://recordings?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + url.QueryEscape(endpoint)},
				[]string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test-secret", "AWS_EC2_METADATA_DISABLED=true",
					"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_REGION=us-east-1"}
		},
		check: func(t *testing.T, h *hostileRun) {
			if !strings.Contains(h.stderr, "did not answer within 30s") {
				t.Errorf("the error does not say the bucket did not answer")
			}
			if h.downloads != 0 {
				t.Errorf("%d downloads with no bucket to store them in", h.downloads)
			}
		}},
}

// migrationRaceCase: two more processes migrate a new PostgreSQL catalog
// while sync starts on it (each takes the advisory lock in turn); all
// three succeed.
func migrationRaceCase() hostileCase {
	var others []*exec.Cmd
	var outs []*strings.Builder
	return hostileCase{name: "PostgresCatalogMigratedByProcessesStartingTogether_AllSucceed", code: 0,
		setup: func(t *testing.T, l hostileLocal) ([]string, []string) {
			catURL := postgresCatalog(t)
			others, outs = nil, nil
			for range 2 {
				cmd := exec.Command(bin(t), "migrate", "--catalog", catURL)
				out := &strings.Builder{}
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { // a check that did not get to wait
					if cmd.ProcessState == nil {
						_ = cmd.Process.Kill()
						_ = cmd.Wait()
					}
				})
				others, outs = append(others, cmd), append(outs, out)
			}
			return []string{"--catalog", catURL}, nil
		},
		check: func(t *testing.T, h *hostileRun) {
			for i, cmd := range others {
				if err := cmd.Wait(); err != nil {
					t.Errorf("migrate %d, started with sync: %v\n%s", i, err, outs[i])
				}
			}
			if !strings.Contains(h.stdout, "stored") {
				t.Errorf("sync on the new catalog printed no summary")
			}
		}}
}

// The temp directories of other processes on the same file bucket, with a
// write in progress: a live one (locked while it runs) and a stopped one
// (no lock). Both are an hour old: only the lock tells them apart.
const (
	liveTempDir = "otherhost-4242-0a0b0c0d"
	deadTempDir = "otherhost-2-00000000"
)

// otherProcessTempDir makes liveTempDir (holding its lock until the test
// ends) or deadTempDir in dataDir's file bucket.
func otherProcessTempDir(t *testing.T, dataDir string, live bool) {
	t.Helper()
	dir := filepath.Join(dataDir, "blobs", ".vccingest-tmp", deadTempDir)
	if live {
		dir = filepath.Join(dataDir, "blobs", ".vccingest-tmp", liveTempDir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if live {
		lock, err := os.Create(filepath.Join(dir, "lock"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lock.Close() })
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "1.part"), []byte("half a recording"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
}

// serveConfig writes a serve config of one tenant, "default", syncing the
// hostile VCC into l's data dir every hour, and returns its path.
func serveConfig(t *testing.T, l hostileLocal) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "serve.yaml")
	conf := fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
grace: 1s
tenants:
  - id: default
    client_id: %s
    client_secret_ref: env:VCC_TEST_SECRET
    api_url: %s
    auth_url: %s
    interval: 1h
    lookback: 1d
    settle: 0s
    window: 24h
    requests_per_minute: 6000
`, l.dataDir, l.cred.ClientID, l.srv.URL, l.srv.AuthURL())
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// makeReadOnly takes write permission away from everything in dataDir
// (a snapshot, a backup, another user's), and gives read and enter to
// everyone up to it and to the test binary, for a command run as nobody.
func makeReadOnly(t *testing.T, dataDir string) {
	t.Helper()
	for d := filepath.Dir(dataDir); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	_ = os.Chmod(filepath.Dir(bin(t)), 0o755)
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			mode := fs.FileMode(0o444)
			if d.IsDir() {
				mode = 0o555
			}
			err = os.Chmod(p, mode)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error { return os.Chmod(p, 0o755) })
	})
}

// silentListener accepts connections on loopback and never answers; it
// returns its http:// address.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
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

// catalogWithPasswords sets the run's catalog to a new PostgreSQL one whose
// URL has a password in its user info and in both query parameters pgx
// reads: trust authentication ignores them; vccingest must never print
// them.
func catalogWithPasswords(t *testing.T, _ hostileLocal) (args, env []string) {
	t.Helper()
	catURL := strings.Replace(postgresCatalog(t), "postgres://postgres@", "postgres://postgres:hunter2-userinfo@", 1) +
		"&password=hunter2-query&sslpassword=hunter2-ssl"
	return []string{"--catalog", catURL}, nil
}

// noPasswords: no password of catalogWithPasswords or of a bad --api-url
// (all "hunter2-…") is in the run's output.
func noPasswords(t *testing.T, h *hostileRun) {
	t.Helper()
	if strings.Contains(h.stdout+h.stderr, "hunter2") {
		t.Errorf("a password in a URL was printed")
	}
}

var (
	straceFsync  = regexp.MustCompile(`\bfsync\(\d+<([^>]*)>`)
	straceRename = regexp.MustCompile(`\brename(?:at2?)?\([^"]*"([^"]+)"[^"]*"([^"]+)"`)
)

// fsyncedCommits reads the run's system calls (commit.strace): every object
// the run put in the file bucket was renamed there from a temporary file
// fsynced before, and its directory was fsynced after.
func fsyncedCommits(t *testing.T, h *hostileRun) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dataDir, "commit.strace"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	synced := map[string][]int{} // path → the lines that fsync it
	type rename struct {
		line     int
		old, new string
	}
	var renames []rename
	for i, l := range lines {
		if m := straceFsync.FindStringSubmatch(l); m != nil {
			synced[m[1]] = append(synced[m[1]], i)
		} else if m := straceRename.FindStringSubmatch(l); m != nil {
			renames = append(renames, rename{i, m[1], m[2]})
		}
	}
	committed := map[string]bool{}
	for _, r := range renames {
		if strings.Contains(r.new, ".vccingest-tmp") || !strings.HasPrefix(r.new, filepath.Join(h.dataDir, "blobs")) {
			continue
		}
		if s := synced[r.old]; len(s) == 0 || s[0] > r.line {
			t.Errorf("%s was renamed to %s without an fsync before", r.old, r.new)
		}
		if !slices.ContainsFunc(synced[filepath.Dir(r.new)], func(i int) bool { return i > r.line }) {
			t.Errorf("%s's directory was not fsynced after its rename", r.new)
		}
		committed[r.new] = true
	}
	n := 0
	for p := range dirSums(t, filepath.Join(h.dataDir, "blobs")) {
		if _, before := h.before[p]; !before && strings.HasSuffix(p, ".wav") {
			n++
			if !committed[p] {
				t.Errorf("%s is in the bucket, but no rename seen put it there", p)
			}
		}
	}
	if n == 0 {
		t.Errorf("the run stored no recording (%d renames seen)", len(renames))
	}
}

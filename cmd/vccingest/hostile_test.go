package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
	"github.com/vccingest/vccingest/internal/vccsim/hostile"
)

// hostileCase is one attack of a broken or hostile VCC (hostile_cases_test.go).
type hostileCase struct {
	name   string
	attack hostile.Attack
	// fault, if set, is served for every download of the second day's
	// recordings (the first day is stored before any attack).
	fault vccsim.Fault
	code  int // the exit code sync must end with
	// interrupt: sync gets Ctrl-C after this long (a download that drips
	// holds it) and must stop with 130.
	interrupt time.Duration
	// sigterm: the signal after interrupt is SIGTERM (a service manager
	// stopping sync), not Ctrl-C.
	sigterm bool
	// from, if set, is where the run's range starts, this long after day
	// one's start (it ends at the end of day two).
	from time.Duration
	// args are added to sync's (settings the case needs).
	args []string
	// tls: sync talks to the hostile VCC's https front (trusting its
	// self-signed certificate through SSL_CERT_FILE), not to its plain
	// http one.
	tls bool
	// setup, if set, prepares the case's data dir (a copy of the good
	// run's) and returns arguments to add to sync's and variables to add
	// to its environment: bad local input (hostile_local_test.go).
	setup func(t *testing.T, l hostileLocal) (args, env []string)
	// command, if set, is run instead of sync and its settings (setup's
	// arguments follow): local input that is not sync's, checked the same
	// way.
	command []string
	// asNobody: the command runs as user nobody when the test runs as root,
	// whom file permissions do not stop.
	asNobody bool
	// via, if set, is a program that runs vccingest (its arguments, then
	// the binary and the run's): a tracer.
	via func(dataDir string) []string
	// stopWhen, if set, is polled while the command runs; once it holds,
	// the command gets the case's signal (a service that runs until told).
	stopWhen func(dataDir string) bool
	// check, if set, asserts what is particular to the case.
	check func(t *testing.T, h *hostileRun)
}

// hostileLocal is what a case's setup prepares for: its data dir, the
// hostile VCC and the credential the run uses (its secret is in the run's
// environment as VCC_TEST_SECRET).
type hostileLocal struct {
	dataDir string
	srv     *hostile.Server
	cred    vccsim.Credential
}

// hostileRun is one case's run of sync against the hostile VCC.
type hostileRun struct {
	srv            *hostile.Server
	dataDir        string
	before         map[string]string // the data dir's files before the run: path → contents
	stdout, stderr string
	code           int
	elapsed        time.Duration
	maxRSS         int64 // bytes
	args           []string
	captured       []hostile.Captured // what reached the capture server
	// downloads and listings the hostile VCC was asked for in the run
	downloads, listings int64
}

// hostileDay is the first of the two days the hostile VCC holds.
var hostileDay = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

// Bounds every case must keep: a hang guard and a memory guard, not speed
// or size goals (those are benchmarks).
const (
	hostileWallBound = 45 * time.Second
	hostileRSSBound  = 400 << 20
)

// TestSync_AgainstAHostileVCC runs the real binary against each attack of
// hostile_cases_test.go, each on a copy of one data dir that a good run
// filled first, and asserts for each: the exit code, bounded time and
// memory, nothing stored that is not verified (every object in the bucket
// has the bytes VCC holds, every recording the catalog calls stored is in
// the bucket with its sha256), nothing stored before lost, and the client
// secret and every token issued nowhere: not in stdout, stderr, any file
// of the data dir (the SQLite catalog's bytes included), nor sent to where
// a redirect pointed.
func TestSync_AgainstAHostileVCC(t *testing.T) {
	day := hostileDay
	sim, err := vccsim.New(vccsim.Config{Seed: 19, Start: day, Days: 2, CallsPerDay: 6, FixedRecordingSize: 20000})
	if err != nil {
		t.Fatal(err)
	}
	srv := hostile.Start(sim)
	t.Cleanup(srv.Close)
	cred := sim.Credential("admin")
	// Go reads SSL_CERT_FILE for its roots on Linux: the child trusts the
	// TLS front's self-signed certificate (vccingest has no CA setting of
	// its own to set).
	certFile := filepath.Join(t.TempDir(), "hostile-vcc.pem")
	if err := os.WriteFile(certFile, srv.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	// The good run: day one stored.
	seed := t.TempDir()
	if r := runHostile(t, hostileTarget{srv: srv}, cred, seed, day, day.AddDate(0, 0, 1), 0, nil); r.code != 0 {
		t.Fatalf("the good run exited %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	seeded := bucketFiles(t, seed)
	if len(seeded) < 4 {
		t.Fatalf("the good run stored %d files; want recordings and sidecars", len(seeded))
	}
	truth := map[string]string{} // blob path → sha256 VCC holds
	var dayTwo []string          // content fault keys of day two
	for _, it := range sim.Truth(day, day.AddDate(0, 0, 2), cred.ClientID).Interactions {
		for _, c := range it.Content {
			if !isRecordingType(c.Type) || !it.Visible {
				continue
			}
			truth[filepath.Join("default", it.Start.Format("2006/01/02"), it.GUID, c.ContentKey+extFor(c.ContentType))] = c.SHA256
			if !it.Start.Before(day.AddDate(0, 0, 1)) {
				dayTwo = append(dayTwo, vccsim.ContentFaultKey(it.GUID, c.ContentKey))
			}
		}
	}

	for _, tc := range append(hostileCases, hostileLocalCases...) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(seed)); err != nil {
				t.Fatal(err)
			}
			faults := vccsim.Faults{DripInterval: 100 * time.Millisecond}
			if tc.fault != "" {
				faults.Content = map[string]vccsim.Fault{}
				for _, k := range dayTwo {
					faults.Content[k] = tc.fault
				}
			}
			sim.SetFaults(faults)
			srv.Set(tc.attack)
			srv.Capture.Requests()
			srv.Counts()
			sim.ResetRequests()
			defer func() { srv.Set(hostile.None); sim.SetFaults(vccsim.Faults{}) }()

			target := hostileTarget{srv: srv, command: tc.command, asNobody: tc.asNobody, stopWhen: tc.stopWhen, via: tc.via}
			args := tc.args
			if tc.setup != nil {
				more, env := tc.setup(t, hostileLocal{dataDir: dir, srv: srv, cred: cred})
				args, target.env = append(slices.Clone(args), more...), env
			}
			if tc.tls {
				target.certFile = certFile
			}
			var sig os.Signal = os.Interrupt
			if tc.sigterm {
				sig = syscall.SIGTERM
			}
			before := dirSums(t, dir)
			r := runHostile(t, target, cred, dir, day.Add(tc.from), day.AddDate(0, 0, 2), tc.interrupt, sig, args...)
			r.before = before
			output := "\n--- stdout\n" + r.stdout + "\n--- stderr\n" + r.stderr
			if r.code != tc.code {
				t.Errorf("exit code %d; want %d", r.code, tc.code)
			}
			if r.elapsed > hostileWallBound {
				t.Errorf("%s took %s; the hang guard is %s", r.args[0], r.elapsed, hostileWallBound)
			}
			if r.maxRSS > hostileRSSBound {
				t.Errorf("%s peaked at %d MiB RSS; the guard is %d MiB", r.args[0], r.maxRSS>>20, hostileRSSBound>>20)
			}
			checkOnlyVerified(t, dir, truth, seeded)
			checkNoSecrets(t, r, cred.ClientSecret, sim.IssuedTokens())
			r.captured = srv.Capture.Requests()
			r.downloads, r.listings = srv.Counts()
			for _, c := range r.captured {
				if c.Authorization != "" || strings.Contains(c.Body, cred.ClientSecret) {
					t.Errorf("a redirect got the credentials to %s %s (Authorization %t, secret in body %t)", c.Method, c.Path, c.Authorization != "", strings.Contains(c.Body, cred.ClientSecret))
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			if t.Failed() {
				t.Log(output)
			}
		})
	}
}

// hostileTarget is the hostile VCC a run talks to: its plain http front,
// or, with certFile (its certificate) set, its https one; env is added to
// the run's environment. command, asNobody and stopWhen are the case's
// (hostileCase).
type hostileTarget struct {
	srv      *hostile.Server
	certFile string
	env      []string
	command  []string
	asNobody bool
	stopWhen func(dataDir string) bool
	via      func(dataDir string) []string
}

// runHostile runs sync of [from, to) on dataDir (or the target's command),
// with extra added to its arguments; interrupt > 0 sends sig (Ctrl-C or
// SIGTERM) after that long, as does the target's stopWhen once it holds.
func runHostile(t *testing.T, target hostileTarget, cred vccsim.Credential, dataDir string, from, to time.Time, interrupt time.Duration, sig os.Signal, extra ...string) *hostileRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*hostileWallBound)
	defer cancel()
	srv := target.srv
	apiURL, authURL := srv.URL, srv.AuthURL()
	if target.certFile != "" {
		apiURL, authURL = srv.TLSURL, srv.TLSAuthURL()
	}
	args := []string{"sync", "--data-dir", dataDir, "--api-url", apiURL, "--auth-url", authURL,
		"--client-id", cred.ClientID, "--client-secret-ref", "env:VCC_TEST_SECRET", "--log-format", "text",
		"--requests-per-minute", "6000", "--window", "24h",
		// One attempt: a recording served wrong fails for good at once,
		// so the run ends (exit 1, the recording named) in seconds.
		"--attempts", "1",
		// Ctrl-C lets running downloads finish for a second, no more.
		"--grace", "1s",
		"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}
	if target.command != nil {
		args = slices.Clone(target.command)
	}
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, bin(t), args...)
	if target.via != nil {
		via := target.via(dataDir)
		cmd = exec.CommandContext(ctx, via[0], append(append(via[1:], bin(t)), args...)...)
	}
	if target.asNobody {
		runAsNobody(cmd)
	}
	cmd.Env = append(os.Environ(), "VCC_TEST_SECRET="+cred.ClientSecret)
	if target.certFile != "" {
		cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+target.certFile)
	}
	cmd.Env = append(cmd.Env, target.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if target.via != nil {
		pid = firstChild(t, pid) // vccingest's memory, not the tracer's
	}
	peakRSS := watchRSS(pid)
	if interrupt > 0 {
		// One Ctrl-C: a download that drips or keeps breaking is
		// cancelled after --grace, and sync ends with 130.
		first := time.AfterFunc(interrupt, func() { _ = cmd.Process.Signal(sig) })
		defer first.Stop()
	}
	exited := make(chan struct{})
	defer close(exited)
	if target.stopWhen != nil {
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-exited:
					return
				case <-tick.C:
					if target.stopWhen(dataDir) {
						_ = cmd.Process.Signal(sig)
						return
					}
				}
			}
		}()
	}
	err := cmd.Wait()
	r := &hostileRun{srv: srv, dataDir: dataDir, stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start), args: args, code: exitCode(t, err)}
	r.maxRSS = peakRSS()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.Logf("peak RSS %d MiB (%d MiB by rusage, which counts the test process's memory too)", r.maxRSS>>20, ru.Maxrss>>10)
	}
	return r
}

// runAsNobody makes cmd run as user nobody when the test runs as root,
// whom file permissions do not stop.
func runAsNobody(cmd *exec.Cmd) {
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
}

// firstChild waits for pid's first child and returns it.
func firstChild(t *testing.T, pid int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			child, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatal(err)
			}
			return child
		}
	}
	t.Fatalf("process %d started no child", pid)
	return 0
}

// bucketFiles maps each object of the data dir's file bucket to its sha256.
func bucketFiles(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	blobs := filepath.Join(dataDir, "blobs")
	out := map[string]string{}
	err := filepath.WalkDir(blobs, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(blobs, path)
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// checkOnlyVerified: every recording in the bucket has the bytes VCC holds,
// every file stored before is still there unchanged, and every recording
// the catalog says is stored is in the bucket with the sha256 it records.
func checkOnlyVerified(t *testing.T, dataDir string, truth, seeded map[string]string) {
	t.Helper()
	files := bucketFiles(t, dataDir)
	for rel, sum := range seeded {
		got, ok := files[rel]
		switch {
		case !ok:
			t.Errorf("%s, stored before, is lost", rel)
		case got != sum && !strings.HasSuffix(rel, "interaction.json"):
			// A sidecar is VCC's metadata, refreshed when it changes; a
			// recording's bytes never change.
			t.Errorf("%s, stored before, is changed", rel)
		}
	}
	for rel, sum := range files {
		if strings.HasPrefix(rel, ".vccingest-tmp"+string(filepath.Separator)) {
			// A process stopped hard leaves its temp files; not objects,
			// and the next process sweeps a dead one's.
			continue
		}
		switch want, ok := truth[rel]; {
		case ok && sum != want:
			t.Errorf("%s is stored with bytes VCC does not hold (sha256 %s, want %s)", rel, sum, want)
		case !ok && !strings.HasSuffix(rel, "interaction.json") && !strings.HasSuffix(rel, ".attrs"):
			t.Errorf("unexpected object %s in the bucket", rel)
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "catalog.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT blob_key, sha256 FROM recordings WHERE status = 'stored'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, sum string
		if err := rows.Scan(&key, &sum); err != nil {
			t.Fatal(err)
		}
		if got := files[filepath.FromSlash(key)]; got != sum || truth[filepath.FromSlash(key)] != sum {
			t.Errorf("the catalog says %s is stored with sha256 %s; the bucket has %q, VCC %q", key, sum, got, truth[filepath.FromSlash(key)])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// checkNoSecrets: neither the client secret nor any token the simulator
// issued is in the run's output or in any file of its data dir.
func checkNoSecrets(t *testing.T, r *hostileRun, clientSecret string, tokens []string) {
	t.Helper()
	needles := append([]string{clientSecret}, tokens...)
	where := map[string][]byte{"stdout": []byte(r.stdout), "stderr": []byte(r.stderr)}
	_ = filepath.WalkDir(r.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(path); err == nil {
				where[path] = b
			}
		}
		return nil
	})
	for name, b := range where {
		for i, n := range needles {
			if n != "" && bytes.Contains(b, []byte(n)) {
				what := "the client secret"
				if i > 0 {
					what = "an issued token"
				}
				t.Errorf("%s is in %s", what, name)
			}
		}
	}
}

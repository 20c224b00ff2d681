package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/vccingest/vccingest/internal/procrss"
	"github.com/vccingest/vccingest/internal/vccsim"
	"github.com/vccingest/vccingest/internal/verify"
)

var day0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

// account is one simulated VCC account and the credential the run uses.
type account struct {
	sim      *vccsim.Server
	cred     vccsim.Credential
	from, to time.Time
}

func startAccount(cfg vccsim.Config, credential string) (*account, error) {
	if cfg.Start.IsZero() {
		cfg.Start = day0
	}
	if cfg.Days == 0 {
		cfg.Days = 1
	}
	sim, err := vccsim.Start(cfg)
	if err != nil {
		return nil, err
	}
	return &account{sim: sim, cred: sim.Credential(credential), from: cfg.Start, to: cfg.Start.AddDate(0, 0, cfg.Days)}, nil
}

// run is one vccingest process.
type run struct {
	code           int
	elapsed        time.Duration
	peakRSS        int64 // bytes
	stdout, stderr string
}

// vccingest runs the binary against the account with dataDir; logs (JSON)
// go to logFile if set.
func (e *env) vccingest(ctx context.Context, a *account, dataDir, logFile string, args ...string) (run, error) {
	// Each command takes only the flags it uses: ls and coverage read the
	// catalog alone.
	base := []string{"--data-dir", dataDir}
	switch args[0] {
	case "sync", "worker", "doctor":
		base = append(base, "--api-url", a.sim.APIURL(), "--auth-url", a.sim.AuthURL(),
			"--client-id", a.cred.ClientID, "--client-secret-ref", "env:VCC_BENCH_SECRET", "--log-format", "json", "--log-level", "warn")
	}
	cmd := exec.CommandContext(ctx, e.bin, append(args[:1:1], append(base, args[1:]...)...)...)
	cmd.Env = append(os.Environ(), "VCC_BENCH_SECRET="+a.cred.ClientSecret)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var logw io.WriteCloser
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return run{}, err
		}
		logw = f
		cmd.Stderr = io.MultiWriter(&errb, f)
	}
	began := time.Now()
	// The child's own peak (procrss): its rusage would count this
	// process's memory too, shared with it until exec.
	err := cmd.Start()
	var peak int64
	if err == nil {
		stop := procrss.Watch(cmd.Process.Pid)
		err = cmd.Wait()
		peak = stop()
	}
	r := run{elapsed: time.Since(began), peakRSS: peak, stdout: out.String(), stderr: errb.String()}
	if logw != nil {
		logw.Close()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		return r, err
	}
	return r, nil
}

func (e *env) sync(a *account, dataDir, logFile string, extra ...string) (run, error) {
	args := append([]string{"sync", "--from", a.from.Format(time.RFC3339), "--to", a.to.Format(time.RFC3339)}, extra...)
	r, err := e.vccingest(e.ctx, a, dataDir, logFile, args...)
	if err == nil && r.code != 0 {
		err = fmt.Errorf("sync exited %d: %s", r.code, lastLines(r.stderr+r.stdout, 5))
	}
	return r, err
}

func lastLines(s string, n int) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// recordingPaths lists the download path of every recording the account's
// credential can see.
func (a *account) recordingPaths() (paths []string, bytes int64) {
	for _, it := range a.sim.Shape(a.from, a.to, a.cred.ClientID).Interactions {
		for _, c := range it.Content {
			if it.Visible && verify.IsRecording(c.Type) {
				paths = append(paths, "/interaction-content/interactions/"+url.PathEscape(it.GUID)+"/content/"+url.PathEscape(c.ContentKey))
				bytes += c.Size
			}
		}
	}
	return paths, bytes
}

// rawDownload is the baseline: the same recordings with plain net/http at
// the given concurrency, each into its own file under dir. With hashed, each
// body also streams through sha256 on its way to the file, as vccingest's
// must: the floor that integrity checking sets.
func (a *account) rawDownload(ctx context.Context, paths []string, dir string, workers int, hashed bool) (int64, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {a.cred.ClientID}, "client_secret": {a.cred.ClientSecret}, "scope": {vccsim.ScopeContent}}
	resp, err := http.PostForm(a.sim.AuthURL(), form)
	if err != nil {
		return 0, 0, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		return 0, 0, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	work := make(chan int)
	var mu sync.Mutex
	var total int64
	var firstErr error
	var wg sync.WaitGroup
	began := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range work {
				n, err := download(ctx, client, a.sim.URL+paths[i], tok.AccessToken, filepath.Join(dir, fmt.Sprintf("%06d.wav", i)), hashed)
				mu.Lock()
				total += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for i := range paths {
		work <- i
	}
	close(work)
	wg.Wait()
	return total, time.Since(began), firstErr
}

func download(ctx context.Context, client *http.Client, u, token, path string, hashed bool) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	var w io.Writer = f
	if hashed {
		w = io.MultiWriter(f, sha256.New())
	}
	n, err := io.Copy(w, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// emptyTree frees the disk space of every file under dir but keeps the files
// (truncated to zero bytes): on ext4 without a journal, as here, allocating
// an inode skips inodes deleted within the last minute, one lookup each, so
// a pass that follows a deletion of thousands of files pays for it. Keeping
// the inodes until the scenario ends spares every pass that cost.
func emptyTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return os.Truncate(path, 0)
	})
}

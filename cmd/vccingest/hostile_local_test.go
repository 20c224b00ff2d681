package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileLocalCases are bad local input to sync, run by
// TestSync_AgainstAHostileVCC beside the attacks of VCC (whose simulator
// serves as it is meant to), with the same checks: exit code, bounded time
// and memory, only verified bytes stored, nothing stored lost, no secret
// anywhere. Each is named after what it proves.
//
// Local input that is not sync's is tested where it lives: a read-only
// catalog browsed (TestBrowse_ReadOnlyCatalog), two processes migrating a
// new PostgreSQL catalog at once (TestMigrate_PostgresProcessesStartingTogether),
// serve sweeping temp files (TestServe_SweepsTempFilesLeftByAStoppedProcess),
// an S3 endpoint that never answers the bucket check, whose bound is 30 s
// (TestOpen_S3EndpointThatNeverAnswers), SIGTERM within --grace without
// noise (DripOneByteAtATime_NotStoredStopsOnSIGTERMWithinGrace, above).
var hostileLocalCases = []hostileCase{
	{name: "EmptyCatalogVariable_CountsAsUnsetTheConfigFilesCatalogIsUsed", code: 0,
		setup: func(t *testing.T, dataDir, _ string) ([]string, []string) {
			file := filepath.Join(dataDir, "vccingest.yaml")
			if err := os.WriteFile(file, []byte("catalog: sqlite://"+filepath.Join(dataDir, "fleet.db")+"\n"), 0o600); err != nil {
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
		setup: func(t *testing.T, _, clientSecret string) ([]string, []string) {
			return []string{"--client-secret-ref", clientSecret}, nil
		},
		check: func(t *testing.T, h *hostileRun) {
			if !strings.Contains(h.stderr, "client_secret_ref") && !strings.Contains(h.stderr, "client-secret-ref") {
				t.Errorf("the error does not name the setting to fix:\n%s", h.stderr)
			}
		}},
	{name: "AnotherLiveProcessesTempFiles_LeftInPlace", code: 0,
		setup: func(t *testing.T, dataDir, _ string) ([]string, []string) {
			// Another process writing to the same file bucket: its temp
			// directory, locked while it runs, with a write in progress.
			dir := filepath.Join(dataDir, "blobs", ".vccingest-tmp", "otherhost-4242-0a0b0c0d")
			if err := os.MkdirAll(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			lock, err := os.Create(filepath.Join(dir, "lock"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lock.Close() })
			if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "1.part"), []byte("half a recording"), 0o600); err != nil {
				t.Fatal(err)
			}
			// An hour old: only its lock says the process is alive.
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(dir, old, old); err != nil {
				t.Fatal(err)
			}
			return nil, nil
		},
		check: func(t *testing.T, h *hostileRun) {
			if _, err := os.Stat(filepath.Join(h.dataDir, "blobs", ".vccingest-tmp", "otherhost-4242-0a0b0c0d", "1.part")); err != nil {
				t.Errorf("sync removed the write in progress of another process: %v", err)
			}
		}},
}

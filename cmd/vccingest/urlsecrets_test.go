package main

import (
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// A password in a URL vccingest is given, in its user info or in a query
// parameter pgx reads (password, sslpassword), reaches no output: not what
// migrate prints, not sync's start line, not the error that refuses a bad
// --api-url.
func TestCLI_URLPasswordsAreNeverPrinted(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 5, Days: 1, CallsPerDay: 3, FixedRecordingSize: 1000}, "admin")
	// Trust authentication ignores the passwords; vccingest must not print them.
	cat := strings.Replace(postgresCatalog(t), "postgres://postgres@", "postgres://postgres:hunter2-userinfo@", 1) +
		"&password=hunter2-query&sslpassword=hunter2-ssl"
	leaks := func(what string, r result) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, "hunter2") {
			t.Errorf("%s printed a password:\n--- stdout\n%s\n--- stderr\n%s", what, r.stdout, r.stderr)
		}
	}
	r := e.run("migrate", "--catalog", cat)
	if r.code != 0 || !strings.Contains(r.stdout, "xxxxx") {
		t.Errorf("migrate exited %d; want 0, printing the catalog URL with its passwords hidden:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	leaks("migrate", r)
	r = e.syncAll("--catalog", cat)
	if r.code != 0 || !strings.Contains(r.stderr, `msg="sync starting"`) {
		t.Errorf("sync exited %d; want 0 with its start line:\n%s", r.code, r.stderr)
	}
	leaks("sync", r)
	r = e.syncAll("--api-url", "ftp://vcc:hunter2-api@gw.example/", "--auth-url", "https://gw.example/token")
	if r.code != 2 || !strings.Contains(r.stderr, "api_url") {
		t.Errorf("a bad --api-url exited %d; want 2 naming api_url:\n%s", r.code, r.stderr)
	}
	leaks("a bad --api-url", r)
}

package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// runBin runs the binary with args and no environment settings.
func runBin(t *testing.T, args ...string) (code int, out string) {
	t.Helper()
	b, err := exec.Command(bin(t), args...).CombinedOutput()
	return exitCode(t, err), string(b)
}

// exitCode is the exit code of a finished vccingest process whose Run or
// Wait returned err; the test fails if it could not run at all.
func exitCode(t testing.TB, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("run vccingest: %v", err)
	return -1
}

// Each command takes the flags it uses, help names the kind of each value,
// a wrong command line says how to use the command, and --version works.
func TestCLI_FlagsUsageAndVersion(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		code      int
		has, lack []string
	}{
		{[]string{"--version"}, 0, []string{"vccingest dev"}, nil},
		{[]string{"sync", "--help"}, 0, []string{"--downloads number", "--window duration", "--from time", "--client-id string", "--requests-per-minute number"}, []string{"--rate-limit"}},
		{[]string{"ls", "--help"}, 0, []string{"--tenant", "--from time", "--data-dir"}, []string{"--client-id", "--downloads", "--bucket"}},
		{[]string{"show", "--help"}, 0, []string{"--bucket"}, []string{"--client-id", "--downloads", "--from"}},
		{[]string{"coverage", "--help"}, 0, []string{"--lookback duration", "--from time"}, []string{"--client-id", "--downloads"}},
		{[]string{"migrate", "--help"}, 0, []string{"--catalog"}, []string{"--client-id", "--tenant"}},
		{[]string{"ls", "--client-id", "foo", "--downloads", "3"}, 2, []string{"unknown flag: --client-id", "usage: vccingest ls [flags]", "vccingest ls --help"}, nil},
		{[]string{"show"}, 2, []string{"vccingest show takes one interaction id, got 0 arguments", "usage: vccingest show <interaction-id> [flags]"}, []string{"accepts 1 arg"}},
		{[]string{"sync", "extra"}, 2, []string{`vccingest sync takes no arguments, got ["extra"]`, "usage: vccingest sync [flags]"}, nil},
	} {
		code, out := runBin(t, tc.args...)
		if code != tc.code {
			t.Errorf("vccingest %v: exit %d, want %d\n%s", tc.args, code, tc.code, out)
		}
		for _, w := range tc.has {
			if !strings.Contains(out, w) {
				t.Errorf("vccingest %v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, w := range tc.lack {
			if strings.Contains(out, w) {
				t.Errorf("vccingest %v: output has %q:\n%s", tc.args, w, out)
			}
		}
	}
}

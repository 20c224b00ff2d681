// Package browsertest starts the machine's headless Chromium for tests of
// pages served on loopback: a test that needs it fails under CI when
// Chromium is absent (.ci/run installs it) and is skipped elsewhere.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary: $VCCINGEST_CHROMIUM, or Debian's.
func Path(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("VCCINGEST_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is not installed (.ci/run installs Debian's chromium package): the status page cannot be checked")
	}
	t.Skip("Chromium is not installed; set VCCINGEST_CHROMIUM or install Debian's chromium package")
	return ""
}

// New starts a headless Chromium with a fresh profile and no background
// networking (this machine's network is closed but for loopback), and
// returns a context for chromedp actions, bounded at two minutes from this
// call: call it once the page is there to load, not before a slow setup.
// The browser ends with the test.
func New(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

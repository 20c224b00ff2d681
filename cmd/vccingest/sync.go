package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/config"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/plural"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
)

func newSyncCmd() *cobra.Command {
	var work bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Sync recordings of the configured tenant once, then exit",
		Long: `Sync discovers the interactions of each window, resolves agents and
direction, and stores every recording the credential can see, exactly once.

Without --from/--to it syncs incrementally: from the watermark (the end of the
last fully synced window) minus --lookback, to now minus --settle. With
--from/--to it backfills that range.

Exit codes: 0 all done; 1 some recordings failed for good (they are listed);
2 bad configuration or credentials.`,
		Example: `  export VCC_SECRET=...   # or keep it in a file readable only by you
  vccingest sync --region emea --client-id abc123 --client-secret-ref env:VCC_SECRET
  vccingest sync --config vccingest.yaml --from 2024-03-01 --to 2024-03-08`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			sec, err := resolveCredential(cmd.Context(), s)
			if err != nil {
				return err
			}
			return runSync(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), s, sec, !work)
		},
	}
	addSettingsFlags(cmd)
	cmd.Flags().BoolVar(&work, "work", true, "also work the jobs; --work=false only plans them for vccingest worker processes (PostgreSQL catalog)")
	return cmd
}

// wire builds the engine for s: VCC client, catalog (locked if embedded),
// bucket. done releases them.
func wire(ctx context.Context, s config.Settings, sec secret.Value, logger *slog.Logger, progress *ingest.Progress, planOnly bool) (*ingest.Engine, func(), error) {
	client, apiURL, err := newVCCClient(secret.RedactorFrom(ctx), s, sec, logger)
	if err != nil {
		return nil, nil, err
	}
	cat, closeCat, err := openCatalogExclusive(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if err := cat.EnsureSchema(ctx); err != nil {
		closeCat()
		return nil, nil, &exitError{code: 2, err: err}
	}
	bucket, err := blobstore.Open(ctx, s.BucketURL())
	if err != nil {
		closeCat()
		return nil, nil, configOrUnreachable(err)
	}
	sinks, err := openEvents(ctx, s)
	if err != nil {
		bucket.Close()
		closeCat()
		return nil, nil, err
	}
	done := func() { events.CloseAll(sinks); bucket.Close(); closeCat() }
	eng, err := ingest.New(ingest.Config{
		Tenant:      &ingest.Tenant{ID: s.Tenant, Region: s.Region, APIBase: apiURL, VCC: client, Attempts: s.Attempts, AgentRefreshTimeout: s.AgentRefreshTimeout, Events: sinks},
		EventsWait:  s.EventsWait,
		Grace:       s.Grace,
		Catalog:     cat,
		Bucket:      bucket,
		Downloads:   s.Downloads,
		Window:      s.Window,
		Lookback:    s.Lookback,
		Settle:      s.Settle,
		Rescan:      s.Rescan,
		RescueAfter: s.RescueAfter,
		Logger:      logger,
		Progress:    progress,
		Version:     version,
		PlanOnly:    planOnly,

		RequestsPerMinute: s.RequestsPerMinute,
	})
	if err != nil {
		done()
		return nil, nil, &exitError{code: 2, err: err}
	}
	return eng, done, nil
}

// redactURL hides what a URL may carry of a secret (secret.RedactURL).
func redactURL(raw string) string { return secret.RedactURL(raw) }

// runSync wires the packages for one sync of s and prints its summary.
// planOnly queues the work for vccingest worker processes and waits.
func runSync(ctx context.Context, stdout, stderr io.Writer, s config.Settings, sec secret.Value, planOnly bool) error {
	logger, bar := newLogger(ctx, stderr, s)
	progress := &ingest.Progress{}
	eng, done, err := wire(ctx, s, sec, logger, progress, planOnly)
	if err != nil {
		return err
	}
	defer done()
	// Zero bounds are the incremental plan's (the run plans them).
	r := ingest.Range{From: s.From, To: s.To}
	logger.Info("sync starting", "tenant", s.Tenant, "from", orDefault(timeOrEmpty(r.From), "watermark − lookback"), "to", orDefault(timeOrEmpty(r.To), "now − settle"), "catalog", redactURL(s.CatalogURL()), "bucket", redactURL(s.BucketURL()))

	var wg sync.WaitGroup
	barCtx, stopBar := context.WithCancel(ctx)
	if bar {
		wg.Add(1)
		go func() { defer wg.Done(); showProgress(barCtx, stderr, progress) }()
	}
	rep, err := eng.Sync(ctx, r)
	stopBar()
	wg.Wait()
	if err != nil {
		if ctx.Err() != nil {
			if rep != nil {
				printReport(stdout, rep)
			}
			return &exitError{code: 130, err: errors.New("interrupted: what was stored stays stored, and the next run resumes the rest")}
		}
		return classify(err)
	}
	printReport(stdout, rep)
	switch {
	case credentialRefused(rep):
		return &exitError{code: 2, err: errors.New("VCC refused tokens issued moments before (listed above): the API credential lost a scope or was deleted; check it in VCC Admin → API Credentials, then run the same range again")}
	case len(rep.Unlisted) > 0:
		return &exitError{code: 1, err: fmt.Errorf("%s could not be listed and %s failed for good (listed above); run the same range again to retry", plural.Count(len(rep.Unlisted), "window", "windows"), plural.Count(len(rep.Failures), "recording", "recordings"))}
	case len(rep.Failures) > 0:
		return &exitError{code: 1, err: fmt.Errorf("%s failed for good (listed above); run the same range again to retry them", plural.Count(len(rep.Failures), "recording", "recordings"))}
	}
	return nil
}

// classify maps an error to the documented exit codes: 2 for the
// configuration (a range of too many windows too) or the credential, 3
// for VCC or a backend out of reach, 1 for the rest.
func classify(err error) error {
	var se *vcc.ScopeError
	var te *vcc.TokenRefusedError
	switch {
	case errors.Is(err, vcc.ErrBadCredentials) || errors.Is(err, ingest.ErrRangeTooLong) || errors.Is(err, vcc.ErrNoAccessToken) || errors.As(err, &se) || errors.As(err, &te):
		return &exitError{code: 2, err: err}
	case unreachable(err):
		return &exitError{code: 3, err: err}
	}
	return &exitError{code: 1, err: err}
}

// unreachable reports whether err says VCC or a backend (catalog, bucket)
// could not be reached: retries ran out on a network error or a 5xx, or
// VCC did not answer within a bound.
func unreachable(err error) bool {
	var opErr *net.OpError
	var apiErr *vcc.APIError
	var slow *ingest.AgentRefreshTimeoutError
	return errors.Is(err, vcc.ErrTokenUnavailable) || catalog.Unavailable(err) || errors.Is(err, blobstore.ErrNoAnswer) || errors.As(err, &opErr) ||
		(errors.As(err, &apiErr) && apiErr.Status >= 500) || errors.As(err, &slow)
}

// configOrUnreachable is exit 3 for a backend out of reach, else 2 (its
// URL or settings are wrong).
func configOrUnreachable(err error) error {
	if unreachable(err) {
		return &exitError{code: 3, err: err}
	}
	return &exitError{code: 2, err: err}
}

// credentialRefused reports whether a run's windows or recordings failed
// because VCC refused tokens issued moments before (vcc.TokenRefusedError).
func credentialRefused(rep *ingest.Report) bool {
	for _, u := range rep.Unlisted {
		if vcc.TokenRefusedText(u.LastError) {
			return true
		}
	}
	for _, f := range rep.Failures {
		if vcc.TokenRefusedText(f.LastError) {
			return true
		}
	}
	return false
}

func printReport(w io.Writer, rep *ingest.Report) {
	p := rep.Progress
	fmt.Fprintf(w, "synced %s to %s (%s) in %s\n", rep.Range.From.Format(time.RFC3339), rep.Range.To.Format(time.RFC3339), plural.Count(rep.Windows, "window", "windows"), rep.Elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  interactions seen:   %d\n", p.Interactions)
	fmt.Fprintf(w, "  recordings stored:   %d new, %d already stored\n", rep.Stored, p.RecordingsSkipped)
	fmt.Fprintf(w, "  bytes downloaded:    %s\n", humanBytes(p.BytesDownloaded))
	if p.Rejected > 0 {
		fmt.Fprintf(w, "  interactions rejected (unsafe ids): %d\n", p.Rejected)
	}
	fmt.Fprintf(w, "  failed for good:     %d\n", len(rep.Failures))
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "    %q/%q: %s\n", f.GUID, f.ContentKey, f.LastError)
	}
	fmt.Fprintf(w, "  VCC requests:        %s\n", rep.Cost)
	if rep.PendingRecordings > 0 || rep.PendingWindows > 0 {
		eta := "unknown without a budget"
		if d := rep.ETA(); d > 0 {
			eta = "about " + d.String() + " at the budget's rate"
		}
		fmt.Fprintf(w, "  still to do:         %s to download, %s to list: %s\n", plural.Count(int(rep.PendingRecordings), "recording", "recordings"), plural.Count(int(rep.PendingWindows), "window", "windows"), eta)
	}
	if p.EventsPublished > 0 || rep.EventsPending > 0 {
		fmt.Fprintf(w, "  events delivered:    %d (%d not yet: they stay queued and the next run sends them)\n", p.EventsPublished, rep.EventsPending)
	}
	if !rep.Watermark.IsZero() {
		fmt.Fprintf(w, "  watermark:           %s\n", rep.Watermark.Format(time.RFC3339))
	}
	if len(rep.Unlisted) > 0 {
		fmt.Fprintf(w, "  windows not listed:  %d\n", len(rep.Unlisted))
		for _, u := range rep.Unlisted {
			fmt.Fprintf(w, "    %s/%s: %s\n", u.Start.Format(time.RFC3339), u.End.Format(time.RFC3339), printable(orDefault(u.LastError, "its listing did not finish")))
		}
	}
	if rep.NotDue > 0 {
		fmt.Fprintf(w, "  not due yet:         %s, ending less than the settle time ago or later: planned for a later run\n", plural.Count(rep.NotDue, "window", "windows"))
	}
	fmt.Fprintf(w, "  %s\n", rep.Coverage.Summary())
	printBadRecords(w, rep.Coverage.BadRecords)
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	printGaps(w, rep.Coverage.Diagnosis)
}

// timeOrEmpty formats t, or "" if it is zero.
func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// humanBytes prints a byte count in binary units (1.5 GiB).
func humanBytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

func orDefault(v, d string) string {
	if v != "" {
		return v
	}
	return d
}

// printGaps warns loudly about each likely missing feature permission.
func printGaps(w io.Writer, d coverage.Diagnosis) {
	for _, g := range d.Gaps {
		fmt.Fprintf(w, "WARNING: VCC silently withheld %s: the credential's user likely lacks the feature permission %q.\n", plural.Count(g.Hidden, "call", "calls"), g.Permission)
		fmt.Fprintf(w, "         evidence: %s\n", g.Evidence)
		fmt.Fprintf(w, "         fix: in the VCC Admin Portal, give the user who created the API credential %q, then sync again (the lookback re-scans recent days; use --from/--to for older ones)\n", g.Permission)
	}
	if d.Note != "" && len(d.Gaps) == 0 {
		fmt.Fprintf(w, "note: %s\n", d.Note)
	}
}

// newVCCClient builds the VCC client from the settings; errors are
// configuration errors (exit 2).
func newVCCClient(red *secret.Redactor, s config.Settings, sec secret.Value, logger *slog.Logger) (*vcc.Client, string, error) {
	authURL, apiURL := s.AuthURL, s.APIURL
	if authURL == "" || apiURL == "" {
		a, b, err := vcc.Endpoints(s.Region)
		if err != nil {
			return nil, "", &exitError{code: 2, err: err}
		}
		authURL, apiURL = orDefault(authURL, a), orDefault(apiURL, b)
	}
	var refresh func(context.Context) (secret.Value, error)
	if s.ClientSecretRef != "" {
		ref := s.ClientSecretRef
		refresh = func(ctx context.Context) (secret.Value, error) { return secret.Resolve(ctx, ref) }
	}
	client, err := vcc.New(vcc.Config{
		RefreshSecret: refresh,
		Region:        s.Region,
		AuthURL:       authURL,
		APIURL:        apiURL,
		ClientID:      s.ClientID,
		ClientSecret:  sec,
		Downloads:     s.Downloads,
		Logger:        logger,
		Redactor:      red,
		Version:       version,

		RequestsPerMinute: s.RequestsPerMinute,
		StallTimeout:      s.StallTimeout,
		MinRate:           int64(s.MinRate),
		MinRateWindow:     s.StallTimeout,
	})
	if err != nil {
		return nil, "", &exitError{code: 2, err: err}
	}
	return client, apiURL, nil
}

// openCatalogExclusive opens the catalog for a process that writes it: an
// embedded (SQLite) catalog is locked first, so only one such process runs.
// close releases both.
func openCatalogExclusive(ctx context.Context, s config.Settings) (cat *catalog.Catalog, close func(), err error) {
	var lock *catalog.Lock
	if path, err := catalog.SQLitePath(s.CatalogURL()); err == nil {
		if lock, err = catalog.AcquireLock(path + ".lock"); err != nil {
			return nil, nil, &exitError{code: 2, err: err}
		}
	}
	cat, err = catalog.Open(ctx, s.CatalogURL())
	if err != nil {
		lock.Release()
		return nil, nil, configOrUnreachable(err)
	}
	return cat, func() { cat.Close(); lock.Release() }, nil
}

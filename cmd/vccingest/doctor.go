package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/config"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/plural"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
)

// resolveCredential checks that a credential is configured and reads its
// secret.
func resolveCredential(ctx context.Context, s config.Settings) (secret.Value, error) {
	if err := s.RequireCredential(); err != nil {
		return secret.Value{}, &exitError{code: 2, err: fmt.Errorf("configuration: %w", err)}
	}
	sec, err := secret.Resolve(ctx, s.ClientSecretRef)
	if err != nil {
		return secret.Value{}, &exitError{code: 2, err: err}
	}
	secret.RedactorFrom(ctx).Add(sec.Reveal())
	return sec, nil
}

func newDoctorCmd() *cobra.Command {
	var days int
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the credential, its scopes and permissions, the clock and storage; explain what VCC withholds",
		Long: `Doctor checks, before a first sync or any time, everything a sync depends on:
each scope (a token and one minimal read), the VCC clock, the data dir and the
bucket (write, read back, delete a probe). Then it compares what the Stats API
says happened over a recent window (default the last 7 days; --from/--to to
choose) with what the Content API shows, and names each feature permission
the credential's user is likely missing, with the evidence.

Exit codes: 0 all good; 1 something to fix (listed); 2 bad configuration.`,
		Example: `  vccingest doctor --region emea --client-id abc123 --client-secret-ref env:VCC_SECRET`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			sec, err := resolveCredential(cmd.Context(), s)
			if err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "FAIL  secret %s: %v\n", secret.Describe(s.ClientSecretRef), err)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok    secret %s resolves\n", secret.Describe(s.ClientSecretRef))
			logger, _ := newLogger(cmd.Context(), cmd.ErrOrStderr(), s)
			client, _, err := newVCCClient(secret.RedactorFrom(cmd.Context()), s, sec, logger)
			if err != nil {
				return err
			}
			from, to := s.From, s.To
			if to.IsZero() {
				to = time.Now().UTC().Add(-s.Settle).Truncate(time.Minute)
			}
			if from.IsZero() {
				from = to.AddDate(0, 0, -days)
			}
			problems := runDoctor(cmd.Context(), cmd.OutOrStdout(), s, client, from, to)
			if problems > 0 {
				return &exitError{code: 1, err: fmt.Errorf("doctor found %d problem(s) (listed above)", problems)}
			}
			return nil
		},
	}
	addSettingsFlags(cmd, credentialSettings, storageSettings, rangeSettings, []string{"lookback", "requests_per_minute"}, logSettings)
	cmd.Flags().IntVar(&days, "days", 7, "days before now that the permission probe compares (unless --from/--to)")
	return cmd
}

// runDoctor prints one line per check and returns the number of problems.
func runDoctor(ctx context.Context, w io.Writer, s config.Settings, client *vcc.Client, from, to time.Time) (problems int) {
	ok := func(format string, a ...any) { fmt.Fprintf(w, "ok    "+format+"\n", a...) }
	bad := func(format string, a ...any) {
		problems++
		fmt.Fprintf(w, "FAIL  "+format+"\n", a...)
	}
	warn := func(format string, a ...any) {
		problems++
		fmt.Fprintf(w, "WARN  "+format+"\n", a...)
	}

	// Scopes: a token and one read each of what a sync reads: a search page
	// of the last 7 days of the probe's range, a page of users and one
	// agent's groups, a Stats page; then the first byte of a recording found
	// there, as a download asks.
	sampleFrom := later(from, to.AddDate(0, 0, -7))
	granted := map[string]bool{}
	var sample []vcc.Interaction
	agentUsers := map[string]vcc.User{}
	for _, sc := range []struct {
		scope, what string
		read        func() error
	}{
		{vcc.ScopeContent, "Interaction Content API search", func() error {
			var err error
			sample, err = firstN(client.Interactions(ctx, sampleFrom, to), 1000)
			return err
		}},
		{vcc.ScopeUsers, "User Admin API users and groups", func() error {
			users, err := firstN(client.Users(ctx), 5000)
			if err != nil {
				return err
			}
			for _, u := range users {
				if u.AgentID != "" {
					agentUsers[u.AgentID] = u
				}
			}
			for _, u := range users {
				if u.AgentID != "" {
					_, err := client.UserGroups(ctx, u.UserID)
					return err
				}
			}
			return nil
		}},
		{vcc.ScopeStats, "Insights Stats API", func() error { return first(client.StatsInteractions(ctx, later(from, to.Add(-24*time.Hour)), to)) }},
	} {
		err := client.CheckScope(ctx, sc.scope)
		if err == nil {
			err = sc.read()
		}
		var se *vcc.ScopeError
		var te *vcc.TokenRefusedError
		switch {
		case err == nil:
			granted[sc.scope] = true
			ok("scope %-26s token issued, %s answered", sc.scope, sc.what)
		case errors.Is(err, vcc.ErrBadCredentials):
			bad("credential: %v", err)
			return problems // nothing else can work
		case errors.As(err, &se), errors.As(err, &te):
			bad("scope %-26s not granted: %v", sc.scope, err)
		case errors.Is(err, vcc.ErrTokenUnavailable):
			bad("scope %-26s the token endpoint is unreachable (region %s): %v", sc.scope, s.Region, err)
		default:
			bad("scope %-26s %s failed: %v", sc.scope, sc.what, err)
		}
	}
	if granted[vcc.ScopeContent] {
		doctorDownload(ctx, client, sample, ok, bad, warn)
	}
	if granted[vcc.ScopeContent] && granted[vcc.ScopeUsers] {
		doctorAgents(sample, agentUsers, ok, warn)
	}
	if skew, known := client.ClockSkew(); known {
		if skew < -time.Minute || skew > time.Minute {
			warn("clock: this machine is %s off VCC's clock; token expiry and windows depend on it: sync the clock (NTP)", skew.Abs().Round(time.Second))
		} else {
			ok("clock: within %s of VCC's", max(skew.Abs(), time.Second).Round(time.Second))
		}
	}

	// Storage.
	if err := probeDataDir(s.DataDir); err != nil {
		bad("data dir: %v", err)
	} else {
		ok("data dir %s is writable", s.DataDir)
	}
	if b, err := blobstore.Open(ctx, s.BucketURL()); err != nil {
		bad("bucket: %v", err)
	} else {
		if err := b.Probe(ctx); err != nil {
			bad("bucket %s: %v", s.BucketURL(), err)
		} else {
			ok("bucket %s: wrote, read back and deleted a probe object", s.BucketURL())
		}
		b.Close()
	}
	if c, err := catalog.Open(ctx, s.CatalogURL()); err != nil {
		bad("catalog: %v", err)
	} else {
		if err := c.EnsureSchema(ctx); err != nil {
			bad("catalog: %v", err)
		} else {
			ok("catalog (%s) is ready", c.Dialect())
		}
		c.Close()
	}

	// Permissions.
	if !granted[vcc.ScopeContent] || !granted[vcc.ScopeStats] || !granted[vcc.ScopeUsers] {
		warn("permissions: not probed; the probe needs all three scopes")
		return problems
	}
	d, calls, err := coverage.Probe(ctx, client, from, to)
	if err != nil {
		bad("permission probe: %v", err)
		return problems
	}
	window := fmt.Sprintf("%s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	switch {
	case len(d.Gaps) > 0:
		for _, g := range d.Gaps {
			warn("permission %q is likely missing: %d of %s (%s) are withheld.\n      evidence: %s\n      fix: in the VCC Admin Portal, give the user who created this API credential %q", g.Permission, g.Hidden, plural.Count(calls, "call", "calls"), window, g.Evidence, g.Permission)
		}
	case d.Note != "":
		warn("permissions: %s (%s)", d.Note, window)
	default:
		ok("permissions: Content shows every kind of call Stats reports (%s, %s): %q, %q and %q look granted", plural.Count(calls, "call", "calls"), window, coverage.PermViewInbound, coverage.PermViewOutbound, coverage.PermAccessGroups)
	}
	return problems
}

// doctorDownload asks for the first byte of the newest recording of the
// sample, as a download would.
func doctorDownload(ctx context.Context, client *vcc.Client, sample []vcc.Interaction, ok, bad, warn func(string, ...any)) {
	for i := len(sample) - 1; i >= 0; i-- {
		it := sample[i]
		for _, c := range it.Content {
			if !ingest.IsRecording(c.Type) || blobstore.ValidateID(it.GUID) != nil || blobstore.ValidateID(c.Key) != nil {
				continue
			}
			if _, err := client.CheckDownload(ctx, it.GUID, c.Key); err != nil {
				bad("download: the first byte of recording %s/%s: %v", it.GUID, c.Key, err)
			} else {
				ok("download: read the first byte of recording %s/%s (Range bytes=0-0)", it.GUID, c.Key)
			}
			return
		}
	}
	warn("download: no recording in the sampled interactions to try a download with")
}

// doctorAgents says how many handling agents of the sample resolve to a
// user through agentDisplayId: that mapping is inferred from the docs
// (vcc-api.md open point 6), so the doctor shows it holds for this account.
func doctorAgents(sample []vcc.Interaction, users map[string]vcc.User, ok, warn func(string, ...any)) {
	ids := map[string]bool{}
	for _, it := range sample {
		for _, id := range it.AgentIDs {
			ids[id] = true
		}
	}
	if len(ids) == 0 {
		return
	}
	resolved := 0
	var missing []string
	for id := range ids {
		if _, found := users[id]; found {
			resolved++
		} else if len(missing) < 5 {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if resolved == len(ids) {
		ok("agents: all %d handling agents of %d sampled interactions resolve to a user (by agentDisplayId)", len(ids), len(sample))
		return
	}
	warn("agents: %d of %d handling agents of %d sampled interactions resolve to a user (by agentDisplayId); unresolved ids %s: their recordings are stored without agent name, email and groups (the credential's user may not see those users, or the ids differ)",
		resolved, len(ids), len(sample), strings.Join(missing, ", "))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// firstN reads up to n items of a listing, skipping records it cannot use.
func firstN[T any](seq func(func(T, error) bool), n int) ([]T, error) {
	var out []T
	for v, err := range seq {
		var bad *vcc.BadRecordError
		if errors.As(err, &bad) {
			continue
		}
		if err != nil {
			return out, err
		}
		if out = append(out, v); len(out) >= n {
			break
		}
	}
	return out, nil
}

// first reads the first usable item of a listing, or its error.
func first[T any](seq func(func(T, error) bool)) error {
	_, err := firstN(seq, 1)
	return err
}

// probeDataDir creates the data dir and writes, reads and removes a file in it.
func probeDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".doctor-probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	defer os.Remove(name)
	if _, err := f.WriteString("vccingest doctor probe\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	b, err := os.ReadFile(name)
	if err != nil || string(b) != "vccingest doctor probe\n" {
		return fmt.Errorf("read back %s: %v", filepath.Base(name), err)
	}
	return os.Remove(name)
}

func newCoverageCmd() *cobra.Command {
	var (
		by         string
		asJSON     bool
		allTenants bool
	)
	cmd := &cobra.Command{
		Use:   "coverage",
		Short: "Report what Stats says happened vs what was shown and stored, and why each call is missing",
		Long: `Coverage answers from the catalog alone (no VCC call): for the synced range,
per day, agent, group or direction, how many calls Stats reports, how many the
Content API showed, how many are stored, and for every missing call one cause:
hidden by a permission (which), not recorded, pending (VCC may still publish it,
or downloads still to do), or failed for good (why). Without Stats data (a
credential without the stats scope) the counts are of the calls Content showed.

Without --from/--to it covers the last 7 days. --all-tenants reports each
tenant of the catalog in turn (with --json, a list of reports).`,
		Example: `  vccingest coverage --by group
  vccingest coverage --from 2024-03-01 --to 2024-03-08 --json
  vccingest coverage --config serve.yaml --all-tenants`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return readCatalog(cmd, !allTenants, func(ctx context.Context, s config.Settings, cat *catalog.Catalog) error {
				from, to := s.From, s.To
				if to.IsZero() {
					to = time.Now().UTC()
				}
				if from.IsZero() {
					from = to.AddDate(0, 0, -7)
				}
				tenants := []string{s.Tenant}
				if allTenants {
					all, err := cat.Tenants(ctx)
					if err != nil {
						return err
					}
					tenants = tenants[:0]
					for _, t := range all {
						tenants = append(tenants, t.ID)
					}
				}
				reps := []coverage.Report{}
				for _, tenant := range tenants {
					rep, err := coverage.FromCatalog(ctx, cat, tenant, from, to, by, s.Lookback)
					if err != nil {
						return &exitError{code: 2, err: err}
					}
					reps = append(reps, rep)
				}
				w := cmd.OutOrStdout()
				switch {
				case asJSON && allTenants:
					return writeJSON(w, reps)
				case asJSON:
					return writeJSON(w, reps[0])
				}
				for i, rep := range reps {
					if allTenants {
						if i > 0 {
							fmt.Fprintln(w)
						}
						fmt.Fprintf(w, "tenant %s, %s to %s\n", printable(rep.Tenant), rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339))
					}
					if err := writeCoverage(w, rep); err != nil {
						return err
					}
				}
				if allTenants && len(reps) == 0 {
					fmt.Fprintln(w, "the catalog holds no tenant yet")
				}
				return nil
			})
		},
	}
	addSettingsFlags(cmd, catalogSettings, rangeSettings, []string{"lookback"})
	cmd.Flags().StringVar(&by, "by", "day", "bucket by day, agent, group or direction")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&allTenants, "all-tenants", false, "report every tenant of the catalog (--tenant is ignored)")
	return cmd
}

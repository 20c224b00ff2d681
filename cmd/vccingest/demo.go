package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/config"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// demoRequestsPerMinute is the demo's budget unless one is set.
const demoRequestsPerMinute = 3000

func newDemoCmd() *cobra.Command {
	var (
		days, callsPerDay int
		seed              int64
		credential        string
		full              bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Sync a simulated VCC account end to end (no account, no setup)",
		Long: `Demo starts the embedded VCC simulator on a loopback port with a generated
account (agents, groups, calls, recordings), then runs a real sync against it
into --data-dir (default ./vccingest-data) and prints what was stored.

Everything is real except VCC itself: the OAuth token exchange, paging,
retries, streaming downloads, the River job queue, the SQLite catalog and the
file bucket. Run it twice: the second run downloads nothing.

By default the simulated credential's user lacks one feature permission
("View outbound interaction content"), as real credentials often do: the
summary shows how vccingest finds and explains what VCC silently withholds.
--full-permissions syncs with a credential that sees everything.`,
		Example: `  vccingest demo
  vccingest demo --days 7 --calls-per-day 300 --data-dir /tmp/vcc-demo
  vccingest ls --data-dir ./vccingest-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// VCC's fair-usage budget would make a newcomer wait minutes
			// on a simulator that has none: the demo's own default is
			// faster, and a budget set anywhere (even 120) is kept.
			s, err := load(cmd, config.Sources{Defaults: func(s *config.Settings) { s.RequestsPerMinute = demoRequestsPerMinute }})
			if err != nil {
				return err
			}
			today := time.Now().UTC().Truncate(24 * time.Hour)
			start := today.AddDate(0, 0, -days)
			sim, err := vccsim.Start(vccsim.Config{Seed: seed, Start: start, Days: days, CallsPerDay: callsPerDay})
			if err != nil {
				return fmt.Errorf("start the simulator: %w", err)
			}
			defer sim.Close()
			if credential == "" {
				credential = "no-outbound"
				if full {
					credential = "admin"
				}
			}
			cred := sim.Credential(credential)
			if cred.ClientID == "" {
				return &exitError{code: 2, err: fmt.Errorf("--credential %q: the simulator has no such credential", credential)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "VCC simulator on %s (seed %d, %d days × %d calls, credential %q)\n", sim.URL, seed, days, callsPerDay, cred.Name)
			if s.RequestsPerMinute == demoRequestsPerMinute {
				fmt.Fprintf(cmd.OutOrStdout(), "pacing at %d VCC requests a minute: the simulator has no fair-usage limit (against VCC the default is %d; --requests-per-minute sets it)\n",
					demoRequestsPerMinute, config.DefaultRequestsPerMinute)
			}

			s.Region, s.APIURL, s.AuthURL = "nam", sim.APIURL(), sim.AuthURL()
			s.ClientID = cred.ClientID
			s.From, s.To = start, today
			if err := s.Validate(); err != nil {
				return &exitError{code: 2, err: err}
			}
			return runSync(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), s, secret.New(cred.ClientSecret), false)
		},
	}
	addSettingsFlags(cmd, []string{"tenant"}, storageSettings, pacingSettings, logSettings)
	cmd.Flags().Lookup("requests-per-minute").DefValue = strconv.Itoa(demoRequestsPerMinute) // the demo's own (see RunE)
	cmd.Flags().IntVar(&days, "days", 3, "days of simulated calls, ending at today's midnight (UTC)")
	cmd.Flags().IntVar(&callsPerDay, "calls-per-day", 40, "simulated calls per day")
	cmd.Flags().Int64Var(&seed, "seed", 1, "simulator seed: the same seed gives the same account and the same bytes")
	cmd.Flags().StringVar(&credential, "credential", "", "simulated credential to sync with (see vccingest sim); default no-outbound, or admin with --full-permissions")
	cmd.Flags().BoolVar(&full, "full-permissions", false, "sync with a credential whose user has every feature permission")
	return cmd
}

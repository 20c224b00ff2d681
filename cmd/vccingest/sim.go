package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/vccsim"
)

func newSimCmd() *cobra.Command {
	var (
		listen            string
		seed              int64
		days, callsPerDay int
		agents            int
		tokenTTL          time.Duration
		recordingSize     int64
		readings          vccsim.Readings
		accountRPM        int
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the VCC simulator as a standalone server",
		Long: `Sim serves a simulated Vonage Contact Center account on a loopback address:
the token endpoint and the Interaction Content, User Admin and Insights Stats
APIs, over generated agents, calls and streaming WAV recordings. It prints the
account's credentials and the URLs to point vccingest (or anything else) at.

It is strict: every documented rule is enforced with the documented error.
Where the VCC docs leave a point open, the --end-inclusive, --hidden-status,
--users-envelope, --users-zero-based, --empty-204 and --octet-stream flags
choose the reading
(defaults: end exclusive, 404, "users", 1-based, 200, typed downloads).

Ground truth and counters are served outside the VCC paths:
  GET  /_sim/truth?from=…&to=…&client_id=…   what happened and what a credential sees
  GET  /_sim/requests                         request counts by route, status and scope
  GET  /_sim/rejections                       refused requests and the message sent
  POST /_sim/clock?advance=1h                 move the simulated clock
  POST /_sim/faults                           inject faults (JSON)`,
		Example: `  vccingest sim --listen 127.0.0.1:8700 --seed 1 --days 7 --calls-per-day 2000`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sim, err := vccsim.StartOn(listen, vccsim.Config{Seed: seed, Days: days, CallsPerDay: callsPerDay, Agents: agents, TokenTTL: tokenTTL,
				FixedRecordingSize: recordingSize, Readings: readings, AccountRequestsPerMinute: accountRPM})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			defer sim.Close()
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "VCC simulator: seed %d, %d days × %d calls per day; readings %s", seed, days, callsPerDay, readings)
			if accountRPM > 0 {
				fmt.Fprintf(w, "; account limit %d requests/minute", accountRPM)
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "  --auth-url %s\n  --api-url  %s\n\n", sim.AuthURL(), sim.APIURL())
			fmt.Fprintf(w, "%-12s %-26s %-42s %s\n", "CREDENTIAL", "CLIENT ID", "CLIENT SECRET", "SCOPES / MISSING PERMISSIONS")
			for _, c := range sim.Credentials() {
				fmt.Fprintf(w, "%-12s %-26s %-42s %s%s\n", c.Name, c.ClientID, c.ClientSecret, strings.Join(c.Scopes, " "), missingPermissions(c))
			}
			fmt.Fprintf(w, "\nexample:\n  export VCC_SECRET=%s\n  vccingest sync --auth-url %s --api-url %s --client-id %s --client-secret-ref env:VCC_SECRET\n\nserving until interrupted\n",
				sim.Credential("admin").ClientSecret, sim.AuthURL(), sim.APIURL(), sim.Credential("admin").ClientID)
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8700", "address to serve on")
	f.Int64Var(&seed, "seed", 1, "dataset seed: the same seed gives the same account and the same bytes")
	f.IntVar(&days, "days", 7, "days of calls, ending at today's midnight (UTC)")
	f.IntVar(&callsPerDay, "calls-per-day", 2000, "calls per day")
	f.IntVar(&agents, "agents", 12, "agents in the account")
	f.DurationVar(&tokenTTL, "token-ttl", 7200*time.Second, "access token lifetime (expires_in)")
	f.Int64Var(&recordingSize, "recording-size", 0, "make every recording exactly this many bytes (0: proportional to call duration)")
	f.BoolVar(&readings.EndInclusive, "end-inclusive", false, "make the Content search's end inclusive (open point 1; default exclusive)")
	f.IntVar(&readings.HiddenStatus, "hidden-status", 404, "status of getting or downloading content hidden by permission, 404 or 403 (open point 4)")
	f.StringVar(&readings.UsersEnvelope, "users-envelope", vccsim.EnvelopeUsers, "User Admin list envelope: users, items or bare (open point 8)")
	f.BoolVar(&readings.UsersZeroBasedPages, "users-zero-based", false, "number User Admin pages from 0 (open point 8; default 1)")
	f.BoolVar(&readings.EmptySearch204, "empty-204", false, "answer an empty Content search page 204 No Content")
	f.BoolVar(&readings.OctetStreamDownloads, "octet-stream", false, "serve every download as application/octet-stream instead of its content type")
	f.IntVar(&accountRPM, "account-rpm", 0, "account-wide fair-usage limit in requests per minute across all APIs (0: none)")
	return cmd
}

func missingPermissions(c vccsim.Credential) string {
	var miss []string
	if !c.Permissions.ViewInbound {
		miss = append(miss, "view inbound content")
	}
	if !c.Permissions.ViewOutbound {
		miss = append(miss, "view outbound content")
	}
	if !c.Permissions.AccessGroups {
		miss = append(miss, "access groups of users' content (own: "+strings.Join(c.OwnerGroups, ", ")+")")
	}
	if len(miss) == 0 {
		return ""
	}
	return " / lacks: " + strings.Join(miss, "; ")
}

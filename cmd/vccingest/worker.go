package main

import (
	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/ingest"
)

func newWorkerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Work discovery and download jobs from a shared PostgreSQL catalog until stopped",
		Long: `Worker joins the job queue of a PostgreSQL catalog and works its discover and
fetch jobs until SIGTERM or SIGINT: then it stops taking jobs, lets running
ones finish for --grace, and cancels the rest (River retries them). A worker
killed outright loses nothing: River hands its jobs to another worker after
--rescue-after.

Run any number of workers on any number of hosts, with the same settings as
the sync that plans the work (vccingest sync --work=false). --downloads and
--requests-per-minute are the tenant's budget: the live workers split it
evenly (a 429 any of them draws slows them all for a while), and a worker
takes jobs only once the others have made room for it.`,
		Example: `  vccingest worker --catalog postgres://vcc@db/vccingest --bucket s3://recordings --client-id … --client-secret-ref azkv://vault/vcc`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			sec, err := resolveCredential(cmd.Context(), s)
			if err != nil {
				return err
			}
			logger, _ := newLogger(cmd.Context(), cmd.ErrOrStderr(), s)
			eng, done, err := wire(cmd.Context(), s, sec, logger, &ingest.Progress{}, false)
			if err != nil {
				return err
			}
			defer done()
			if err := eng.Work(cmd.Context(), s.Grace); err != nil {
				return classify(err)
			}
			return nil
		},
	}
	addSettingsFlags(cmd, credentialSettings, storageSettings, pacingSettings, eventSettings, logSettings)
	return cmd
}

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/config"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/secret"
)

// openEvents opens the event sinks of s (none without --events); errors
// are configuration errors (exit 2).
func openEvents(ctx context.Context, s config.Settings) ([]*events.Sink, error) {
	if len(s.Events) == 0 {
		return nil, nil
	}
	var key secret.Value
	if s.EventsSecretRef != "" {
		var err error
		if key, err = secret.Resolve(ctx, s.EventsSecretRef); err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("events_secret_ref: %w", err)}
		}
	}
	sinks, err := events.OpenAll(ctx, s.Events, events.Options{WebhookSecret: key})
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return sinks, nil
}

func newEventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Work with the events vccingest sends to analysis (see replay)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newEventsReplayCmd())
	return cmd
}

func newEventsReplayCmd() *cobra.Command {
	var types []string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Send the events of what the catalog holds again, for a new consumer or one that lost data",
		Long: `Replay queues the recording.stored event (or the --type given) of every
recording the catalog holds whose call started in [--from, --to), for every
sink of --events, and delivers them. The events keep the ids of their first
delivery, so a consumer that has them already drops them.

Exit codes: 0 all delivered; 1 some still queued after --wait (the next sync
delivers them); 2 bad configuration.`,
		Example: `  vccingest events replay --tenant acme --from 2024-03-01 --to 2024-03-08 \
      --events nats://127.0.0.1:4222/vccingest.acme`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			if s.From.IsZero() || s.To.IsZero() {
				return &exitError{code: 2, err: fmt.Errorf("give the range to replay: --from and --to")}
			}
			return runReplay(cmd.Context(), cmd, s, types, wait)
		},
	}
	addSettingsFlags(cmd, catalogSettings, []string{"bucket", "region"}, rangeSettings, eventSettings, logSettings)
	cmd.Flags().StringSliceVar(&types, "type", nil, "event types to replay: recording.stored (default), recording.failed")
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to deliver before giving up (what is left stays queued)")
	return cmd
}

func runReplay(ctx context.Context, cmd *cobra.Command, s config.Settings, types []string, wait time.Duration) error {
	logger, _ := newLogger(ctx, cmd.ErrOrStderr(), s)
	cat, closeCat, err := openCatalogExclusive(ctx, s)
	if err != nil {
		return err
	}
	defer closeCat()
	if err := cat.EnsureSchema(ctx); err != nil {
		return &exitError{code: 2, err: err}
	}
	bucket, err := blobstore.Open(ctx, s.BucketURL())
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer bucket.Close()
	sinks, err := openEvents(ctx, s)
	if err != nil {
		return err
	}
	defer events.CloseAll(sinks)
	for i, t := range types {
		types[i] = events.ShortType(t)
	}
	rep, err := ingest.Replay(ctx, ingest.ReplayConfig{
		Catalog: cat,
		Tenant:  &ingest.Tenant{ID: s.Tenant, Region: s.Region, Bucket: bucket, Events: sinks},
		From:    s.From, To: s.To, Types: types, Wait: wait, Logger: logger,
	})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "replayed %s to %s: %d events queued (%d were queued already), %d delivered, %d not yet\n",
		s.From.Format(time.RFC3339), s.To.Format(time.RFC3339), rep.Queued, rep.Duplicate, rep.Published, rep.Pending)
	if rep.Pending > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d events not delivered within --wait %s; they stay queued and the next sync or replay sends them", rep.Pending, wait)}
	}
	return nil
}

package jobqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

type windowArgs struct {
	Tenant string    `json:"tenant"`
	Start  time.Time `json:"start"`
}

func (windowArgs) Kind() string { return "test.window" }

// A job queued in a catalog transaction exists exactly when the
// transaction commits, on both databases (River's SQLite driver on one, its
// pgx driver on the other).
func TestQueueInsertTxCommitsWithTheCatalog(t *testing.T) {
	for name, open := range map[string]catalogtest.Open{"sqlite": catalogtest.SQLite, "postgres": catalogtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cat := open(t)
			if err := jobqueue.Migrate(ctx, cat); err != nil {
				t.Fatal(err)
			}
			q, err := jobqueue.New(cat, &river.Config{Logger: slog.New(slog.DiscardHandler), SkipUnknownJobCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
			queue := func(tenant string, fail error) error {
				return cat.InTx(ctx, func(tx *catalog.Tx) error {
					if err := tx.UpsertTenant(ctx, catalog.Tenant{ID: tenant}); err != nil {
						return err
					}
					if err := tx.SetWatermark(ctx, tenant, start); err != nil {
						return err
					}
					if _, err := q.InsertTx(ctx, tx, windowArgs{Tenant: tenant, Start: start}, nil); err != nil {
						return err
					}
					return fail
				})
			}
			boom := errors.New("boom")
			if err := queue("rolled-back", boom); !errors.Is(err, boom) {
				t.Fatalf("InTx = %v, want the function's error", err)
			}
			if err := queue("committed", nil); err != nil {
				t.Fatal(err)
			}
			res, err := q.JobList(ctx, river.NewJobListParams().Kinds(windowArgs{}.Kind()))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Jobs) != 1 {
				t.Fatalf("jobs after one rollback and one commit: %d, want 1", len(res.Jobs))
			}
			var args windowArgs
			if err := json.Unmarshal(res.Jobs[0].EncodedArgs, &args); err != nil || args.Tenant != "committed" {
				t.Fatalf("the job is %s (%v), want the committed tenant's", res.Jobs[0].EncodedArgs, err)
			}
			for tenant, want := range map[string]time.Time{"rolled-back": {}, "committed": start} {
				if got, err := cat.Watermark(ctx, tenant); err != nil || !got.Equal(want) {
					t.Fatalf("watermark of %s = %v, %v; want %v", tenant, got, err, want)
				}
			}
		})
	}
}

// Jobs an older vccingest queued in a shared queue move to the tenant's own
// queue, only the tenant's and only those not running, on both databases.
func TestAdoptQueuedMovesOnlyTheTenantsWaitingJobs(t *testing.T) {
	for name, open := range map[string]catalogtest.Open{"sqlite": catalogtest.SQLite, "postgres": catalogtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cat := open(t)
			if err := jobqueue.Migrate(ctx, cat); err != nil {
				t.Fatal(err)
			}
			q, err := jobqueue.New(cat, &river.Config{Logger: slog.New(slog.DiscardHandler), SkipUnknownJobCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
			for i, tenant := range []string{"acme", "acme", "globex"} {
				err := cat.InTx(ctx, func(tx *catalog.Tx) error {
					_, err := q.InsertTx(ctx, tx, windowArgs{Tenant: tenant, Start: start.Add(time.Duration(i) * time.Hour)}, &river.InsertOpts{Queue: "discover"})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			n, err := jobqueue.AdoptQueued(ctx, cat, "acme", "discover", "t_acme_discover")
			if err != nil || n != 2 {
				t.Fatalf("AdoptQueued = %d, %v; want 2", n, err)
			}
			res, err := q.JobList(ctx, river.NewJobListParams().Kinds(windowArgs{}.Kind()))
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range res.Jobs {
				var args windowArgs
				_ = json.Unmarshal(j.EncodedArgs, &args)
				if want := map[string]string{"acme": "t_acme_discover", "globex": "discover"}[args.Tenant]; j.Queue != want {
					t.Errorf("%s's job is in queue %s, want %s", args.Tenant, j.Queue, want)
				}
			}
		})
	}
}

// An attempt always ends before the rescuer would take its job back.
func TestAttemptTimeoutLeavesAMarginUnderTheRescue(t *testing.T) {
	for _, rescue := range []time.Duration{2 * time.Second, 30 * time.Second, 10 * time.Minute, 2 * time.Hour} {
		got := jobqueue.AttemptTimeout(rescue)
		if got <= 0 || got >= rescue || rescue-got < rescue/20 {
			t.Errorf("AttemptTimeout(%s) = %s: want a positive timeout at least 5%% under the rescue", rescue, got)
		}
	}
}

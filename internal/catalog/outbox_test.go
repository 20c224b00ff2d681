package catalog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
)

// Drainers claiming at once, in their own transactions, never get the
// same event, on either catalog (on PostgreSQL they race for real); an
// event is queued once per sink however often it is announced; a claimed
// event is nobody else's until its lease ends.
func TestOutbox_ClaimsNeverOverlap(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *catalog.Catalog{"sqlite": catalogtest.SQLite, "postgres": catalogtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			cat := open(t)
			ctx := context.Background()
			const n = 60
			err := cat.InTx(ctx, func(tx *catalog.Tx) error {
				for i := range n {
					for range 2 { // announced twice: queued once
						if _, err := tx.InsertOutbox(ctx, "acme", []string{"s1", "s2"}, fmt.Sprintf("acme/g-%d/stored", i), "t", []byte(`{}`)); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			var mu sync.Mutex
			claimed := map[int64]int{}
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for {
						var rows []catalog.OutboxEvent
						err := cat.InTx(ctx, func(tx *catalog.Tx) error {
							var err error
							rows, err = tx.ClaimOutbox(ctx, "acme", "s1", now, now.Add(time.Minute), 7)
							return err
						})
						if err != nil {
							t.Error(err)
							return
						}
						if len(rows) == 0 {
							return
						}
						mu.Lock()
						for _, r := range rows {
							claimed[r.ID]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(claimed) != n {
				t.Errorf("%d events of sink s1 claimed, want %d", len(claimed), n)
			}
			for id, k := range claimed {
				if k != 1 {
					t.Errorf("event %d claimed %d times", id, k)
				}
			}
			backlog, err := cat.OutboxBacklogs(ctx, "acme")
			if err != nil || backlog["s1"].Events != n || backlog["s2"].Events != n {
				t.Errorf("backlog %+v (%v), want %d per sink", backlog, err, n)
			}
			// The lease ended: claimable again.
			err = cat.InTx(ctx, func(tx *catalog.Tx) error {
				rows, err := tx.ClaimOutbox(ctx, "acme", "s1", now.Add(2*time.Minute), now.Add(3*time.Minute), 1000)
				if len(rows) != n {
					t.Errorf("after the lease: %d claimable, want %d", len(rows), n)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// DeleteOutbox removes exactly the events named, however many (more than
// one statement's worth here), and leaves the others queued.
func TestOutbox_DeleteRemovesOnlyTheNamed(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *catalog.Catalog{"sqlite": catalogtest.SQLite, "postgres": catalogtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			cat := open(t)
			ctx := context.Background()
			const n = 1203
			err := cat.InTx(ctx, func(tx *catalog.Tx) error {
				for i := range n {
					if _, err := tx.InsertOutbox(ctx, "acme", []string{"s1"}, fmt.Sprintf("acme/g-%d/stored", i), "t", []byte(`{}`)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			err = cat.InTx(ctx, func(tx *catalog.Tx) error {
				rows, err := tx.ClaimOutbox(ctx, "acme", "s1", now, now.Add(time.Minute), n)
				if err != nil {
					return err
				}
				var ids []int64
				for i, r := range rows {
					if i%3 != 0 { // keep every third
						ids = append(ids, r.ID)
					}
				}
				if err := tx.DeleteOutbox(ctx, nil); err != nil {
					return err
				}
				return tx.DeleteOutbox(ctx, ids)
			})
			if err != nil {
				t.Fatal(err)
			}
			backlog, err := cat.OutboxBacklogs(ctx, "acme")
			if want := int64((n + 2) / 3); err != nil || backlog["s1"].Events != want {
				t.Errorf("after deleting two thirds: backlog %+v (%v), want %d", backlog, err, want)
			}
		})
	}
}

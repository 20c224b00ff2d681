package catalogtest

import (
	"context"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
)

// keyDate: an interaction re-listed with a start on another day takes the
// new start while nothing of it is stored, and keeps the start of its first
// stored recording after: its keys, sidecar and day stay where they are.
func keyDate(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1", "callRecording")
	ctx := context.Background()
	start := func() time.Time {
		t.Helper()
		it, err := c.Interaction(ctx, "acme", "g1")
		if err != nil {
			t.Fatal(err)
		}
		return it.Start
	}
	nextDay := t0.AddDate(0, 0, 1)
	if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: "g1", Start: nextDay}); err != nil {
		t.Fatal(err)
	}
	if got := start(); !got.Equal(nextDay) {
		t.Fatalf("nothing stored: start %v; want the new start %v", got, nextDay)
	}
	if ok, err := c.MarkStored(ctx, "acme", "g1", "callRecording", 100, "ab", "acme/key", 0); err != nil || !ok {
		t.Fatalf("mark stored: %v %v", ok, err)
	}
	if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: "g1", Start: t0.AddDate(0, 0, 5), Direction: "inbound"}); err != nil {
		t.Fatal(err)
	}
	it, err := c.Interaction(ctx, "acme", "g1")
	if err != nil {
		t.Fatal(err)
	}
	if !it.Start.Equal(nextDay) || it.Direction != "inbound" {
		t.Fatalf("after a recording was stored, a re-listing changed the start to %v (want %v kept) or lost its other data (direction %q)", it.Start, nextDay, it.Direction)
	}
	if r, err := c.Recording(ctx, "acme", "g1", "callRecording"); err != nil || !r.Start.Equal(nextDay) {
		t.Fatalf("the stored recording's start (its key date) is %v (%v); want %v", r.Start, err, nextDay)
	}
}

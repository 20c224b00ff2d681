// Package ingest is the pipeline: it plans sync windows and runs the River
// jobs that discover a window's interactions (Content API), enrich them with
// agents (User Admin API) and direction (Insights Stats API), and download each
// recording into the bucket, verified and exactly once, with a metadata
// sidecar beside it.
//
// The catalog is the source of truth for what is stored; River jobs are how
// work is spread, retried and resumed. A recording is marked stored only after
// its bytes are committed to the bucket with the size VCC announced, and a
// fetch job for a stored recording does nothing, so re-running a window, a
// second worker or a restart after kill -9 never stores anything twice.
//
// On a shared (PostgreSQL) queue the tenant's VCC budget,
// Config.RequestsPerMinute and Config.Downloads, holds across all the
// processes that work it: each takes an equal share among the live ones
// (package fleet says how), the VCC client's limiter is set to that share
// and slowed with the others' on a 429, and fetch jobs wait for one of the
// process's download slots.
//
// Engine runs one tenant's sync to completion (`vccingest sync`, `worker`);
// Pipeline lends the same jobs to another runner (the multi-tenant scheduler
// of `vccingest serve`).
package ingest

import (
	"context"
	"iter"
	"time"

	"github.com/vccingest/vccingest/internal/vcc"
)

// VCC is what the pipeline needs of the VCC API client.
type VCC interface {
	CheckScope(ctx context.Context, scope string) error
	Interactions(ctx context.Context, start, end time.Time) iter.Seq2[vcc.Interaction, error]
	StatsInteractions(ctx context.Context, start, end time.Time) iter.Seq2[vcc.StatsInteraction, error]
	StatsInteraction(ctx context.Context, guid string) (vcc.StatsInteraction, error)
	Users(ctx context.Context) iter.Seq2[vcc.User, error]
	UserGroups(ctx context.Context, userID string) ([]vcc.Group, error)
	Open(ctx context.Context, guid string, item vcc.ContentItem) (*vcc.Content, error)
}

// IsRecording reports whether a Content API item type is a recording that
// vccingest downloads: audio a conversation-analytics platform listens to.
// Transcripts, analytics results and attachments are VCC's own derivatives
// and are not downloaded.
func IsRecording(itemType string) bool {
	switch itemType {
	case "callRecording", "voicemail", "ivrAudioRecording":
		return true
	}
	return false
}

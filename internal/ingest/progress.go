package ingest

import "sync/atomic"

// Progress counts a run's work as it happens. The pipeline is its only
// writer; the progress bar, the final summary and metrics all read the same
// counts, so they cannot disagree.
type Progress struct {
	WindowsPlanned    atomic.Int64
	WindowsDone       atomic.Int64
	Interactions      atomic.Int64 // discovered through the Content API
	Rejected          atomic.Int64 // interactions refused (hostile ids)
	BadRecords        atomic.Int64 // listed records that could not be (fully) used
	RecordingsQueued  atomic.Int64 // fetch jobs enqueued
	RecordingsStored  atomic.Int64 // stored by this run
	RecordingsSkipped atomic.Int64 // already stored before this run
	RecordingsFailed  atomic.Int64 // failed for good
	BytesDownloaded   atomic.Int64 // audio bytes received (counted while streaming)
	BytesExpected     atomic.Int64 // sum of Content-Length of queued recordings
	RecordingsRetried atomic.Int64 // fetch attempts that failed and will run again
	EventsPublished   atomic.Int64 // events a sink acknowledged
	EventsFailed      atomic.Int64 // events given up on after every attempt
}

// Snapshot is a point-in-time copy of Progress.
type Snapshot struct {
	WindowsPlanned, WindowsDone                           int64
	Interactions, Rejected, BadRecords                    int64
	RecordingsQueued, RecordingsStored, RecordingsSkipped int64
	RecordingsFailed, RecordingsRetried                   int64
	BytesDownloaded, BytesExpected                        int64
	EventsPublished, EventsFailed                         int64
}

// Snapshot reads every counter.
func (p *Progress) Snapshot() Snapshot {
	return Snapshot{
		WindowsPlanned:    p.WindowsPlanned.Load(),
		WindowsDone:       p.WindowsDone.Load(),
		Interactions:      p.Interactions.Load(),
		Rejected:          p.Rejected.Load(),
		BadRecords:        p.BadRecords.Load(),
		RecordingsQueued:  p.RecordingsQueued.Load(),
		RecordingsStored:  p.RecordingsStored.Load(),
		RecordingsSkipped: p.RecordingsSkipped.Load(),
		RecordingsFailed:  p.RecordingsFailed.Load(),
		RecordingsRetried: p.RecordingsRetried.Load(),
		BytesDownloaded:   p.BytesDownloaded.Load(),
		BytesExpected:     p.BytesExpected.Load(),
		EventsPublished:   p.EventsPublished.Load(),
		EventsFailed:      p.EventsFailed.Load(),
	}
}

// countingReader adds every byte read to a counter.
type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

package main

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/vccingest/vccingest/internal/ingest"
)

// showProgress draws windows, recordings and bytes bars from p until ctx ends,
// then draws them a last time and returns. It only reads ingest.Progress.
func showProgress(ctx context.Context, w io.Writer, p *ingest.Progress) {
	c := mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	name := func(s string) decor.Decorator { return decor.Name(s, decor.WC{W: 12, C: decor.DindentRight}) }
	windows := c.AddBar(0,
		mpb.PrependDecorators(name("windows"), decor.CountersNoUnit("%d / %d", decor.WC{W: 12})),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Any(func(decor.Statistics) string {
			return "  " + strconv.FormatInt(p.Snapshot().Interactions, 10) + " interactions"
		})))
	recordings := c.AddBar(0,
		mpb.PrependDecorators(name("recordings"), decor.CountersNoUnit("%d / %d", decor.WC{W: 12})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			s := p.Snapshot()
			out := ""
			if s.RecordingsSkipped > 0 {
				out += " " + strconv.FormatInt(s.RecordingsSkipped, 10) + " already stored"
			}
			if s.RecordingsFailed > 0 {
				out += " " + strconv.FormatInt(s.RecordingsFailed, 10) + " failed"
			}
			return out
		})))
	bytes := c.AddBar(0,
		mpb.PrependDecorators(name("bytes"), decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 22})),
		mpb.AppendDecorators(
			decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WC{W: 12}),
			decor.Name(" ETA "),
			decor.AverageETA(decor.ET_STYLE_MMSS)))

	update := func(final bool) {
		s := p.Snapshot()
		windows.SetTotal(s.WindowsPlanned, final)
		windows.SetCurrent(s.WindowsDone)
		recordings.SetTotal(s.RecordingsQueued+s.RecordingsSkipped, final)
		recordings.SetCurrent(s.RecordingsStored + s.RecordingsSkipped + s.RecordingsFailed)
		bytes.SetTotal(max(s.BytesExpected, s.BytesDownloaded), final)
		bytes.SetCurrent(s.BytesDownloaded)
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			update(true)
			for _, b := range []*mpb.Bar{windows, recordings, bytes} {
				if !b.Completed() {
					b.Abort(false)
				}
			}
			c.Wait()
			return
		case <-t.C:
			update(false)
		}
	}
}

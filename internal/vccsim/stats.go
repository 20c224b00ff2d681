package vccsim

import (
	"fmt"
	"net/http"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

// ---- Insights Stats API ----
//
// Not filtered by the Content API's feature permissions: a credential with
// the stats scope sees every interaction.

// statsCacheControl is on every Stats response, as documented.
const statsCacheControl = "max-age=5, must-revalidate, private"

func (s *Sim) statsAvailable(it *dataset.Interaction, now time.Time) bool {
	return !now.Before(it.End().Add(s.cfg.StatsDelay))
}

func (s *Sim) serveStatsInteractions(q *request) {
	v := q.r.URL.Query()
	now := s.Now()
	var start, end time.Time
	var page, limit int
	include := "Started"
	err := firstErr(
		func() (err error) { start, err = parseTimeParam(v, "start", true, time.Time{}); return },
		func() (err error) { end, err = parseTimeParam(v, "end", false, now); return },
		func() error { return checkWindow(start, end, statsMaxWindowDays) },
		func() (err error) { page, err = parseIntParam(v, "page", 1, 1, 1<<30); return },
		func() (err error) {
			limit, err = parseIntParam(v, "limit", statsDefaultLimit, 1, statsMaxLimit)
			return
		},
		func() error {
			if v.Has("include") {
				include = v.Get("include")
			}
			if include != "Started" && include != "StartedOrEnded" && include != "Processed" {
				return paramError{fmt.Sprintf("The value '%s' is not valid for 'include': use Started, StartedOrEnded or Processed.", include)}
			}
			return nil
		},
	)
	q.w.Header().Set("Cache-Control", statsCacheControl)
	if err != nil {
		writeMessage(q.w, http.StatusBadRequest, err.Error())
		return
	}
	var matched []*dataset.Interaction
	switch include {
	case "Started":
		for _, it := range s.data.Between(start, end) {
			if s.statsAvailable(it, now) {
				matched = append(matched, it)
			}
		}
	default: // StartedOrEnded and Processed: by when the row became available
		for _, it := range s.data.Interactions {
			at := it.End()
			if include == "Processed" {
				at = at.Add(s.cfg.StatsDelay)
			}
			inWindow := !at.Before(start) && at.Before(end)
			if include == "StartedOrEnded" {
				inWindow = inWindow || (!it.Start.Before(start) && it.Start.Before(end))
			}
			if inWindow && s.statsAvailable(it, now) {
				matched = append(matched, it)
			}
		}
	}
	lo, hi, m := wire.Page(len(matched), page, limit)
	items := make([]wire.Stats, 0, hi-lo)
	for _, it := range matched[lo:hi] {
		items = append(items, wire.NewStats(it))
	}
	upTo := end
	if now.Before(upTo) {
		upTo = now
	}
	q.writeBody(struct {
		Meta  wire.Meta    `json:"meta"`
		Items []wire.Stats `json:"items"`
		UpTo  string       `json:"upTo"`
	}{m, items, upTo.Format(wire.TimeLayout)})
}

func (s *Sim) serveStatsInteraction(q *request) {
	q.w.Header().Set("Cache-Control", statsCacheControl)
	it, ok := s.data.Interaction(q.params[0])
	if !ok || !s.statsAvailable(it, s.Now()) {
		writeMessage(q.w, http.StatusNotFound, fmt.Sprintf("Interaction '%s' not found", q.params[0]))
		return
	}
	q.writeBody(wire.NewStats(it))
}

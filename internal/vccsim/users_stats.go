package vccsim

import (
	"net/http"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

// ---- User Admin API ----

func (s *Sim) serveUsers(q *request) {
	v := q.r.URL.Query()
	include := v.Get("include")
	if include != "" && !strings.EqualFold(include, "All") && !strings.EqualFold(include, "Active") {
		writeMessage(q.w, http.StatusBadRequest, "The value '"+include+"' is not valid for 'include': use All or Active.")
		return
	}
	var users []wire.User
	for _, a := range s.data.Users {
		if a.Active || strings.EqualFold(include, "All") {
			users = append(users, wire.NewUser(a, s.lastLogin()))
		}
	}
	users = nonNil(users)
	if !v.Has("page") && !v.Has("pageSize") {
		q.writeBody(acceptUsers, users) // bare array, as real clients see it
		return
	}
	page, err := parseIntParam(v, "page", 1, 1, 1<<30)
	size := usersDefaultPageSize
	if err == nil {
		size, err = parseIntParam(v, "pageSize", usersDefaultPageSize, 1, usersMaxPageSize)
	}
	if err != nil {
		writeMessage(q.w, http.StatusBadRequest, err.Error())
		return
	}
	lo, hi, m := wire.Page(len(users), page, size)
	q.writeBody(acceptUsers, map[string]any{"meta": m, "items": users[lo:hi]})
}

func (s *Sim) serveUser(q *request) {
	for _, a := range s.data.Users {
		if a.UserID == q.params[0] {
			q.writeBody(acceptUsers, wire.NewUser(a, s.lastLogin()))
			return
		}
	}
	writeMessage(q.w, http.StatusNotFound, "User not found.")
}

// lastLogin is when every user last logged in: before the first call.
func (s *Sim) lastLogin() time.Time { return s.cfg.Start.Add(-time.Hour) }

// ---- Insights Stats API ----

func (s *Sim) statsAvailable(it *dataset.Interaction, now time.Time) bool {
	return !now.Before(it.End().Add(s.cfg.StatsDelay))
}

func (s *Sim) serveStatsInteractions(q *request) {
	v := q.r.URL.Query()
	now := s.Now()
	start, err := parseTimeParam(v, "start", true, time.Time{})
	end := now
	if err == nil {
		end, err = parseTimeParam(v, "end", false, now)
	}
	page, limit := 1, statsDefaultLimit
	if err == nil {
		page, err = parseIntParam(v, "page", 1, 1, 1<<30)
	}
	if err == nil {
		limit, err = parseIntParam(v, "limit", statsDefaultLimit, 1, statsMaxLimit)
	}
	if err == nil {
		err = checkWindow(start, end, statsMaxWindowDays)
	}
	include := v.Get("include")
	if err == nil && include != "" && include != "Started" && include != "StartedOrEnded" && include != "Processed" {
		err = queryErr{"The value '" + include + "' is not valid for 'include': use Started, StartedOrEnded or Processed."}
	}
	if err != nil {
		writeMessage(q.w, http.StatusBadRequest, err.Error())
		return
	}
	var matched []*dataset.Interaction
	switch include {
	case "", "Started":
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
	q.writeBody(acceptStats, map[string]any{"meta": m, "items": items, "upTo": upTo.Format(wire.TimeLayout)})
}

func (s *Sim) serveStatsInteraction(q *request) {
	it, ok := s.data.Interaction(q.params[0])
	if !ok || !s.statsAvailable(it, s.Now()) {
		writeMessage(q.w, http.StatusNotFound, "Interaction not found.")
		return
	}
	q.writeBody(acceptStats, wire.NewStats(it))
}

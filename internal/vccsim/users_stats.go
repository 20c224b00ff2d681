package vccsim

import (
	"net/http"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
)

// ---- User Admin API ----

type userJSON struct {
	UserID                   string      `json:"userId"`
	AgentID                  string      `json:"agentId"`
	Username                 string      `json:"username"`
	Name                     string      `json:"name"`
	Email                    string      `json:"email"`
	Active                   bool        `json:"active"`
	Locked                   bool        `json:"locked"`
	LastLoginTime            string      `json:"lastLoginTime"`
	SSOExternalID            string      `json:"ssoExternalId"`
	UserAccountConfiguration userAccount `json:"userAccountConfiguration"`
	Groups                   []groupJSON `json:"groups"`
}

type userAccount struct {
	Role               string      `json:"role"`
	Chargeable         bool        `json:"chargeable"`
	ActAsAgent         bool        `json:"actAsAgent"`
	AgentConfiguration agentConfig `json:"agentConfiguration"`
}

type agentConfig struct {
	AgentDisplayID string `json:"agentDisplayId"`
	Location       string `json:"location"`
}

type groupJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Sim) userJSON(a *dataset.Agent) userJSON {
	return userJSON{
		UserID: a.UserID, AgentID: userAgentID(a), Username: a.Username, Name: a.Name, Email: a.Email,
		Active: a.Active, LastLoginTime: s.cfg.Start.Add(-time.Hour).Format(time.RFC3339), SSOExternalID: a.AgentCode,
		UserAccountConfiguration: userAccount{Role: "Agent", Chargeable: true, ActAsAgent: true,
			AgentConfiguration: agentConfig{AgentDisplayID: a.AgentCode, Location: "US"}},
		Groups: []groupJSON{{ID: a.Group.ID, Name: a.Group.Name}},
	}
}

func (s *Sim) serveUsers(q *request) {
	v := q.r.URL.Query()
	include := v.Get("include")
	if include != "" && !strings.EqualFold(include, "All") && !strings.EqualFold(include, "Active") {
		writeMessage(q.w, http.StatusBadRequest, "The value '"+include+"' is not valid for 'include': use All or Active.")
		return
	}
	var users []userJSON
	for _, a := range s.data.Agents {
		if a.Active || strings.EqualFold(include, "All") {
			users = append(users, s.userJSON(a))
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
	lo, hi, m := pageOf(len(users), page, size)
	q.writeBody(acceptUsers, map[string]any{"meta": m, "items": users[lo:hi]})
}

func (s *Sim) serveUser(q *request) {
	for _, a := range s.data.Agents {
		if a.UserID == q.params[0] {
			q.writeBody(acceptUsers, s.userJSON(a))
			return
		}
	}
	writeMessage(q.w, http.StatusNotFound, "User not found.")
}

// ---- Insights Stats API ----

type statsParty struct {
	ID         *string `json:"id"`
	Role       string  `json:"role"`
	Touchpoint *string `json:"touchpoint"`
}

type statsEvent struct {
	Type     string `json:"type"`
	Offset   int64  `json:"offset"`
	Duration int64  `json:"duration"`
}

type statsChannel struct {
	GUID      string       `json:"guid"`
	Offset    int64        `json:"offset"`
	Duration  int64        `json:"duration"`
	EndReason string       `json:"endReason"`
	Party     statsParty   `json:"party"`
	Events    []statsEvent `json:"events"`
}

type statsJSON struct {
	GUID                   string            `json:"guid"`
	ConversationGUID       string            `json:"conversationGuid"`
	Status                 string            `json:"status"`
	Medium                 string            `json:"medium"`
	MediumManager          string            `json:"mediumManager"`
	Start                  string            `json:"start"`
	Duration               int64             `json:"duration"`
	Direction              string            `json:"direction"`
	ServiceName            string            `json:"serviceName"`
	ConnectTo              string            `json:"connectTo"`
	ConnectFrom            string            `json:"connectFrom"`
	Outcome                string            `json:"outcome"`
	InteractionPlanMapping map[string]string `json:"interactionPlanMapping"`
	Channels               []statsChannel    `json:"channels"`
}

func (s *Sim) statsJSON(it *dataset.Interaction) statsJSON {
	ms := it.Duration.Milliseconds()
	ring := min(int64(2011), ms/4)
	agentID := userAgentID(it.Agent)
	external := it.ConnectFrom
	if it.Direction == "outbound" {
		external = it.ConnectTo
	}
	return statsJSON{
		GUID: it.GUID, ConversationGUID: it.GUID, Status: "Completed", Medium: "Phone", MediumManager: "VCC",
		Start: it.Start.UTC().Format(isoMillis), Duration: ms,
		Direction:   strings.ToUpper(it.Direction[:1]) + it.Direction[1:],
		ServiceName: it.ServiceName, ConnectTo: it.ConnectTo, ConnectFrom: it.ConnectFrom, Outcome: it.Outcome,
		InteractionPlanMapping: map[string]string{"addressName": it.ServiceName + " Number", "reportingGroup": it.ServiceName},
		Channels: []statsChannel{
			{GUID: it.GUID, Offset: 0, Duration: ms, EndReason: "Released",
				Party:  statsParty{Role: "External", Touchpoint: &external},
				Events: []statsEvent{{Type: "Ringing"}, {Type: "Connected", Duration: ms}}},
			{GUID: it.GUID + "-agent", Offset: ring, Duration: ms - ring, EndReason: "Released",
				Party:  statsParty{ID: &agentID, Role: "Agent"},
				Events: []statsEvent{}},
		},
	}
}

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
	lo, hi, m := pageOf(len(matched), page, limit)
	items := make([]statsJSON, 0, hi-lo)
	for _, it := range matched[lo:hi] {
		items = append(items, s.statsJSON(it))
	}
	upTo := end
	if now.Before(upTo) {
		upTo = now
	}
	q.writeBody(acceptStats, map[string]any{"meta": m, "items": items, "upTo": upTo.Format(isoMillis)})
}

func (s *Sim) serveStatsInteraction(q *request) {
	it, ok := s.data.Interaction(q.params[0])
	if !ok || !s.statsAvailable(it, s.Now()) {
		writeMessage(q.w, http.StatusNotFound, "Interaction not found.")
		return
	}
	q.writeBody(acceptStats, s.statsJSON(it))
}

// Package wire renders the simulated account as the JSON documents the VCC
// Interaction Content, User Admin and Insights Stats APIs answer with.
package wire

import (
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
)

// AgentID is the agent id of a user as the Content and Stats APIs put it
// on interactions (handlingAgents[].id, the Agent channel's party.id). The
// simulator serves it as "agentId" on the user object (inferred, like the
// details listed in vccsim's inferred.go).
func AgentID(a *dataset.Agent) string { return a.AgentID }

// Meta is the meta object of a paged list.
type Meta struct {
	Page       int `json:"page"`
	Count      int `json:"count"`
	PageCount  int `json:"pageCount"`
	TotalCount int `json:"totalCount"`
}

// Page slices one 1-based page of size items out of n items.
func Page(n, page, size int) (lo, hi int, m Meta) {
	m = Meta{Page: page, TotalCount: n, PageCount: (n + size - 1) / size}
	lo = min((page-1)*size, n)
	hi = min(lo+size, n)
	m.Count = hi - lo
	return lo, hi, m
}

// ---- Interaction Content API ----

// Content is one content item of an Interaction.
type Content struct {
	ContentKey    string `json:"contentKey"`
	Type          string `json:"type"`
	ContentType   string `json:"contentType"`
	ContentLength int64  `json:"contentLength"`
}

// ID is an object that only names something, such as a handling agent.
type ID struct {
	ID string `json:"id"`
}

// Interaction is an interaction on the Interaction Content API.
type Interaction struct {
	GUID           string    `json:"guid"`
	Start          string    `json:"start"`
	ConnectFrom    string    `json:"connectFrom"`
	ConnectTo      string    `json:"connectTo"`
	Direction      string    `json:"direction,omitempty"`
	HandlingAgents []ID      `json:"handlingAgents"`
	Content        []Content `json:"content"`
}

// TimeLayout is how the APIs write times: UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// NewInteraction renders it as the Content API does; omitDirection leaves
// out direction, as older API versions do.
func NewInteraction(it *dataset.Interaction, omitDirection bool) Interaction {
	j := Interaction{
		GUID: it.GUID, Start: it.Start.UTC().Format(TimeLayout),
		ConnectFrom: it.ConnectFrom, ConnectTo: it.ConnectTo,
		HandlingAgents: []ID{{ID: AgentID(it.Agent)}},
	}
	if !omitDirection && it.Direction != "internal" {
		j.Direction = it.Direction
	}
	for _, c := range it.Content {
		j.Content = append(j.Content, Content{ContentKey: c.Key, Type: c.Type, ContentType: c.ContentType, ContentLength: c.Length})
	}
	return j
}

// ---- User Admin API ----

// User is a user on the User Admin API.
type User struct {
	UserID                   string      `json:"userId"`
	AgentID                  string      `json:"agentId"`
	Username                 string      `json:"username"`
	Name                     string      `json:"name"`
	Email                    string      `json:"email"`
	Active                   bool        `json:"active"`
	Locked                   bool        `json:"locked"`
	LastLoginTime            string      `json:"lastLoginTime"`
	SSOExternalID            string      `json:"ssoExternalId"`
	UserAccountConfiguration UserAccount `json:"userAccountConfiguration"`
	Groups                   []Group     `json:"groups"`
}

// UserAccount is a User's userAccountConfiguration.
type UserAccount struct {
	Role               string      `json:"role"`
	Chargeable         bool        `json:"chargeable"`
	ActAsAgent         bool        `json:"actAsAgent"`
	AgentConfiguration AgentConfig `json:"agentConfiguration"`
}

// AgentConfig is a UserAccount's agentConfiguration.
type AgentConfig struct {
	AgentDisplayID string `json:"agentDisplayId"`
	Location       string `json:"location"`
}

// Group is a group a User belongs to.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// NewUser renders a as the User Admin API does, last logged in at lastLogin.
func NewUser(a *dataset.Agent, lastLogin time.Time) User {
	return User{
		UserID: a.UserID, AgentID: AgentID(a), Username: a.Username, Name: a.Name, Email: a.Email,
		Active: a.Active, LastLoginTime: lastLogin.Format(time.RFC3339), SSOExternalID: a.AgentCode,
		UserAccountConfiguration: UserAccount{Role: "Agent", Chargeable: true, ActAsAgent: true,
			AgentConfiguration: AgentConfig{AgentDisplayID: a.AgentCode, Location: "US"}},
		Groups: []Group{{ID: a.Group.ID, Name: a.Group.Name}},
	}
}

// ---- Insights Stats API ----

// StatsParty is who is on a StatsChannel.
type StatsParty struct {
	ID         *string `json:"id"`
	Role       string  `json:"role"`
	Touchpoint *string `json:"touchpoint"`
}

// StatsEvent is one event of a StatsChannel.
type StatsEvent struct {
	Type     string `json:"type"`
	Offset   int64  `json:"offset"`
	Duration int64  `json:"duration"`
}

// StatsChannel is one leg of a call.
type StatsChannel struct {
	GUID      string       `json:"guid"`
	Offset    int64        `json:"offset"`
	Duration  int64        `json:"duration"`
	EndReason string       `json:"endReason"`
	Party     StatsParty   `json:"party"`
	Events    []StatsEvent `json:"events"`
}

// Stats is an interaction on the Insights Stats API.
type Stats struct {
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
	Channels               []StatsChannel    `json:"channels"`
}

// NewStats renders it as the Insights Stats API does: an external channel
// and an agent channel.
func NewStats(it *dataset.Interaction) Stats {
	ms := it.Duration.Milliseconds()
	ring := min(int64(2011), ms/4)
	agentID := AgentID(it.Agent)
	external := it.ConnectFrom
	if it.Direction == "outbound" {
		external = it.ConnectTo
	}
	return Stats{
		GUID: it.GUID, ConversationGUID: it.GUID, Status: "Completed", Medium: "Phone", MediumManager: "VCC",
		Start: it.Start.UTC().Format(TimeLayout), Duration: ms,
		Direction:   strings.ToUpper(it.Direction[:1]) + it.Direction[1:],
		ServiceName: it.ServiceName, ConnectTo: it.ConnectTo, ConnectFrom: it.ConnectFrom, Outcome: it.Outcome,
		InteractionPlanMapping: map[string]string{"addressName": it.ServiceName + " Number", "reportingGroup": it.ServiceName},
		Channels: []StatsChannel{
			{GUID: it.GUID, Offset: 0, Duration: ms, EndReason: "Released",
				Party:  StatsParty{Role: "External", Touchpoint: &external},
				Events: []StatsEvent{{Type: "Ringing"}, {Type: "Connected", Duration: ms}}},
			{GUID: it.GUID + "-agent", Offset: ring, Duration: ms - ring, EndReason: "Released",
				Party:  StatsParty{ID: &agentID, Role: "Agent"},
				Events: []StatsEvent{}},
		},
	}
}

// Package wire renders the simulated account as the JSON documents the VCC
// Interaction Content, User Admin and Insights Stats APIs answer with, field
// for field as the examples of ../shared/vcc-api.md.
package wire

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
)

// Meta is the meta object of a page-numbered list (Content v2, User Admin,
// Stats).
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

// TimeLayout is how Stats and User Admin write times: UTC with milliseconds
// ("2020-02-16T14:11:50.899Z").
const TimeLayout = "2006-01-02T15:04:05.000Z"

// ContentTimeLayout is how the Content API writes times: UTC to the second
// ("2020-02-16T14:11:56Z").
const ContentTimeLayout = "2006-01-02T15:04:05Z"

// derivedUUID is a stable UUID-shaped id for something the dataset does not
// name itself (a conversation, an agent leg, an interaction plan).
func derivedUUID(parts ...string) string {
	b := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ---- Interaction Content API ----

// ID is an object that only names something, such as a handling agent.
type ID struct {
	ID string `json:"id"`
}

// Content is one content item of an Interaction.
type Content struct {
	ContentKey    string         `json:"contentKey"`
	Type          string         `json:"type"`
	ContentType   string         `json:"contentType"`
	ContentLength int64          `json:"contentLength"`
	LastModified  string         `json:"lastModified"`
	Properties    map[string]any `json:"properties"`
	// OwningAgent is set on voicemail, OwningInteractionPlan on IVR audio.
	OwningAgent           *ID `json:"owningAgent,omitempty"`
	OwningInteractionPlan *ID `json:"owningInteractionPlan,omitempty"`
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

// NewInteraction renders it as the Content API does. Its content was last
// modified at lastModified (when it became available). omitDirection leaves
// out direction, as older API versions do; internal calls never have one,
// since the API knows only inbound and outbound.
func NewInteraction(it *dataset.Interaction, lastModified time.Time, omitDirection bool) Interaction {
	j := Interaction{
		GUID: it.GUID, Start: it.Start.UTC().Format(ContentTimeLayout),
		ConnectFrom: it.ConnectFrom, ConnectTo: it.ConnectTo,
		HandlingAgents: []ID{{ID: it.Agent.AgentID}},
		Content:        make([]Content, 0, len(it.Content)),
	}
	if !omitDirection && it.Direction != "internal" {
		j.Direction = it.Direction
	}
	for _, c := range it.Content {
		item := Content{ContentKey: c.Key, Type: c.Type, ContentType: c.ContentType, ContentLength: c.Length,
			LastModified: lastModified.UTC().Format(ContentTimeLayout), Properties: map[string]any{}}
		switch c.Type {
		case "voicemail":
			item.OwningAgent = &ID{ID: it.Agent.AgentID}
		case "ivrAudioRecording":
			item.OwningInteractionPlan = &ID{ID: InteractionPlanID(it.ServiceName)}
		}
		j.Content = append(j.Content, item)
	}
	return j
}

// InteractionPlanID is the id of the interaction plan a service's calls go
// through.
func InteractionPlanID(service string) string { return derivedUUID("plan", service) }

// ---- User Admin API ----

// User is a user on the User Admin API. It has no group list (groups are a
// separate resource) and no agent id of its own: an agent's id is
// agentConfiguration.agentDisplayId.
type User struct {
	UserID                   string      `json:"userId"`
	Username                 string      `json:"username"`
	Name                     string      `json:"name"`
	Email                    string      `json:"email"`
	LastLoginTime            string      `json:"lastLoginTime"`
	Active                   bool        `json:"active"`
	Locked                   bool        `json:"locked"`
	SSOExternalID            string      `json:"ssoExternalId"`
	UserAccountConfiguration UserAccount `json:"userAccountConfiguration"`
}

// UserAccount is a User's userAccountConfiguration.
type UserAccount struct {
	Role       string `json:"role"`
	Chargeable bool   `json:"chargeable"`
	ActAsAgent bool   `json:"actAsAgent"`
	// AgentConfiguration is nil for users who are not agents (admins).
	AgentConfiguration *AgentConfig `json:"agentConfiguration,omitempty"`
}

// AgentConfig is a UserAccount's agentConfiguration.
type AgentConfig struct {
	// AgentDisplayID is the agent id; empty (left out) for a supervisor
	// who does not act as an agent.
	AgentDisplayID string `json:"agentDisplayId,omitempty"`
	Location       string `json:"location"`
}

// NewUser renders u as the User Admin API does, last logged in at lastLogin.
func NewUser(u *dataset.User, lastLogin time.Time) User {
	j := User{
		UserID: u.UserID, Username: u.Username, Name: u.Name, Email: u.Email,
		LastLoginTime: lastLogin.UTC().Format(TimeLayout), Active: u.Active,
		SSOExternalID:            "sso-" + strings.SplitN(u.Username, "@", 2)[0],
		UserAccountConfiguration: UserAccount{Role: u.Role, Chargeable: u.Role != dataset.RoleAdmin, ActAsAgent: u.AgentID != ""},
	}
	if u.Role != dataset.RoleAdmin {
		j.UserAccountConfiguration.AgentConfiguration = &AgentConfig{AgentDisplayID: u.AgentID, Location: u.Location}
	}
	return j
}

// AgentGroup is one entry of a user's agentGroups.
type AgentGroup struct {
	GroupID        string `json:"groupId"`
	GroupDisplayID string `json:"groupDisplayId"`
	GroupName      string `json:"groupName"`
}

// NewAgentGroup renders g as GET /users/{userId}/groups lists it.
func NewAgentGroup(g dataset.Group) AgentGroup {
	return AgentGroup{GroupID: g.ID, GroupDisplayID: g.DisplayID, GroupName: g.Name}
}

// Group is GET /groups/{groupId}.
type Group struct {
	GroupID                string `json:"groupId"`
	GroupName              string `json:"groupName"`
	GroupMaxUnexpectedTime int    `json:"groupMaxUnexpectedTime"`
	GroupMaxWrapUpTime     int    `json:"groupMaxWrapUpTime"`
	GroupDisplayID         string `json:"groupDisplayId"`
}

// NewGroup renders g as GET /groups/{groupId} does.
func NewGroup(g dataset.Group) Group {
	return Group{GroupID: g.ID, GroupName: g.Name, GroupMaxUnexpectedTime: g.MaxUnexpectedTime,
		GroupMaxWrapUpTime: g.MaxWrapUpTime, GroupDisplayID: g.DisplayID}
}

// GroupUser is one entry of GET /groups/{groupId}/users.
type GroupUser struct {
	UserID         string `json:"userId"`
	AgentDisplayID string `json:"agentDisplayId"`
	Name           string `json:"name"`
}

// NewGroupUser renders u, an agent, as a group's member list does.
func NewGroupUser(u *dataset.User) GroupUser {
	return GroupUser{UserID: u.UserID, AgentDisplayID: u.AgentID, Name: u.Name}
}

// UserGroups is GET /users/{userId}/groups. A user who is not an agent has
// a null agentDisplayId and no groups.
type UserGroups struct {
	Meta           Meta         `json:"meta"`
	UserID         string       `json:"userId"`
	AgentDisplayID *string      `json:"agentDisplayId"`
	AgentGroups    []AgentGroup `json:"agentGroups"`
}

// GroupUsers is GET /groups/{groupId}/users.
type GroupUsers struct {
	Meta    Meta        `json:"meta"`
	GroupID string      `json:"groupId"`
	Users   []GroupUser `json:"users"`
}

// ---- Insights Stats API ----

// StatsParty is who is on a StatsChannel.
type StatsParty struct {
	ID         *string `json:"id"`
	Role       string  `json:"role"`
	Touchpoint *string `json:"touchpoint"`
}

// StatsEvent is one event of a StatsChannel. Name and properties are null
// in every documented example.
type StatsEvent struct {
	Type       string          `json:"type"`
	Offset     int64           `json:"offset"`
	Name       *string         `json:"name"`
	Duration   int64           `json:"duration"`
	Properties *map[string]any `json:"properties"`
}

// StatsChannel is one leg of a call.
type StatsChannel struct {
	GUID            string       `json:"guid"`
	Offset          int64        `json:"offset"`
	Duration        int64        `json:"duration"`
	EndReason       string       `json:"endReason"`
	IntegrationType *string      `json:"integrationType"`
	Party           StatsParty   `json:"party"`
	Events          []StatsEvent `json:"events"`
}

// InteractionPlanMapping is how a call was routed.
type InteractionPlanMapping struct {
	AddressName         string `json:"addressName"`
	MappingName         string `json:"mappingName"`
	InteractionPlanName string `json:"interactionPlanName"`
	ReportingGroup      string `json:"reportingGroup"`
}

// Stats is an interaction on the Insights Stats API.
type Stats struct {
	GUID                   string                 `json:"guid"`
	ConversationGUID       string                 `json:"conversationGuid"`
	Status                 string                 `json:"status"`
	Medium                 string                 `json:"medium"`
	MediumManager          string                 `json:"mediumManager"`
	Start                  string                 `json:"start"`
	Duration               int64                  `json:"duration"`
	Direction              string                 `json:"direction"`
	ServiceName            string                 `json:"serviceName"`
	ConnectFrom            string                 `json:"connectFrom"`
	ConnectTo              string                 `json:"connectTo"`
	Outcome                string                 `json:"outcome"`
	InteractionPlanMapping InteractionPlanMapping `json:"interactionPlanMapping"`
	Channels               []StatsChannel         `json:"channels"`
}

// NewStats renders it as the Insights Stats API does: the customer's leg
// (role External, no id) and the agent's leg (role Agent, the agent id).
func NewStats(it *dataset.Interaction) Stats {
	ms := it.Duration.Milliseconds()
	ring := min(int64(2011), ms/4)
	agentID := it.Agent.AgentID
	external := it.ConnectFrom
	if it.Direction == "outbound" {
		external = it.ConnectTo
	}
	return Stats{
		GUID: it.GUID, ConversationGUID: derivedUUID("conversation", it.GUID), Status: "Completed", Medium: "Phone", MediumManager: "VCC",
		Start: it.Start.UTC().Format(TimeLayout), Duration: ms,
		Direction:   strings.ToUpper(it.Direction[:1]) + it.Direction[1:],
		ServiceName: it.ServiceName, ConnectFrom: it.ConnectFrom, ConnectTo: it.ConnectTo, Outcome: it.Outcome,
		InteractionPlanMapping: InteractionPlanMapping{AddressName: it.ServiceName + " Number", MappingName: "Default",
			InteractionPlanName: it.ServiceName + " Plan", ReportingGroup: it.ServiceName},
		Channels: []StatsChannel{
			{GUID: it.GUID, Offset: 0, Duration: ms, EndReason: "Released",
				Party:  StatsParty{Role: "External", Touchpoint: &external},
				Events: []StatsEvent{{Type: "Ringing"}, {Type: "Connected", Duration: ms}}},
			{GUID: derivedUUID("agent leg", it.GUID), Offset: ring, Duration: ms - ring, EndReason: "Released",
				Party:  StatsParty{ID: &agentID, Role: "Agent"},
				Events: []StatsEvent{}},
		},
	}
}

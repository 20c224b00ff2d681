package vcc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// User is a VCC user as the User Admin API returns it.
type User struct {
	UserID    string
	AgentID   string // the id Content and Stats put on interactions
	Username  string
	Name      string
	Email     string
	AgentCode string // agentConfiguration.agentDisplayId, shown to supervisors
	Active    bool
	Groups    []Group
}

// Group is a user's group.
type Group struct {
	ID   string
	Name string
}

type userJSON struct {
	UserID                   *string `json:"userId"`
	AgentID                  flexID  `json:"agentId"`
	Username                 string  `json:"username"`
	Name                     string  `json:"name"`
	Email                    string  `json:"email"`
	Active                   bool    `json:"active"`
	UserAccountConfiguration struct {
		AgentConfiguration struct {
			AgentDisplayID flexID `json:"agentDisplayId"`
		} `json:"agentConfiguration"`
	} `json:"userAccountConfiguration"`
	Groups []struct {
		ID   flexID `json:"id"`
		Name string `json:"name"`
	} `json:"groups"`
}

// agentIDOf is the agent id Content and Stats use for a user. The mapping is
// inferred (vcc-api.md): the user's agentId.
func agentIDOf(j userJSON) string { return string(j.AgentID) }

func (j userJSON) decode() (User, error) {
	if j.UserID == nil || *j.UserID == "" {
		return User{}, missing(apiUsers, "a user", "userId")
	}
	u := User{UserID: *j.UserID, AgentID: agentIDOf(j), Username: j.Username, Name: j.Name, Email: j.Email,
		AgentCode: string(j.UserAccountConfiguration.AgentConfiguration.AgentDisplayID), Active: j.Active}
	for _, g := range j.Groups {
		u.Groups = append(u.Groups, Group{ID: string(g.ID), Name: g.Name})
	}
	return u, nil
}

// Users lists every user, active or not. It accepts the paged envelope and
// the bare array that real clients also see.
func (c *Client) Users(ctx context.Context) iter.Seq2[User, error] {
	return func(yield func(User, error) bool) {
		for page := 1; ; page++ {
			k := call{api: apiUsers, path: []string{"users"}, query: url.Values{
				"include": {"All"}, "page": {strconv.Itoa(page)}, "pageSize": {strconv.Itoa(usersPageSize)},
			}}
			raw, err := getJSON[json.RawMessage](ctx, c, k)
			if err != nil {
				yield(User{}, err)
				return
			}
			var items []userJSON
			pageCount := page
			if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
				err = json.Unmarshal(raw, &items)
			} else {
				var env envelope[userJSON]
				err = json.Unmarshal(raw, &env)
				items, pageCount = env.Items, env.Meta.PageCount
			}
			if err != nil {
				yield(User{}, fmt.Errorf("VCC users API: unreadable user list: %w", err))
				return
			}
			for _, j := range items {
				u, err := j.decode()
				if !yield(u, err) || err != nil {
					return
				}
			}
			if len(items) == 0 || page >= pageCount {
				return
			}
		}
	}
}

// User gets one user by user id.
func (c *Client) User(ctx context.Context, userID string) (User, error) {
	j, err := getJSON[userJSON](ctx, c, call{api: apiUsers, path: []string{"users", userID}})
	if err != nil {
		return User{}, err
	}
	return j.decode()
}

// StatsInteraction is an interaction as the Insights Stats API reports it:
// the authoritative direction and agent.
type StatsInteraction struct {
	GUID        string
	Start       time.Time
	Duration    time.Duration
	Direction   string // inbound, outbound or internal (lower case)
	AgentID     string // the Agent channel's party id
	Medium      string
	Status      string
	Outcome     string
	ServiceName string
	ConnectFrom string
	ConnectTo   string
}

type statsJSON struct {
	GUID        *string `json:"guid"`
	Start       *string `json:"start"`
	Duration    int64   `json:"duration"`
	Direction   *string `json:"direction"`
	Medium      string  `json:"medium"`
	Status      string  `json:"status"`
	Outcome     string  `json:"outcome"`
	ServiceName string  `json:"serviceName"`
	ConnectFrom string  `json:"connectFrom"`
	ConnectTo   string  `json:"connectTo"`
	Channels    []struct {
		Party struct {
			ID   flexID `json:"id"`
			Role string `json:"role"`
		} `json:"party"`
	} `json:"channels"`
}

func (j statsJSON) decode() (StatsInteraction, error) {
	switch {
	case j.GUID == nil || *j.GUID == "":
		return StatsInteraction{}, missing(apiStats, "an interaction", "guid")
	case j.Start == nil:
		return StatsInteraction{}, missing(apiStats, "interaction "+*j.GUID, "start")
	case j.Direction == nil:
		return StatsInteraction{}, missing(apiStats, "interaction "+*j.GUID, "direction")
	}
	start, err := parseTime(*j.Start)
	if err != nil {
		return StatsInteraction{}, fmt.Errorf("VCC stats API: interaction %s: start %q: %w", *j.GUID, *j.Start, err)
	}
	si := StatsInteraction{
		GUID: *j.GUID, Start: start, Duration: time.Duration(j.Duration) * time.Millisecond,
		Direction: strings.ToLower(*j.Direction), Medium: j.Medium, Status: j.Status, Outcome: j.Outcome,
		ServiceName: j.ServiceName, ConnectFrom: j.ConnectFrom, ConnectTo: j.ConnectTo,
	}
	// The handling agent is the channel whose party is an Agent (inferred).
	for _, ch := range j.Channels {
		if strings.EqualFold(ch.Party.Role, "Agent") && ch.Party.ID != "" {
			si.AgentID = string(ch.Party.ID)
			break
		}
	}
	return si, nil
}

// StatsInteractions lists Stats interactions that start in [start, end).
// Windows longer than the API's 31 days are split.
func (c *Client) StatsInteractions(ctx context.Context, start, end time.Time) iter.Seq2[StatsInteraction, error] {
	mk := func(s, e time.Time, page int) call {
		return call{api: apiStats, path: []string{"interactions"}, query: url.Values{
			"start": {isoTime(s)}, "end": {isoTime(e)}, "include": {"Started"},
			"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(statsPageLimit)},
		}}
	}
	return paged(ctx, c, splitWindow(start, end, statsMaxWindow), mk, statsJSON.decode)
}

// StatsInteraction gets one interaction's stats; ErrNotFound if Stats has no
// row for it (yet).
func (c *Client) StatsInteraction(ctx context.Context, guid string) (StatsInteraction, error) {
	j, err := getJSON[statsJSON](ctx, c, call{api: apiStats, path: []string{"interactions", guid}})
	if err != nil {
		return StatsInteraction{}, err
	}
	return j.decode()
}

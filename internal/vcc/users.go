package vcc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
)

// User is a VCC user as the User Admin API (v4) returns it.
type User struct {
	UserID   string
	Username string
	Name     string
	Email    string
	Role     string // Admin, Supervisor, Agent or Wallboard
	Active   bool
	// AgentID is userAccountConfiguration.agentConfiguration.agentDisplayId,
	// "the agent ID": the id the Content API puts in handlingAgents[].id and
	// the Stats API in a channel's party.id (inferred, vcc-api.md open point
	// 6: the three are the same numeric string in every example). Empty for
	// a user who is not an agent.
	AgentID string
	// AgentCode is the agent id as supervisors see it: the same
	// agentDisplayId.
	AgentCode string
}

// Group is one of a user's groups (GET /users/{userId}/groups).
type Group struct {
	ID        string // groupId
	DisplayID string // groupDisplayId
	Name      string // groupName
}

type userJSON struct {
	UserID                   *string `json:"userId"`
	Username                 string  `json:"username"`
	Name                     string  `json:"name"`
	Email                    string  `json:"email"`
	Active                   bool    `json:"active"`
	UserAccountConfiguration struct {
		Role               string `json:"role"`
		AgentConfiguration *struct {
			AgentDisplayID flexID `json:"agentDisplayId"`
		} `json:"agentConfiguration"`
	} `json:"userAccountConfiguration"`
}

func (j userJSON) decode() (User, error) {
	if j.UserID == nil || *j.UserID == "" {
		return User{}, &BadRecordError{API: apiUsers.name, Problem: `no "userId"`}
	}
	u := User{UserID: *j.UserID, Username: j.Username, Name: j.Name, Email: j.Email, Active: j.Active, Role: j.UserAccountConfiguration.Role}
	if ac := j.UserAccountConfiguration.AgentConfiguration; ac != nil {
		u.AgentID = string(ac.AgentDisplayID)
		u.AgentCode = u.AgentID
	}
	return u, nil
}

// usersMeta is the meta object of a User Admin list.
type usersMeta struct {
	Page      int `json:"page"`
	PageCount int `json:"pageCount"`
}

// usersPage is one page of GET /users in any of the shapes the docs show:
// {"meta","users"} (the endpoint's example), {"meta","items"} (the generic
// Responses page) or a bare array (clients that send no Accept).
type usersPage struct {
	Meta  *usersMeta
	Items []json.RawMessage
}

func (p *usersPage) parts() (*usersMeta, []json.RawMessage) { return p.Meta, p.Items }

func (p *usersPage) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		return json.Unmarshal(b, &p.Items)
	}
	var env struct {
		Meta  *usersMeta        `json:"meta"`
		Users []json.RawMessage `json:"users"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return err
	}
	p.Meta, p.Items = env.Meta, env.Users
	if p.Items == nil {
		p.Items = env.Items
	}
	return nil
}

// listPages walks a User Admin list without knowing whether its pages count
// from 0 or from 1 (the docs say both, vcc-api.md open point 8): the first
// page is asked for without `page`, so the server picks its own first page;
// the next page is the one after the page the server says it sent (meta.page
// + 1), or, with no meta, the page after the one asked for. It goes on
// while the server reports more pages or sends a full page, stops at an
// empty page, and gives up on a server that repeats itself (no new record
// twice in a row) or pages past maxPages. key identifies a record, for that
// repeat check ("" for a record without an id: its bytes identify it); fn
// gets each page's records.
func listPages[P any, PP interface {
	*P
	parts() (*usersMeta, []json.RawMessage)
}](ctx context.Context, c *Client, k call, limit int, key func(json.RawMessage) string, fn func([]json.RawMessage) bool) error {
	seen := map[string]bool{}
	noID := map[string]bool{} // records without an id, by their bytes
	asked, base := -1, -1     // -1: not asked for a page number yet
	stale := 0
	for n := 1; ; n++ {
		if n > maxPages {
			return fmt.Errorf("VCC %s API: GET %s: more than %d pages; stopping: %w", k.api.name, k.logPath(), maxPages, ErrListingBroken)
		}
		q := cloneValues(k.query)
		q.Set("limit", strconv.Itoa(limit))
		if asked >= 0 {
			q.Set("page", strconv.Itoa(asked))
		}
		kk := k
		kk.query = q
		body, err := getJSON[P](ctx, c, kk)
		if err != nil {
			return err
		}
		meta, items := PP(&body).parts()
		if len(items) == 0 {
			return nil
		}
		fresh := items[:0:0]
		for _, raw := range items {
			// A record without an id is known by its bytes, so that a
			// page of them sent again is a repeat, not news.
			ids := seen
			id := key(raw)
			if id == "" {
				ids, id = noID, string(raw)
			}
			if !ids[id] {
				ids[id] = true
				fresh = append(fresh, raw)
			}
		}
		if len(fresh) == 0 {
			if stale++; stale >= 2 {
				return nil // the server ignores `page`: we have it all
			}
		} else {
			stale = 0
			if !fn(fresh) {
				return nil
			}
		}
		current := asked
		if meta != nil {
			current = meta.Page
		} else if current < 0 {
			current = 0 // unknown: the first page was page 0 or 1; ask for 1
		}
		if base < 0 {
			base = current
		}
		more := len(items) >= limit
		if meta != nil && meta.PageCount > 0 {
			more = more || current-base+1 < meta.PageCount
		}
		if !more {
			return nil
		}
		asked = current + 1
	}
}

func userKey(raw json.RawMessage) string {
	var j struct {
		UserID any `json:"userId"`
	}
	if json.Unmarshal(raw, &j) != nil || j.UserID == nil {
		return ""
	}
	return fmt.Sprint(j.UserID)
}

// Users lists every user the credential may see, active or not, each once
// (include=All, limit 5000). A record it cannot use is yielded as a
// *BadRecordError and the listing goes on; any other error ends it.
func (c *Client) Users(ctx context.Context) iter.Seq2[User, error] {
	return func(yield func(User, error) bool) {
		k := call{api: apiUsers, path: []string{"users"}, query: url.Values{"include": {"All"}}, purpose: PurposeUsers}
		stopped := false
		err := listPages[usersPage](ctx, c, k, usersPageLimit, userKey, func(items []json.RawMessage) bool {
			for _, raw := range items {
				u, err := decodeItem[userJSON](apiUsers, raw)
				if !yield(u, err) {
					stopped = true
					return false
				}
			}
			return true
		})
		if err != nil && !stopped {
			yield(User{}, err)
		}
	}
}

// User gets one user by user id.
func (c *Client) User(ctx context.Context, userID string) (User, error) {
	j, err := getJSON[userJSON](ctx, c, call{api: apiUsers, path: []string{"users", userID}, purpose: PurposeUsers})
	if err != nil {
		return User{}, err
	}
	return j.decode()
}

// groupsPage is one page of GET /users/{userId}/groups.
type groupsPage struct {
	Meta        *usersMeta        `json:"meta"`
	AgentGroups []json.RawMessage `json:"agentGroups"`
}

func (p *groupsPage) parts() (*usersMeta, []json.RawMessage) { return p.Meta, p.AgentGroups }

type groupJSON struct {
	GroupID        flexID `json:"groupId"`
	GroupDisplayID flexID `json:"groupDisplayId"`
	GroupName      string `json:"groupName"`
}

func groupKey(raw json.RawMessage) string {
	var g groupJSON
	if json.Unmarshal(raw, &g) != nil {
		return ""
	}
	return string(g.GroupID) + "\x00" + g.GroupName
}

// groupsLimit is the page size asked of a user's groups: the docs give the
// sub-resources `limit` and `page` but no bounds, so stay at the lists'
// documented default page size.
const groupsLimit = 25

// UserGroups lists the groups of one user (GET /users/{userId}/groups).
// Groups without an id and a name are left out.
func (c *Client) UserGroups(ctx context.Context, userID string) ([]Group, error) {
	var out []Group
	k := call{api: apiUsers, path: []string{"users", userID, "groups"}, query: url.Values{}, purpose: PurposeGroups}
	err := listPages[groupsPage](ctx, c, k, groupsLimit, groupKey, func(items []json.RawMessage) bool {
		for _, raw := range items {
			var g groupJSON
			if json.Unmarshal(raw, &g) != nil || (g.GroupID == "" && g.GroupName == "") {
				continue
			}
			out = append(out, Group{ID: string(g.GroupID), DisplayID: string(g.GroupDisplayID), Name: g.GroupName})
		}
		return true
	})
	return out, err
}

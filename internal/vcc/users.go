package vcc

import (
	"context"
	"encoding/json"
	"errors"
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

// usersEnvelope is what of a User Admin page is not its records: pages come
// as {"meta","users"} (the endpoint's example), {"meta","items"} (the
// generic Responses page), {"meta","agentGroups"} (a user's groups) or a
// bare array of records (clients that send no Accept). The records are
// streamed (decodePage), never held here.
type usersEnvelope struct {
	Meta *usersMeta `json:"meta"`
}

// usersItemKeys are the members of a User Admin page that hold its records.
var usersItemKeys = []string{"users", "items", "agentGroups"}

// User Admin listing bounds: a page holds at most maxUserAdminRecords
// records, whatever limit asked (the groups' limit is 25, but the docs give
// it no bound, so a server may send more), and a listing has at most
// maxUserAdminPages pages (a million users, or 5,000 groups of a user:
// more than any VCC account holds). A server past either is broken, and the
// listing fails with ErrListingBroken instead of growing memory or asking
// on.
const (
	maxUserAdminRecords = usersPageLimit
	maxUserAdminPages   = 200
)

// listPages walks a User Admin list without knowing whether its pages count
// from 0 or from 1 (the docs say both, vcc-api.md open point 8): the first
// page is asked for without `page`, so the server picks its own first page;
// the next page is the one after the page the server says it sent (meta.page
// + 1), or, with no meta, the page after the one asked for. It goes on
// while the server reports more pages or sends a full page, stops at an
// empty page, and stops on a server that repeats itself (no new record
// twice in a row); more than maxUserAdminPages pages, or a page of more
// than maxUserAdminRecords records, fail it with ErrListingBroken.
//
// Each page is decoded record by record under the JSON cap (decodePage)
// and read by a pageReader: decode turns a record's bytes into what is
// kept of it and its id ("" for a record without one: a digest of its
// bytes identifies it), so a page costs its decoded records, at most
// pageKeepBytes of them, never its bytes. yield gets each record not seen
// before; it returning false ends the listing (nil).
func listPages[T any](ctx context.Context, c *Client, k call, limit int, decode func(json.RawMessage) (T, string, error), yield func(T, error) bool) error {
	pr := newPageReader(decode, yield)
	asked, base := -1, -1 // -1: not asked for a page number yet
	stale := 0
	for n := 1; ; n++ {
		if n > maxUserAdminPages {
			return fmt.Errorf("VCC %s API: GET %s: more than %d pages; stopping: %w", k.api.name, k.logPath(), maxUserAdminPages, ErrListingBroken)
		}
		q := cloneValues(k.query)
		q.Set("limit", strconv.Itoa(limit))
		if asked >= 0 {
			q.Set("page", strconv.Itoa(asked))
		}
		kk := k
		kk.query = q
		var env usersEnvelope
		err := pr.read(ctx, c, kk, usersItemKeys, true, maxUserAdminRecords, &env, func() { env = usersEnvelope{} })
		if errors.Is(err, errStopped) {
			return nil
		}
		if err != nil {
			return err
		}
		if pr.records == 0 {
			return nil
		}
		if pr.fresh == 0 {
			if stale++; stale >= 2 {
				return nil // the server ignores `page`: we have it all
			}
		} else {
			stale = 0
		}
		current := asked
		if env.Meta != nil {
			current = env.Meta.Page
		} else if current < 0 {
			current = 0 // unknown: the first page was page 0 or 1; ask for 1
		}
		if base < 0 {
			base = current
		}
		more := pr.records >= limit
		if env.Meta != nil && env.Meta.PageCount > 0 {
			more = more || current-base+1 < env.Meta.PageCount
		}
		if !more {
			return nil
		}
		asked = current + 1
	}
}

// decodeUser is listPages' decode for users.
func decodeUser(raw json.RawMessage) (User, string, error) {
	u, err := decodeItem[userJSON](apiUsers, raw)
	return u, u.UserID, err
}

// Users lists every user the credential may see, active or not, each once
// (include=All, limit 5000). A record it cannot use is yielded as a
// *BadRecordError and the listing goes on; any other error ends it.
func (c *Client) Users(ctx context.Context) iter.Seq2[User, error] {
	return func(yield func(User, error) bool) {
		k := call{api: apiUsers, path: []string{"users"}, query: url.Values{"include": {"All"}}, purpose: PurposeUsers}
		if err := listPages(ctx, c, k, usersPageLimit, decodeUser, yield); err != nil {
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

type groupJSON struct {
	GroupID        flexID `json:"groupId"`
	GroupDisplayID flexID `json:"groupDisplayId"`
	GroupName      string `json:"groupName"`
}

// errNoGroup is a group record with neither an id nor a name.
var errNoGroup = errors.New("a group without an id and a name")

// decodeGroup is listPages' decode for a user's groups.
func decodeGroup(raw json.RawMessage) (Group, string, error) {
	var g groupJSON
	if err := json.Unmarshal(raw, &g); err != nil {
		return Group{}, "", err
	}
	if g.GroupID == "" && g.GroupName == "" {
		return Group{}, "", errNoGroup
	}
	return Group{ID: string(g.GroupID), DisplayID: string(g.GroupDisplayID), Name: g.GroupName}, string(g.GroupID) + "\x00" + g.GroupName, nil
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
	err := listPages(ctx, c, k, groupsLimit, decodeGroup, func(g Group, err error) bool {
		if err == nil {
			out = append(out, g)
		}
		return true
	})
	return out, err
}

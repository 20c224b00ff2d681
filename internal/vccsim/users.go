package vccsim

import (
	"fmt"
	"net/http"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

// ---- User Admin API ----
//
// Errors are {"statusCode","error","message"}, as its Accept errors are.

// seesUser reports whether cred's user may see u: a supervisor never sees
// admins.
func seesUser(cred *Credential, u *dataset.User) bool {
	return cred.Licence != "supervisor" || u.Role != dataset.RoleAdmin
}

// lastLogin is when every user last logged in: before the first call.
func (s *Sim) lastLogin() time.Time { return s.cfg.Start.Add(-time.Hour) }

// usersPage reads limit and page and slices one page of n items, under the
// reading's first page number. It answers a bad parameter itself.
func (s *Sim) usersPage(q *request, n int) (lo, hi int, m wire.Meta, ok bool) {
	v := q.r.URL.Query()
	base := s.cfg.Readings.usersPageBase()
	var limit, page int
	err := firstErr(
		func() (err error) {
			limit, err = parseIntParam(v, "limit", usersDefaultLimit, 1, usersMaxLimit)
			return
		},
		func() (err error) { page, err = parseIntParam(v, "page", base, base, 1<<30); return },
	)
	if err != nil {
		writeBoom(q.w, http.StatusBadRequest, err.Error())
		return 0, 0, m, false
	}
	lo, hi, m = wire.Page(n, page-base+1, limit)
	m.Page = page
	return lo, hi, m, true
}

func (s *Sim) serveUsers(q *request) {
	include := "Active"
	if v := q.r.URL.Query(); v.Has("include") {
		include = v.Get("include")
	}
	if include != "Active" && include != "Archived" && include != "All" {
		writeBoom(q.w, http.StatusBadRequest, fmt.Sprintf("The value '%s' is not valid for 'include': use Active, Archived or All.", include))
		return
	}
	var users []*dataset.User
	for _, u := range s.data.Users {
		if seesUser(q.cred, u) && (include == "All" || u.Active == (include == "Active")) {
			users = append(users, u)
		}
	}
	lo, hi, m, ok := s.usersPage(q, len(users))
	if !ok {
		return
	}
	page := make([]wire.User, 0, hi-lo)
	for _, u := range users[lo:hi] {
		page = append(page, wire.NewUser(u, s.lastLogin()))
	}
	switch s.cfg.Readings.usersEnvelope() {
	case EnvelopeBare:
		q.writeBody(page)
	case EnvelopeItems:
		q.writeBody(struct {
			Meta  wire.Meta   `json:"meta"`
			Items []wire.User `json:"items"`
		}{m, page})
	default:
		q.writeBody(struct {
			Meta  wire.Meta   `json:"meta"`
			Users []wire.User `json:"users"`
		}{m, page})
	}
}

// userOf finds the user of the path that the credential may see, or
// answers 404.
func (s *Sim) userOf(q *request) (*dataset.User, bool) {
	for _, u := range s.data.Users {
		if u.UserID == q.params[0] && seesUser(q.cred, u) {
			return u, true
		}
	}
	writeBoom(q.w, http.StatusNotFound, fmt.Sprintf("User '%s' not found", q.params[0]))
	return nil, false
}

func (s *Sim) serveUser(q *request) {
	if u, ok := s.userOf(q); ok {
		q.writeBody(wire.NewUser(u, s.lastLogin()))
	}
}

// serveUserByAgent is GET /users/by/agentDisplayId/{agentDisplayId}: the
// agent user with that agent id.
func (s *Sim) serveUserByAgent(q *request) {
	for _, u := range s.data.Users {
		if u.AgentID != "" && u.AgentID == q.params[0] && seesUser(q.cred, u) {
			q.writeBody(wire.NewUser(u, s.lastLogin()))
			return
		}
	}
	writeBoom(q.w, http.StatusNotFound, fmt.Sprintf("No agent with agentDisplayId '%s'", q.params[0]))
}

func (s *Sim) serveUserGroups(q *request) {
	u, ok := s.userOf(q)
	if !ok {
		return
	}
	lo, hi, m, ok := s.usersPage(q, len(u.Groups))
	if !ok {
		return
	}
	doc := wire.UserGroups{Meta: m, UserID: u.UserID, AgentGroups: make([]wire.AgentGroup, 0, hi-lo)}
	if u.AgentID != "" {
		id := u.AgentID
		doc.AgentDisplayID = &id
	}
	for _, g := range u.Groups[lo:hi] {
		doc.AgentGroups = append(doc.AgentGroups, wire.NewAgentGroup(g))
	}
	q.writeBody(doc)
}

func (s *Sim) groupOf(q *request) (dataset.Group, bool) {
	g, ok := s.data.Group(q.params[0])
	if !ok {
		writeBoom(q.w, http.StatusNotFound, fmt.Sprintf("Group '%s' not found", q.params[0]))
	}
	return g, ok
}

func (s *Sim) serveGroup(q *request) {
	if g, ok := s.groupOf(q); ok {
		q.writeBody(wire.NewGroup(g))
	}
}

func (s *Sim) serveGroupUsers(q *request) {
	g, ok := s.groupOf(q)
	if !ok {
		return
	}
	var members []*dataset.User
	for _, u := range s.data.Users {
		for _, ug := range u.Groups {
			if ug.ID == g.ID {
				members = append(members, u)
			}
		}
	}
	lo, hi, m, ok := s.usersPage(q, len(members))
	if !ok {
		return
	}
	doc := wire.GroupUsers{Meta: m, GroupID: g.ID, Users: make([]wire.GroupUser, 0, hi-lo)}
	for _, u := range members[lo:hi] {
		doc.Users = append(doc.Users, wire.NewGroupUser(u))
	}
	q.writeBody(doc)
}

package vccsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
)

// Truth is what really happened in a window, and what one credential can see
// of it.
type Truth struct {
	From         time.Time          `json:"from"`
	To           time.Time          `json:"to"`
	Credential   string             `json:"credential"`
	Interactions []TruthInteraction `json:"interactions"`
}

// TruthInteraction is one interaction as the simulator knows it.
type TruthInteraction struct {
	GUID       string         `json:"guid"`
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	Direction  string         `json:"direction"` // inbound, outbound or internal
	AgentID    string         `json:"agent_id"`
	AgentName  string         `json:"agent_name"`
	AgentEmail string         `json:"agent_email"`
	AgentCode  string         `json:"agent_code"`
	Groups     []string       `json:"groups"`
	Content    []TruthContent `json:"content"`
	// Visible says whether the credential sees it on the Content API now;
	// HiddenReason says why not.
	Visible      bool   `json:"visible"`
	HiddenReason string `json:"hidden_reason,omitempty"`
	// StatsVisible says whether the Stats API has its row yet.
	StatsVisible bool `json:"stats_visible"`
}

// TruthContent is one content item with its exact bytes' size and sha256.
type TruthContent struct {
	ContentKey  string `json:"content_key"`
	Type        string `json:"type"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// Truth lists every interaction that starts in [from, to) with what the
// credential with clientID can see of it now. An unknown clientID sees
// nothing.
func (s *Sim) Truth(from, to time.Time, clientID string) Truth {
	return s.truth(from, to, clientID, true)
}

// Shape is Truth without the sha256 of each item, which costs reading every
// byte: for harnesses that only need what exists and who sees it.
func (s *Sim) Shape(from, to time.Time, clientID string) Truth {
	return s.truth(from, to, clientID, false)
}

func (s *Sim) truth(from, to time.Time, clientID string, sums bool) Truth {
	cred := &Credential{Name: "(unknown)"}
	for i := range s.cfg.Credentials {
		if c := &s.cfg.Credentials[i]; c.ClientID == clientID || c.Name == clientID {
			cred = c
		}
	}
	now := s.Now()
	t := Truth{From: from.UTC(), To: to.UTC(), Credential: cred.Name, Interactions: []TruthInteraction{}}
	for _, it := range s.data.Between(from, to) {
		a := it.Agent
		ti := TruthInteraction{
			GUID: it.GUID, Start: it.Start, End: it.End(), Direction: it.Direction,
			AgentID: a.AgentID, AgentName: a.Name, AgentEmail: a.Email, AgentCode: a.AgentID,
			Groups:       groupNames(a),
			StatsVisible: s.statsAvailable(it, now),
		}
		if cred.ClientID == "" {
			ti.HiddenReason = "unknown credential"
		} else {
			ti.Visible, ti.HiddenReason = s.visible(cred, it, now)
		}
		for i := range it.Content {
			c := &it.Content[i]
			tc := TruthContent{ContentKey: c.Key, Type: c.Type, ContentType: c.ContentType, Size: c.Length}
			if sums {
				tc.SHA256 = s.sha256Of(it, c)
			}
			ti.Content = append(ti.Content, tc)
		}
		t.Interactions = append(t.Interactions, ti)
	}
	return t
}

// groupNames lists the names of a's groups, its reporting group first.
func groupNames(a *dataset.User) []string {
	out := make([]string, 0, len(a.Groups))
	for _, g := range a.Groups {
		out = append(out, g.Name)
	}
	return out
}

// serveSim serves the simulator's own endpoints, outside the VCC paths:
//
//	GET  /_sim/truth?from=…&to=…&client_id=…   ground truth (client_id or credential name)
//	GET  /_sim/requests                         request counters
//	GET  /_sim/rejections                       refused requests (400, 401, 403, 404, 406)
//	GET  /_sim/credentials                      the account's credentials
//	GET  /_sim/clock, POST /_sim/clock?set=RFC3339 or ?advance=1h
//	POST /_sim/faults                           a Faults JSON object
func (s *Sim) serveSim(w http.ResponseWriter, r *http.Request, segs []string) {
	if len(segs) != 1 {
		writeMessage(w, http.StatusNotFound, "unknown simulator endpoint")
		return
	}
	q := r.URL.Query()
	switch segs[0] + " " + r.Method {
	case "truth GET":
		from, err := parseTimeParam(q, "from", true, time.Time{})
		var to time.Time
		if err == nil {
			to, err = parseTimeParam(q, "to", true, time.Time{})
		}
		if err != nil {
			writeMessage(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, s.Truth(from, to, q.Get("client_id")))
	case "requests GET":
		writeJSON(w, http.StatusOK, s.Requests())
	case "rejections GET":
		writeJSON(w, http.StatusOK, nonNil(s.Rejections()))
	case "requests DELETE":
		s.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	case "credentials GET":
		writeJSON(w, http.StatusOK, s.Credentials())
	case "clock GET":
		writeJSON(w, http.StatusOK, map[string]string{"now": s.Now().Format(time.RFC3339Nano)})
	case "clock POST":
		if v := q.Get("set"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeMessage(w, http.StatusBadRequest, fmt.Sprintf("set=%q: use RFC 3339", v))
				return
			}
			s.SetNow(t)
		}
		if v := q.Get("advance"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				writeMessage(w, http.StatusBadRequest, fmt.Sprintf("advance=%q: use a Go duration such as 90m", v))
				return
			}
			s.Advance(d)
		}
		writeJSON(w, http.StatusOK, map[string]string{"now": s.Now().Format(time.RFC3339Nano)})
	case "faults POST":
		var f Faults
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeMessage(w, http.StatusBadRequest, "faults: "+err.Error())
			return
		}
		s.SetFaults(f)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeMessage(w, http.StatusNotFound, "unknown simulator endpoint")
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// VisibleRecordings counts the audio items (call recordings, voicemails, IVR
// audio) of the interactions the credential sees: what a sync of the window
// must store.
func (t Truth) VisibleRecordings() int64 {
	var n int64
	for _, it := range t.Interactions {
		if !it.Visible {
			continue
		}
		for _, c := range it.Content {
			if strings.HasPrefix(c.ContentType, "audio/") {
				n++
			}
		}
	}
	return n
}

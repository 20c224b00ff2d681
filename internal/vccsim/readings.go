package vccsim

import (
	"fmt"
	"net/http"
)

// Readings chooses how the simulator answers where ../shared/vcc-api.md
// leaves a point open ("Open points / inferred"). The zero value is the
// default reading of every point; AllReadings lists every combination, so
// that a client can be tested against each.
type Readings struct {
	// EndInclusive makes the Content search's end inclusive (open point
	// 1: the docs disagree). Default: start inclusive, end exclusive.
	EndInclusive bool
	// HiddenStatus is what getting or downloading an interaction the
	// credential may not see answers (open point 4): 404 as if it did not
	// exist, or 403. 0 means 404.
	HiddenStatus int
	// UsersEnvelope is the User Admin list envelope of GET /users (open
	// point 8): "" or "users" for {"meta","users"}, "items" for
	// {"meta","items"}, "bare" for a bare array of the page's users.
	UsersEnvelope string
	// UsersZeroBasedPages makes User Admin pages start at 0 (open point
	// 8): page defaults to 0, its minimum is 0, and meta.page is 0 on the
	// first page. Default: pages start at 1.
	UsersZeroBasedPages bool
	// EmptySearch204 answers a Content search page with no items 204 No
	// Content with an empty body (documented as a possible success; when is
	// not said). Default: 200 with an empty items array.
	EmptySearch204 bool
	// OctetStreamDownloads serves every download as
	// application/octet-stream (the docs say the Content-Type tells the
	// type, e.g. audio/wav, but not that it never is the generic one).
	// Default: the item's content type.
	OctetStreamDownloads bool
}

// The UsersEnvelope values.
const (
	EnvelopeUsers = "users"
	EnvelopeItems = "items"
	EnvelopeBare  = "bare"
)

// AllReadings lists every combination of the listing readings (how
// searches, users pages and empty windows are answered: they can interact
// in the client's paging), the defaults first, 48 in all. How downloads are
// typed (OctetStreamDownloads) touches only the download, so it is not
// multiplied in: it alternates with the parity of the other switches,
// which gives each of its values beside each value of every other switch
// (every pair is covered) without doubling the end-to-end suite.
func AllReadings() []Readings {
	var out []Readings
	for e, end := range []bool{false, true} {
		for h, hidden := range []int{0, http.StatusForbidden} {
			for v, env := range []string{"", EnvelopeItems, EnvelopeBare} {
				for z, zero := range []bool{false, true} {
					for m, empty := range []bool{false, true} {
						out = append(out, Readings{EndInclusive: end, HiddenStatus: hidden, UsersEnvelope: env,
							UsersZeroBasedPages: zero, EmptySearch204: empty, OctetStreamDownloads: (e+h+v+z+m)%2 == 1})
					}
				}
			}
		}
	}
	return out
}

// PairwiseReadings is a covering set of AllReadings: every value of each
// switch beside every value of every other switch at least once (all pairs),
// the defaults first, in a handful of combinations instead of 48. It suits
// a suite too slow to run every combination; a fast one should take them
// all.
func PairwiseReadings() []Readings {
	all := AllReadings()
	uncovered := map[string]bool{}
	for _, r := range all {
		for _, p := range r.pairs() {
			uncovered[p] = true
		}
	}
	out := []Readings{}
	take := func(r Readings) {
		out = append(out, r)
		for _, p := range r.pairs() {
			delete(uncovered, p)
		}
	}
	take(all[0])
	for len(uncovered) > 0 {
		best, gain := Readings{}, -1
		for _, r := range all {
			n := 0
			for _, p := range r.pairs() {
				if uncovered[p] {
					n++
				}
			}
			if n > gain {
				best, gain = r, n
			}
		}
		take(best)
	}
	return out
}

// values names the value of each switch, one string per switch.
func (r Readings) values() []string {
	return []string{
		fmt.Sprint("end=", r.EndInclusive), fmt.Sprint("hidden=", r.HiddenStatus), "users=" + r.UsersEnvelope,
		fmt.Sprint("zero=", r.UsersZeroBasedPages), fmt.Sprint("empty=", r.EmptySearch204), fmt.Sprint("octet=", r.OctetStreamDownloads),
	}
}

// pairs names each pair of switch values the combination holds.
func (r Readings) pairs() []string {
	v := r.values()
	var out []string
	for i := range v {
		for j := i + 1; j < len(v); j++ {
			out = append(out, v[i]+"&"+v[j])
		}
	}
	return out
}

// String is a short label, safe as a test name, e.g.
// "end=excl,hidden=404,users=users,base=1,empty=200,media=typed".
func (r Readings) String() string {
	end := "excl"
	if r.EndInclusive {
		end = "incl"
	}
	base, empty := 1, 200
	if r.UsersZeroBasedPages {
		base = 0
	}
	if r.EmptySearch204 {
		empty = 204
	}
	media := "typed"
	if r.OctetStreamDownloads {
		media = "octet"
	}
	return fmt.Sprintf("end=%s,hidden=%d,users=%s,base=%d,empty=%d,media=%s", end, r.hiddenStatus(), r.usersEnvelope(), base, empty, media)
}

func (r Readings) validate() error {
	switch r.HiddenStatus {
	case 0, http.StatusNotFound, http.StatusForbidden:
	default:
		return fmt.Errorf("vccsim: Readings.HiddenStatus %d: use 404 or 403", r.HiddenStatus)
	}
	switch r.UsersEnvelope {
	case "", EnvelopeUsers, EnvelopeItems, EnvelopeBare:
	default:
		return fmt.Errorf("vccsim: Readings.UsersEnvelope %q: use %q, %q or %q", r.UsersEnvelope, EnvelopeUsers, EnvelopeItems, EnvelopeBare)
	}
	return nil
}

func (r Readings) hiddenStatus() int {
	if r.HiddenStatus == 0 {
		return http.StatusNotFound
	}
	return r.HiddenStatus
}

func (r Readings) usersEnvelope() string {
	if r.UsersEnvelope == "" {
		return EnvelopeUsers
	}
	return r.UsersEnvelope
}

// usersPageBase is the number of User Admin's first page.
func (r Readings) usersPageBase() int {
	if r.UsersZeroBasedPages {
		return 0
	}
	return 1
}

package vcc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StatsInteraction is an interaction as the Insights Stats API reports it:
// the authoritative direction and agent.
type StatsInteraction struct {
	GUID        string
	Start       time.Time
	Duration    time.Duration
	Direction   string // inbound, outbound, internal, or unknown (see Problems)
	AgentID     string // the agent leg's party id
	Medium      string
	Status      string
	Outcome     string
	ServiceName string
	ConnectFrom string
	ConnectTo   string
	// Problems lists what was odd about the row but did not make it
	// unusable, such as a direction the API does not document.
	Problems []string
}

type statsJSON struct {
	GUID        *string `json:"guid"`
	Start       *string `json:"start"`
	Duration    *int64  `json:"duration"`
	Direction   *string `json:"direction"`
	Medium      string  `json:"medium"`
	Status      string  `json:"status"`
	Outcome     string  `json:"outcome"`
	ServiceName string  `json:"serviceName"`
	ConnectFrom string  `json:"connectFrom"`
	ConnectTo   string  `json:"connectTo"`
	Channels    []struct {
		Party *struct {
			ID   flexID `json:"id"`
			Role string `json:"role"`
		} `json:"party"`
	} `json:"channels"`
}

func (j statsJSON) decode() (StatsInteraction, error) {
	bad := func(problem string) error {
		return &BadRecordError{API: apiStats.name, ID: truncate(deref(j.GUID), 80), Problem: problem}
	}
	switch {
	case j.GUID == nil || *j.GUID == "":
		return StatsInteraction{}, bad(`no "guid"`)
	case j.Start == nil:
		return StatsInteraction{}, bad(`no "start"`)
	}
	start, err := parseTime(*j.Start)
	if err != nil {
		return StatsInteraction{}, bad(fmt.Sprintf("start %q is not an ISO 8601 time", truncate(*j.Start, 40)))
	}
	if problem := implausibleStart(start, *j.Start); problem != "" {
		return StatsInteraction{}, bad(problem)
	}
	si := StatsInteraction{
		GUID: *j.GUID, Start: start, Direction: "unknown", Medium: j.Medium, Status: j.Status, Outcome: j.Outcome,
		ServiceName: j.ServiceName, ConnectFrom: j.ConnectFrom, ConnectTo: j.ConnectTo,
	}
	switch {
	case j.Duration == nil:
		si.Problems = append(si.Problems, `no "duration"`)
	case *j.Duration < 0:
		si.Problems = append(si.Problems, fmt.Sprintf("negative duration %d ms (ignored)", *j.Duration))
	case *j.Duration > int64(math.MaxInt64/time.Millisecond):
		// More milliseconds than a time.Duration holds would wrap around.
		si.Problems = append(si.Problems, fmt.Sprintf("duration %d ms is too long (ignored)", *j.Duration))
	default:
		si.Duration = time.Duration(*j.Duration) * time.Millisecond
	}
	switch d := strings.ToLower(deref(j.Direction)); {
	case j.Direction == nil:
		si.Problems = append(si.Problems, `no "direction" (recorded as unknown)`)
	case d == "inbound" || d == "outbound" || d == "internal":
		si.Direction = d
	default:
		si.Problems = append(si.Problems, fmt.Sprintf("direction %q is not Inbound, Outbound or Internal (recorded as unknown)", truncate(*j.Direction, 40)))
	}
	// The agent leg: any party with an id that is not the customer's
	// (role External). The docs show role "Agent" in no example; the
	// customer leg's id is null.
	for _, ch := range j.Channels {
		if p := ch.Party; p != nil && p.ID != "" && !strings.EqualFold(p.Role, "External") {
			si.AgentID = string(p.ID)
			break
		}
	}
	return si, nil
}

// statsPage is one page of GET /stats/interactions.
type statsPage struct {
	Meta struct {
		Page      int `json:"page"`
		PageCount int `json:"pageCount"`
	} `json:"meta"`
	// items are streamed (decodePage), never held here
}

// statsExtraPages is how many pages past the pageCount of its first page a
// Stats listing reads: rows of calls that started in the window may still
// arrive while it is read (5,000 to a page), but a server that keeps
// announcing one page more is broken.
const statsExtraPages = 2

// StatsInteractions lists Stats interactions that start in [start, end),
// each once. Windows longer than the API's 31 days are split; pages are
// 1-based with limit 5000, read while the server reports more pages or
// sends a full page, and up to statsExtraPages past the page count the
// first page announced (more fail the listing with ErrListingBroken). A
// row it cannot use is yielded as a *BadRecordError and the listing goes
// on; any other error ends it.
func (c *Client) StatsInteractions(ctx context.Context, start, end time.Time) iter.Seq2[StatsInteraction, error] {
	return func(yield func(StatsInteraction, error) bool) {
		pr := newPageReader(decodeStats, yield)
		for _, p := range splitWindow(start, end, statsMaxWindow) {
			pr.keep = func(si StatsInteraction) bool { return inWindow(si.Start, p[0], p[1]) }
			stale := 0
			announced := 0 // the pages the first page said the window has (0: not said)
			for page := 1; ; page++ {
				k := call{api: apiStats, purpose: PurposeStats, path: []string{"interactions"}, query: url.Values{
					"start": {isoTime(p[0])}, "end": {isoTime(p[1])}, "include": {"Started"},
					"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(statsPageLimit)},
				}}
				if page > maxPages {
					yield(StatsInteraction{}, fmt.Errorf("VCC stats API: GET %s: more than %d pages for one window; stopping: %w", k.logPath(), maxPages, ErrListingBroken))
					return
				}
				if announced > 0 && page > announced+statsExtraPages {
					// A server that always has one page more: each page
					// new rows and a pageCount past the page sent.
					yield(StatsInteraction{}, fmt.Errorf("VCC stats API: GET %s: page %d of a window whose first page said it had %d pages; stopping: %w", k.logPath(), page, announced, ErrListingBroken))
					return
				}
				var env statsPage
				err := pr.read(ctx, c, k, []string{"items"}, false, statsPageLimit, &env, func() { env = statsPage{} })
				if errors.Is(err, errStopped) {
					return
				}
				if err != nil {
					yield(StatsInteraction{}, err)
					return
				}
				if page == 1 {
					announced = env.Meta.PageCount
				}
				if pr.fresh == 0 {
					stale++
				} else {
					stale = 0
				}
				more := pr.records >= statsPageLimit || page < env.Meta.PageCount
				if pr.records == 0 || !more || stale >= 2 {
					break
				}
			}
		}
	}
}

// decodeStats is a Stats listing's pageReader decode.
func decodeStats(raw json.RawMessage) (StatsInteraction, string, error) {
	si, err := decodeItem[statsJSON](apiStats, raw)
	return si, si.GUID, err
}

// StatsInteraction gets one interaction's stats; ErrNotFound if Stats has no
// row for it (yet).
func (c *Client) StatsInteraction(ctx context.Context, guid string) (StatsInteraction, error) {
	j, err := getJSON[statsJSON](ctx, c, call{api: apiStats, path: []string{"interactions", guid}, purpose: PurposeStats})
	if err != nil {
		return StatsInteraction{}, err
	}
	return j.decode()
}

// earliestStart is before any call VCC can have recorded; a start before it
// (Go's zero time, year 1970 from a zero epoch) is a broken record.
var earliestStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// implausibleStart says why start, as raw, cannot be a call's start: before
// 2000, or more than a day ahead of this machine's clock (a year-9999 start
// cannot be filed under a date, nor encoded in a sidecar). "" if it can.
func implausibleStart(start time.Time, raw string) string {
	switch {
	case start.Before(earliestStart):
		return fmt.Sprintf("start %q is before 2000, not a real start time", truncate(raw, 40))
	case start.After(time.Now().Add(24 * time.Hour)):
		return fmt.Sprintf("start %q is more than a day in the future", truncate(raw, 40))
	}
	return ""
}

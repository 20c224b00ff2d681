package vcc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Documented window limits and page sizes: vccingest asks for the largest
// page each API allows, since VCC's fair-usage budget counts requests.
const (
	contentMaxWindow = 7 * 24 * time.Hour
	statsMaxWindow   = 31 * 24 * time.Hour
	contentPageLimit = 1000 // Content search: limit ≤ 1000
	usersPageLimit   = 5000 // User Admin: limit ≤ 5000
	statsPageLimit   = 5000 // Stats: limit ≤ 5000
	// maxPages bounds one listing: a server that pages forever fails the
	// listing instead of holding a worker for good.
	maxPages = 10_000
)

// Interaction is an interaction as the Content API lists it.
type Interaction struct {
	GUID        string
	Start       time.Time
	ConnectFrom string
	ConnectTo   string
	Direction   string // inbound, outbound, or "" where the API leaves it out
	AgentIDs    []string
	Content     []ContentItem
	// Problems lists what was odd about the record but did not make it
	// unusable, such as a content item without a contentKey (left out of
	// Content).
	Problems []string
}

// ContentItem is one content item of an interaction.
type ContentItem struct {
	Key         string // contentKey, used to download it
	Type        string // callRecording, voicemail, transcript, …
	ContentType string
	Length      int64 // bytes, as listed; 0 if not listed
}

type interactionJSON struct {
	GUID           *string `json:"guid"`
	Start          *string `json:"start"`
	ConnectFrom    string  `json:"connectFrom"`
	ConnectTo      string  `json:"connectTo"`
	Direction      string  `json:"direction"`
	HandlingAgents []struct {
		ID flexID `json:"id"`
	} `json:"handlingAgents"`
	Content []struct {
		ContentKey    *string `json:"contentKey"`
		Type          string  `json:"type"`
		ContentType   string  `json:"contentType"`
		ContentLength *int64  `json:"contentLength"`
	} `json:"content"`
}

func (j interactionJSON) id() string { return deref(j.GUID) }

func (j interactionJSON) decode() (Interaction, error) {
	bad := func(problem string) error {
		return &BadRecordError{API: apiContent.name, ID: truncate(j.id(), 80), Problem: problem}
	}
	if j.GUID == nil || *j.GUID == "" {
		return Interaction{}, bad(`no "guid"`)
	}
	if j.Start == nil {
		return Interaction{}, bad(`no "start"`)
	}
	start, err := parseTime(*j.Start)
	if err != nil {
		return Interaction{}, bad(fmt.Sprintf("start %q is not an ISO 8601 time", truncate(*j.Start, 40)))
	}
	if problem := implausibleStart(start, *j.Start); problem != "" {
		return Interaction{}, bad(problem)
	}
	it := Interaction{GUID: *j.GUID, Start: start, ConnectFrom: j.ConnectFrom, ConnectTo: j.ConnectTo}
	switch d := strings.ToLower(j.Direction); d {
	case "", "inbound", "outbound":
		it.Direction = d
	default:
		it.Problems = append(it.Problems, fmt.Sprintf("direction %q is neither inbound nor outbound (ignored)", truncate(j.Direction, 40)))
	}
	for _, a := range j.HandlingAgents {
		if a.ID != "" {
			it.AgentIDs = append(it.AgentIDs, string(a.ID))
		}
	}
	for i, c := range j.Content {
		if c.ContentKey == nil || *c.ContentKey == "" {
			it.Problems = append(it.Problems, fmt.Sprintf(`content item %d (type %q) has no "contentKey" and cannot be downloaded`, i, truncate(c.Type, 40)))
			continue
		}
		item := ContentItem{Key: *c.ContentKey, Type: c.Type, ContentType: c.ContentType}
		if c.ContentLength != nil {
			if *c.ContentLength < 0 {
				it.Problems = append(it.Problems, fmt.Sprintf("content item %q has a negative contentLength (ignored)", truncate(item.Key, 40)))
			} else {
				item.Length = *c.ContentLength
			}
		}
		it.Content = append(it.Content, item)
	}
	return it, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// truncate shortens server text kept in a message, to at most about n
// bytes of valid UTF-8: the catalog keeps bad records' ids and problems in
// PostgreSQL, which refuses text that is not UTF-8 (a cut inside a
// character would be).
func truncate(s string, n int) string {
	if len(s) > n {
		for i := 0; i < utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]); i++ {
			n--
		}
		s = s[:n] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// flexID accepts an id as a JSON string or number; null is "".
type flexID string

func (i *flexID) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		// The decoder's message can hold the whole value (a number too
		// large for a float64 is quoted in full).
		return fmt.Errorf("an id must be a string or a number, not %s: %s", truncate(string(b), 40), truncate(err.Error(), 120))
	}
	switch v := v.(type) {
	case nil:
		*i = ""
	case string:
		*i = flexID(v)
	case float64:
		*i = flexID(strconv.FormatFloat(v, 'f', -1, 64))
	default:
		return fmt.Errorf("an id must be a string or a number, not %s", truncate(string(b), 40))
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05.999999999", s) // no zone: UTC
	}
	return t.UTC(), err
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// splitWindow cuts [start, end) into pieces no longer than max.
func splitWindow(start, end time.Time, max time.Duration) [][2]time.Time {
	var out [][2]time.Time
	for s := start; s.Before(end); s = s.Add(max) {
		out = append(out, [2]time.Time{s, minTime(s.Add(max), end)})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// decodeItem decodes one listed record on its own, so that a record of the
// wrong shape is a *BadRecordError and not the end of its page.
//
// A record past maxRecordBytes is bad too: no interaction, call or user
// takes that much (theirs are a few KB), and one such record is what a
// listing holds at least, beside what its pageReader keeps.
func decodeItem[J interface{ decode() (T, error) }, T any](a api, raw json.RawMessage) (T, error) {
	var zero T
	badRecord := func(problem string) error {
		var idOnly struct {
			GUID   any `json:"guid"`
			UserID any `json:"userId"`
		}
		_ = json.Unmarshal(raw, &idOnly)
		id := fmt.Sprint(cmpOrAny(idOnly.GUID, idOnly.UserID))
		return &BadRecordError{API: a.name, ID: truncate(id, 80), Problem: problem}
	}
	if len(raw) > maxRecordBytes {
		return zero, badRecord(fmt.Sprintf("the record is %d bytes, past the %d a record may take", len(raw), maxRecordBytes))
	}
	var j J
	if err := json.Unmarshal(raw, &j); err != nil {
		return zero, badRecord("unreadable: " + truncate(err.Error(), 200))
	}
	return j.decode()
}

// maxRecordBytes is the most one listed record may take (decodeItem).
const maxRecordBytes = 64 << 10

func cmpOrAny(a, b any) any {
	if a != nil {
		return a
	}
	if b != nil {
		return b
	}
	return ""
}

// inWindow keeps what starts in [start, end): the Content API's end may be
// inclusive or exclusive (the docs disagree), and a record at the boundary
// belongs to one window only.
func inWindow(t, start, end time.Time) bool { return !t.Before(start) && t.Before(end) }

// contentPage is one page of a v3 Content search.
type contentPage struct {
	Items []json.RawMessage `json:"items"`
	Meta  struct {
		NextContinuationToken *string `json:"nextContinuationToken"`
	} `json:"meta"`
}

// Interactions lists the interactions with content that start in
// [start, end), as the credential may see them, each once. Windows longer
// than the API's 7 days are split. It pages the v3 search with
// continuationToken (limit 1000), keeping every other parameter identical
// between pages, until the token is null. A record it cannot use is yielded
// as a *BadRecordError and the listing goes on; any other error ends it.
func (c *Client) Interactions(ctx context.Context, start, end time.Time) iter.Seq2[Interaction, error] {
	return func(yield func(Interaction, error) bool) {
		pr := newPageReader(decodeInteraction, yield)
		for _, p := range splitWindow(start, end, contentMaxWindow) {
			pr.keep = func(it Interaction) bool { return inWindow(it.Start, p[0], p[1]) }
			q := url.Values{"start": {isoTime(p[0])}, "end": {isoTime(p[1])}, "limit": {strconv.Itoa(contentPageLimit)}}
			tokens := map[string]bool{}
			stale := 0
			for n := 1; ; n++ {
				k := call{api: apiContent, path: []string{"interactions"}, query: q, purpose: PurposeList}
				if n > maxPages {
					yield(Interaction{}, fmt.Errorf("VCC content API: GET %s: more than %d pages for one window; stopping: %w", k.logPath(), maxPages, ErrListingBroken))
					return
				}
				var page contentPage
				err := pr.read(ctx, c, k, []string{"items"}, false, contentPageLimit, &page, func() { page = contentPage{} })
				if errors.Is(err, errStopped) {
					return
				}
				if err != nil {
					yield(Interaction{}, err)
					return
				}
				// Pages of nothing new under ever new tokens: the server
				// sends the same records again.
				if stale = stale + 1; pr.fresh > 0 || pr.records == 0 {
					stale = 0
				}
				if stale >= 2 {
					yield(Interaction{}, fmt.Errorf("VCC content API: GET %s: %d pages in a row held only records sent before; stopping: %w", k.logPath(), stale, ErrListingBroken))
					return
				}
				next := deref(page.Meta.NextContinuationToken)
				if next == "" {
					break
				}
				if tokens[next] {
					yield(Interaction{}, fmt.Errorf("VCC content API: GET %s: the server sent a continuation token it had sent before; stopping: %w", k.logPath(), ErrListingBroken))
					return
				}
				tokens[next] = true
				q = cloneValues(q)
				q.Set("continuationToken", next)
			}
		}
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// decodeInteraction is a Content listing's pageReader decode.
func decodeInteraction(raw json.RawMessage) (Interaction, string, error) {
	it, err := decodeItem[interactionJSON](apiContent, raw)
	return it, it.GUID, err
}

// Interaction gets one interaction; ErrNotFound if it has no content or the
// credential may not see it.
func (c *Client) Interaction(ctx context.Context, guid string) (Interaction, error) {
	j, err := getJSON[interactionJSON](ctx, c, call{api: apiContent, path: []string{"interactions", guid}, purpose: PurposeList})
	if err != nil {
		return Interaction{}, err
	}
	return j.decode()
}

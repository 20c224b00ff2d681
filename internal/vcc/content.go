package vcc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Documented window limits and the page sizes vccingest asks for.
const (
	contentMaxWindow = 7 * 24 * time.Hour
	statsMaxWindow   = 31 * 24 * time.Hour
	contentPageSize  = 500
	usersPageSize    = 500
	statsPageLimit   = 500
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
}

// ContentItem is one content item of an interaction.
type ContentItem struct {
	Key         string // contentKey, used to download it
	Type        string // callRecording, voicemail, transcript, …
	ContentType string
	Length      int64 // bytes, as listed
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
		ContentLength int64   `json:"contentLength"`
	} `json:"content"`
}

func (j interactionJSON) decode() (Interaction, error) {
	if j.GUID == nil || *j.GUID == "" {
		return Interaction{}, missing(apiContent, "an interaction", "guid")
	}
	if j.Start == nil {
		return Interaction{}, missing(apiContent, "interaction "+*j.GUID, "start")
	}
	start, err := parseTime(*j.Start)
	if err != nil {
		return Interaction{}, fmt.Errorf("VCC content API: interaction %s: start %q: %w", *j.GUID, *j.Start, err)
	}
	it := Interaction{GUID: *j.GUID, Start: start, ConnectFrom: j.ConnectFrom, ConnectTo: j.ConnectTo, Direction: strings.ToLower(j.Direction)}
	for _, a := range j.HandlingAgents {
		if a.ID != "" {
			it.AgentIDs = append(it.AgentIDs, string(a.ID))
		}
	}
	for _, c := range j.Content {
		if c.ContentKey == nil || *c.ContentKey == "" {
			return Interaction{}, missing(apiContent, "a content item of interaction "+*j.GUID, "contentKey")
		}
		it.Content = append(it.Content, ContentItem{Key: *c.ContentKey, Type: c.Type, ContentType: c.ContentType, Length: c.ContentLength})
	}
	return it, nil
}

// flexID accepts an id as a JSON string or number.
type flexID string

func (i *flexID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		s = ""
	}
	*i = flexID(s)
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

type envelope[T any] struct {
	Meta struct {
		Page      int `json:"page"`
		PageCount int `json:"pageCount"`
	} `json:"meta"`
	Items []T    `json:"items"`
	UpTo  string `json:"upTo"`
}

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

// paged yields the items of every page of every window piece, fetching each
// page only when the previous one has been consumed.
func paged[J any, T any](ctx context.Context, c *Client, pieces [][2]time.Time, mk func(start, end time.Time, page int) call, conv func(J) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for _, p := range pieces {
			for page := 1; ; page++ {
				env, err := getJSON[envelope[J]](ctx, c, mk(p[0], p[1], page))
				if err != nil {
					yield(zero, err)
					return
				}
				for _, j := range env.Items {
					v, err := conv(j)
					if !yield(v, err) || err != nil {
						return
					}
				}
				if len(env.Items) == 0 || page >= env.Meta.PageCount {
					break
				}
			}
		}
	}
}

// Interactions lists the interactions with content that start in
// [start, end), as the credential may see them. Windows longer than the
// API's 7 days are split.
func (c *Client) Interactions(ctx context.Context, start, end time.Time) iter.Seq2[Interaction, error] {
	mk := func(s, e time.Time, page int) call {
		return call{api: apiContent, path: []string{"interactions"}, query: url.Values{
			"start": {isoTime(s)}, "end": {isoTime(e)},
			"page": {strconv.Itoa(page)}, "pageSize": {strconv.Itoa(contentPageSize)},
		}}
	}
	return paged(ctx, c, splitWindow(start, end, contentMaxWindow), mk, interactionJSON.decode)
}

// Interaction gets one interaction; ErrNotFound if it has no content or the
// credential may not see it.
func (c *Client) Interaction(ctx context.Context, guid string) (Interaction, error) {
	j, err := getJSON[interactionJSON](ctx, c, call{api: apiContent, path: []string{"interactions", guid}})
	if err != nil {
		return Interaction{}, err
	}
	return j.decode()
}

// Content is a content item being downloaded. Reads resume a broken transfer
// with a Range request, so a caller sees one stream of Size bytes or an
// error.
type Content struct {
	Size        int64 // -1 if the server did not say
	ContentType string

	ctx    context.Context
	c      *Client
	k      call
	body   io.ReadCloser
	off    int64
	resume int // resumes so far
}

// Open starts downloading content item contentKey of interaction guid.
func (c *Client) Open(ctx context.Context, guid, contentKey string) (*Content, error) {
	k := call{api: apiContent, path: []string{"interactions", guid, "content", contentKey}, header: http.Header{"Accept": {"*/*"}}}
	k.api.accept = ""
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	return &Content{Size: resp.ContentLength, ContentType: resp.Header.Get("Content-Type"), ctx: ctx, c: c, k: k, body: resp.Body}, nil
}

// Read reads the content, resuming with Range after a broken transfer.
func (r *Content) Read(p []byte) (int, error) {
	for {
		if r.body == nil {
			if err := r.reopen(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF) && (r.Size < 0 || r.off == r.Size):
			return n, io.EOF
		case r.ctx.Err() != nil:
			return n, r.ctx.Err()
		}
		// Cut off: resume from r.off on the next read.
		r.body.Close()
		r.body = nil
		if r.resume >= r.c.cfg.MaxAttempts {
			return n, fmt.Errorf("VCC content API: GET %s: transfer broke at byte %d of %d %d times: %w", r.k.logPath(), r.off, r.Size, r.resume, unexpected(err))
		}
		r.c.log.Debug("VCC download broke; resuming with Range", "path", r.k.logPath(), "offset", r.off, "size", r.Size, "error", err)
		if n > 0 {
			return n, nil
		}
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// reopen asks for the rest of the content from r.off.
func (r *Content) reopen() error {
	r.resume++
	k := r.k
	k.header = k.header.Clone()
	k.header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
	if r.resume > 1 {
		if err := sleep(r.ctx, r.c.backoff(r.resume-1, 0)); err != nil {
			return err
		}
	}
	resp, err := r.c.do(r.ctx, k)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		var first, total int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &first); err != nil || first != r.off {
			drain(resp)
			return fmt.Errorf("VCC content API: GET %s: resumed at the wrong offset (Content-Range %q, want byte %d)", k.logPath(), resp.Header.Get("Content-Range"), r.off)
		}
		if i := strings.LastIndexByte(resp.Header.Get("Content-Range"), '/'); i >= 0 {
			total, _ = strconv.ParseInt(resp.Header.Get("Content-Range")[i+1:], 10, 64)
			if r.Size >= 0 && total > 0 && total != r.Size {
				drain(resp)
				return fmt.Errorf("VCC content API: GET %s: the content changed size during the download (%d, now %d bytes)", k.logPath(), r.Size, total)
			}
		}
	case http.StatusOK: // Range ignored: skip what we have
		if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
			drain(resp)
			return fmt.Errorf("VCC content API: GET %s: %w", k.logPath(), unexpected(err))
		}
	}
	r.body = resp.Body
	return nil
}

// Close stops the download.
func (r *Content) Close() error {
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

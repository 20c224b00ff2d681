package vcc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// api describes one VCC API behind the gateway.
type api struct {
	name   string // for counters, logs and errors
	prefix string // path prefix under the gateway
	scope  string
	accept string
}

// Every resource call, the binary download and its Range resumes included,
// needs the API's versioned media type in Accept; without it VCC answers 400
// (vcc-api.md, "Regions, hosts, headers").
var (
	apiContent = api{"content", "/interaction-content", ScopeContent, "application/vnd.newvoicemedia.v3+json"}
	apiUsers   = api{"users", "/useradmin", ScopeUsers, "application/vnd.newvoicemedia.v4+json"}
	apiStats   = api{"stats", "/stats", ScopeStats, "application/vnd.newvoicemedia.v3+json"}
)

// call is one GET to a resource API.
type call struct {
	api    api
	path   []string // unescaped path segments after the prefix
	query  url.Values
	header http.Header
	// purpose is what the request counts as (unless its context says
	// otherwise: see Purpose).
	purpose Purpose
}

func (k call) url(base *url.URL) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(base.String(), "/"))
	b.WriteString(k.api.prefix)
	for _, seg := range k.path {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(seg))
	}
	if len(k.query) > 0 {
		b.WriteByte('?')
		b.WriteString(k.query.Encode())
	}
	return b.String()
}

// logPath is the request path for logs and errors: ids, no query.
func (k call) logPath() string {
	p := k.api.prefix
	for _, seg := range k.path {
		p += "/" + url.PathEscape(seg)
	}
	return p
}

// retryable is an attempt's failure that another attempt may fix.
type retryable struct {
	err       error
	after     time.Duration // Retry-After, if the server gave one
	throttled bool          // a 429: VCC wants fewer requests, not another attempt
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// do sends k with retries and returns a 2xx response whose body the caller
// must close. It retries 5xx and network errors with exponential backoff
// and jitter (honouring Retry-After), bounded by MaxAttempts and MaxElapsed,
// waits out 429s (bounded by MaxThrottled only), and renews the scope's
// token once on a 401.
func (c *Client) do(ctx context.Context, k call) (*http.Response, error) {
	var resp *http.Response
	err := c.retry(ctx, k, func(ctx context.Context) error {
		var err error
		resp, err = c.once(ctx, k)
		return err
	})
	return resp, err
}

// retry runs fn until it succeeds, fails for good or the budget is spent.
//
// A 429 does not spend an attempt, nor the time of MaxElapsed: it says the
// account is over its fair-usage limit, which another request fixes only
// later, not that this one is broken. The budget has slowed down already;
// the request waits (Retry-After, else the backoff of its nth 429 so far)
// and goes again, for up to MaxThrottled in all, or until ctx ends. Either
// way the error then wraps ErrThrottled, so that a job can tell a storm of
// 429s from a failure and wait rather than give up.
//
// fn gets ctx, marked after the first attempt so that the requests it
// sends again count as PurposeRetry.
func (c *Client) retry(ctx context.Context, k call, fn func(ctx context.Context) error) error {
	start := time.Now()
	deadline := start.Add(c.cfg.MaxElapsed)
	throttles := 0
	for attempt := 1; ; {
		try := ctx
		if attempt > 1 || throttles > 0 {
			try = asResend(ctx)
		}
		err := fn(try)
		var r *retryable
		if err == nil {
			return nil
		}
		if !errors.As(err, &r) {
			if throttles > 0 && ctx.Err() != nil {
				return fmt.Errorf("%w: %w", ErrThrottled, err)
			}
			return err
		}
		if ctx.Err() != nil {
			if throttles > 0 || r.throttled {
				return fmt.Errorf("%w: %w", ErrThrottled, ctx.Err())
			}
			return ctx.Err()
		}
		if r.throttled {
			throttles++
			wait := c.backoff(throttles, r.after)
			if time.Since(start)+wait > c.cfg.MaxThrottled {
				return fmt.Errorf("%w: %w (429 for %s, %d times; VCC's fair-usage limit is shared with the account's other integrations: lower requests_per_minute, or run again later)", ErrThrottled, r.err, time.Since(start).Round(time.Second), throttles)
			}
			c.countRetry(k.api.name)
			c.log.Debug("VCC is throttling requests; waiting", "api", k.api.name, "path", k.logPath(), "throttled", throttles, "wait", wait.Round(time.Millisecond), "requests_per_minute", c.budget.perMinute())
			if err := sleep(ctx, wait); err != nil {
				return fmt.Errorf("%w: %w", ErrThrottled, err)
			}
			deadline = deadline.Add(wait)
			continue
		}
		wait := c.backoff(attempt, r.after)
		if attempt >= c.cfg.MaxAttempts || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w (gave up after %d attempts)", r.err, attempt)
		}
		c.countRetry(k.api.name)
		c.log.Debug("VCC request failed; retrying", "api", k.api.name, "path", k.logPath(), "attempt", attempt, "wait", wait.Round(time.Millisecond), "error", r.err)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		attempt++
	}
}

// once sends k, renewing the token once on a 401. Failures worth retrying
// come back as *retryable.
func (c *Client) once(ctx context.Context, k call) (*http.Response, error) {
	ts := c.tokens[k.api.scope]
	for renewed := false; ; renewed = true {
		tok, err := ts.token(ctx)
		if err != nil {
			if errors.Is(err, ErrTokenUnavailable) {
				return nil, &retryable{err: err}
			}
			return nil, err
		}
		sentAt, err := c.budget.wait(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url(c.api), nil)
		if err != nil {
			return nil, fmt.Errorf("VCC %s API: build request %s: %w", k.api.name, k.logPath(), err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("User-Agent", c.ua)
		req.Header.Set("Accept", k.api.accept)
		for h, v := range k.header {
			req.Header[h] = v
		}
		resp, err := c.http.Do(req)
		if err != nil {
			c.count(k.api.name, 0, k.api.scope, PurposeOf(ctx, k.purpose))
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if malformedResponse(err) {
				// The same server answers the same way again.
				return nil, fmt.Errorf("VCC %s API: GET %s: %w: %w", k.api.name, k.logPath(), ErrMalformedResponse, stripURL(err))
			}
			err = fmt.Errorf("VCC %s API: GET %s: %w", k.api.name, k.logPath(), stripURL(err))
			if errors.Is(err, ErrRedirectRefused) {
				return nil, err // the next attempt would be redirected the same way
			}
			return nil, &retryable{err: err}
		}
		c.count(k.api.name, resp.StatusCode, k.api.scope, PurposeOf(ctx, k.purpose))
		c.noteDate(resp.Header)
		c.log.Debug("VCC request", "api", k.api.name, "path", k.logPath(), "status", resp.StatusCode)
		switch s := resp.StatusCode; {
		case s >= 200 && s < 300:
			return resp, nil
		case s == http.StatusUnauthorized && !renewed:
			// Expired or revoked: the docs say to fetch a new token and
			// retry once.
			drain(resp)
			ts.invalidate(tok)
			continue
		case s == http.StatusUnauthorized:
			// A token issued a moment ago for this very scope is refused:
			// the credential lost the scope or was deleted. More attempts
			// cannot cure that.
			return nil, &TokenRefusedError{Scope: k.api.scope, Purpose: scopePurpose[k.api.scope], API: c.apiError(k, resp)}
		case s == http.StatusTooManyRequests:
			after := retryAfter(resp.Header.Get("Retry-After"))
			c.budget.throttled(sentAt, after)
			return nil, &retryable{err: c.apiError(k, resp), after: after, throttled: true}
		case s >= 500:
			apiErr := c.apiError(k, resp)
			return nil, &retryable{err: apiErr, after: retryAfter(resp.Header.Get("Retry-After"))}
		default:
			// 403 is "authenticated, but not allowed this resource"; like
			// 404 it means hidden from this credential (APIError unwraps
			// both to ErrNotFound), never a missing scope.
			return nil, c.apiError(k, resp)
		}
	}
}

// ErrMalformedResponse is an answer that is not valid HTTP, which Go's
// transport refuses before vccingest sees it: a status line or header it
// cannot parse (a control character or a bare CR in a header value), a
// Content-Length that is not a number or comes twice with other values, a
// Transfer-Encoding it does not know. No retry changes what the server
// sends; the request fails at once, and so does the job that made it (a
// listing's window fails, a recording fails for good: package ingest does
// not run it again).
var ErrMalformedResponse = errors.New("the server's answer is not valid HTTP")

// malformedResponse reports whether err, from http.Client.Do, is Go's
// transport refusing a response that is not valid HTTP. Header lines come
// as a textproto.ProtocolError; the rest only as text.
func malformedResponse(err error) bool {
	var pe textproto.ProtocolError
	if errors.As(err, &pe) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"bad Content-Length", "multiple Content-Length", "unsupported transfer encoding", "malformed HTTP ", "malformed MIME header"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// stripURL drops the URL from a *url.Error: it holds the query, and logs
// name the path already.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) apiError(k call, resp *http.Response) *APIError {
	defer drain(resp)
	e := &APIError{API: k.api.name, Method: http.MethodGet, Path: k.logPath(), Status: resp.StatusCode}
	var body struct {
		Message     string `json:"message"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if json.Unmarshal(b, &body) == nil {
		switch {
		case body.Message != "":
			e.Message = body.Message
		case body.Description != "":
			e.Message = body.Error + ": " + body.Description
		default:
			e.Message = body.Error
		}
	}
	e.Message = c.serverText(e.Message)
	return e
}

func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// maxRetryAfter caps Retry-After: more seconds than a time.Duration holds
// (about 292 years) would wrap around to a negative wait. A wait this long
// is past any MaxThrottled anyway, so the call gives up as it would.
const maxRetryAfter = 24 * time.Hour

// retryAfter parses Retry-After: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(min(n, int(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), maxRetryAfter)
	}
	return 0
}

// backoff is the wait before the next attempt: Retry-After if the server
// set one, else exponential with jitter, capped at 30 s.
func (c *Client) backoff(attempt int, after time.Duration) time.Duration {
	if after > 0 {
		return after
	}
	d := c.cfg.MinBackoff << min(attempt-1, 10)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errTooLarge: a JSON response passed the size cap.
var errTooLarge = errors.New("too large")

type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// getJSON GETs k and decodes its JSON body into a new T, retrying a body
// that is cut off or malformed as it would a 5xx.
func getJSON[T any](ctx context.Context, c *Client, k call) (T, error) {
	var out T
	err := streamJSON(ctx, c, k, func(dec *json.Decoder) error {
		var v T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, err
}

// streamJSON GETs k and hands its body to decode as a json.Decoder, which
// reads it as decode asks, never more than MaxJSONBytes in all: a listing
// page is decoded record by record (decodePage), never held whole. A 204
// is an empty body (decode is not called). A body cut off or malformed is
// retried as a 5xx would be; one past the cap fails at once.
func streamJSON(ctx context.Context, c *Client, k call, decode func(*json.Decoder) error) error {
	return c.retry(ctx, k, func(ctx context.Context) error {
		resp, err := c.once(ctx, k)
		if err != nil {
			return err
		}
		defer drain(resp)
		if resp.StatusCode == http.StatusNoContent {
			// Documented success with an empty body: an empty page.
			return nil
		}
		dec := json.NewDecoder(&capReader{r: resp.Body, left: c.cfg.MaxJSONBytes})
		err = decode(dec)
		var bad *badPageError
		switch {
		case err == nil, errors.Is(err, errStopped):
			return err
		case errors.Is(err, errTooLarge):
			return fmt.Errorf("VCC %s API: GET %s: the response is larger than the %d-byte cap on JSON responses: %w", k.api.name, k.logPath(), c.cfg.MaxJSONBytes, ErrListingBroken)
		case errors.As(err, &bad):
			return fmt.Errorf("VCC %s API: GET %s: %w", k.api.name, k.logPath(), err)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		return &retryable{err: fmt.Errorf("VCC %s API: GET %s: unreadable JSON: %w", k.api.name, k.logPath(), err)}
	})
}

// badPageError is a page that is well-formed JSON but not a page no
// retry would change: more records than the limit asked for.
type badPageError struct{ msg string }

func (e *badPageError) Error() string { return e.msg }
func (e *badPageError) Unwrap() error { return ErrListingBroken }

// decodePage reads one listing page from dec: an object whose array under
// one of itemKeys holds the records (or, where bare is set, a bare array of
// them). Each record goes to item as soon as it is read, so a page is never
// in memory as a whole, only what item keeps of it; the other members are
// decoded into meta (a pointer; nil: ignored). More than limit records
// (0: no limit) fail the page with a *badPageError.
func decodePage(dec *json.Decoder, itemKeys []string, bare bool, meta any, limit int, item func(json.RawMessage) error) error {
	items := func() error {
		n := 0
		for dec.More() {
			if n++; limit > 0 && n > limit {
				return &badPageError{msg: fmt.Sprintf("the page holds more than the %d records asked for", limit)}
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return err
			}
			if err := item(raw); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ]
		return err
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		if !bare {
			return errors.New("a page is a JSON object, not an array")
		}
		return items()
	case json.Delim('{'):
	default:
		if tok == nil { // null: no records
			return nil
		}
		return fmt.Errorf("a page is a JSON object, not %v", tok)
	}
	rest := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if slices.Contains(itemKeys, key) {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			if t == nil {
				continue
			}
			if t != json.Delim('[') {
				return fmt.Errorf("%q is not an array", key)
			}
			if err := items(); err != nil {
				return err
			}
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if meta != nil {
			rest[key] = v
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return err
	}
	if meta == nil || len(rest) == 0 {
		return nil
	}
	b, err := json.Marshal(rest)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, meta)
}

// missing is the error for a required field VCC left out.
func missing(a api, what, field string) error {
	return fmt.Errorf("VCC %s API returned %s without the required field %q", a.name, what, field)
}

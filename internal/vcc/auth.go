package vcc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenSource holds one scope's token. VCC issues one token per scope, so a
// client that needs three scopes holds three of these. The mutex makes
// concurrent callers share one token request.
type tokenSource struct {
	c     *Client
	scope string

	mu     sync.Mutex
	tok    *oauth2.Token
	issued time.Time
	// refused remembers, until refusedUntil, that the credential does not
	// hold the scope, so asking again (every job of a stats-less tenant
	// does) costs no token request.
	refused      error
	refusedUntil time.Time
}

// scopeRefusalTTL is how long a refused scope is believed: long enough that
// jobs do not ask per window, short enough that a scope an admin adds is
// used within minutes.
const scopeRefusalTTL = 10 * time.Minute

// earlyExpiry is how long before its expiry a token is renewed: a fifth of
// its lifetime, at most five minutes (a 2 h VCC token is renewed after 1 h 55).
func earlyExpiry(lifetime time.Duration) time.Duration {
	return min(lifetime/5, 5*time.Minute)
}

func (ts *tokenSource) valid(now time.Time) bool {
	if ts.tok == nil || ts.tok.AccessToken == "" {
		return false
	}
	if ts.tok.Expiry.IsZero() {
		return true
	}
	return now.Before(ts.tok.Expiry.Add(-earlyExpiry(ts.tok.Expiry.Sub(ts.issued))))
}

// token returns a valid access token, requesting one if needed.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := time.Now()
	if ts.valid(now) {
		return ts.tok.AccessToken, nil
	}
	if ts.refused != nil && now.Before(ts.refusedUntil) {
		return "", ts.refused
	}
	tok, err := ts.fetch(ctx)
	var se *ScopeError
	if errors.As(err, &se) {
		ts.refused, ts.refusedUntil = err, time.Now().Add(scopeRefusalTTL)
	}
	if err != nil {
		return "", err
	}
	ts.refused = nil
	ts.c.redact.Add(tok.AccessToken)
	ts.tok, ts.issued = tok, time.Now()
	ts.clampExpiry()
	return tok.AccessToken, nil
}

// Token lifetimes vccingest trusts: VCC documents 7200 s (one page says an
// hour). An expires_in that is absent or not positive would make the client
// ask for a token per call, and an absurd one keep a token for ever: the
// first two count as an hour, the last is clamped to a day; a token that
// dies earlier is renewed on its first 401.
const (
	minTokenLifetime     = time.Second
	maxTokenLifetime     = 24 * time.Hour
	defaultTokenLifetime = time.Hour
)

func (ts *tokenSource) clampExpiry() {
	lifetime := ts.tok.Expiry.Sub(ts.issued)
	want := lifetime
	switch {
	case ts.tok.Expiry.IsZero() || lifetime <= 0:
		want = defaultTokenLifetime
	case lifetime < minTokenLifetime:
		want = minTokenLifetime
	case lifetime > maxTokenLifetime:
		want = maxTokenLifetime
	}
	if want != lifetime || ts.tok.Expiry.IsZero() {
		ts.c.log.Warn("the VCC token endpoint gave an expires_in vccingest does not trust; using another lifetime", "scope", ts.scope,
			"expires_in", lifetime.Round(time.Second), "using", want)
		ts.tok.Expiry = ts.issued.Add(want)
	}
}

// invalidate drops the token if it is still the one the caller used.
func (ts *tokenSource) invalidate(used string) {
	ts.mu.Lock()
	if ts.tok != nil && ts.tok.AccessToken == used {
		ts.tok = nil
	}
	ts.mu.Unlock()
}

// fetch asks the token endpoint, retrying while it is unavailable.
func (ts *tokenSource) fetch(ctx context.Context) (*oauth2.Token, error) {
	c := ts.c
	cc := clientcredentials.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.clientSecret().Reveal(),
		TokenURL:     c.auth.String(),
		Scopes:       []string{ts.scope},
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	refreshed := false
	// The token request follows no redirect: x/oauth2 would send the form
	// body, client_secret included, again to wherever it points.
	hc := &http.Client{Transport: wholeExpiresIn{uaTransport{base: c.http.Transport, ua: c.ua}}, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	deadline := time.Now().Add(c.cfg.MaxElapsed)
	var last error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		tok, err := cc.Token(ctx)
		if err == nil {
			c.count("token", http.StatusOK, ts.scope, "")
			c.log.Debug("VCC token issued", "scope", ts.scope, "expires_in", time.Until(tok.Expiry).Round(time.Second))
			return tok, nil
		}
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.Response != nil:
			c.count("token", re.Response.StatusCode, ts.scope, "")
			switch re.ErrorCode {
			case "invalid_client", "unauthorized_client":
				if !refreshed && c.refreshSecret(ctx) {
					refreshed = true
					cc.ClientSecret = c.clientSecret().Reveal()
					attempt--
					continue
				}
				return nil, c.badCredentials()
			case "invalid_scope":
				return nil, &ScopeError{Scope: ts.scope, Purpose: scopePurpose[ts.scope]}
			}
			if re.Response.StatusCode == http.StatusUnauthorized {
				return nil, c.badCredentials()
			}
			if re.Response.StatusCode < 500 && re.Response.StatusCode != http.StatusTooManyRequests {
				return nil, fmt.Errorf("VCC token endpoint answered %d %s for scope %s", re.Response.StatusCode, http.StatusText(re.Response.StatusCode), ts.scope)
			}
			last = fmt.Errorf("%w: %d %s", ErrTokenUnavailable, re.Response.StatusCode, http.StatusText(re.Response.StatusCode))
		case strings.Contains(err.Error(), "missing access_token"):
			// A 2xx answer without a token: no retry changes what this
			// endpoint answers (x/oauth2 says so only in words).
			c.count("token", http.StatusOK, ts.scope, "")
			return nil, fmt.Errorf("%w (scope %s)", ErrNoAccessToken, ts.scope)
		default:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.count("token", 0, ts.scope, "")
			// Network errors carry the token URL, never the form body.
			last = fmt.Errorf("%w: %v", ErrTokenUnavailable, scrub(err))
		}
		wait := c.backoff(attempt, 0)
		if time.Now().Add(wait).After(deadline) {
			break
		}
		c.log.Warn("VCC token endpoint unavailable; retrying", "scope", ts.scope, "attempt", attempt, "wait", wait, "error", last)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	return nil, last
}

// scrub keeps only the outer message of an oauth2 transport error.
func scrub(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return errors.New("token request failed")
	}
	return err
}

// CheckScope gets a token for scope: nil if the credential holds it,
// *ScopeError if not, ErrBadCredentials if the credential is refused.
func (c *Client) CheckScope(ctx context.Context, scope string) error {
	ts, ok := c.tokens[scope]
	if !ok {
		return fmt.Errorf("unknown VCC scope %q", scope)
	}
	_, err := ts.token(ctx)
	return err
}

// uaTransport sets User-Agent on every request.
type uaTransport struct {
	base http.RoundTripper
	ua   string
}

func (t uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("User-Agent", t.ua)
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r2)
}

// wholeExpiresIn makes the expires_in of a token answer a whole number of
// seconds that fits an int64 when it is a JSON number that is not one (a
// fraction, an exponent, a number past int64): x/oauth2 reads it with
// ParseInt and fails the whole token on anything else, so a token endpoint
// answering 3600.5 got no token at all. clampExpiry then judges the
// lifetime as it judges any other.
type wholeExpiresIn struct{ base http.RoundTripper }

// maxTokenAnswer is what of a token answer is read, as x/oauth2 reads it.
const maxTokenAnswer = 1 << 20

func (t wholeExpiresIn) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return resp, nil // not a JSON object: x/oauth2 says what is wrong
	}
	var n json.Number // a number, or a string holding one ("7.00"), as x/oauth2 takes either
	if raw := fields["expires_in"]; len(raw) == 0 || json.Unmarshal(raw, &n) != nil {
		return resp, nil // absent, or not a number: as x/oauth2 takes it
	}
	raw := n.String()
	if _, err := strconv.ParseInt(raw, 10, 64); err == nil {
		return resp, nil
	}
	f, _ := strconv.ParseFloat(raw, 64) // ±Inf past float64's range
	f = max(min(f, float64(math.MaxInt32)), math.MinInt32)
	fields["expires_in"] = json.RawMessage(strconv.FormatInt(int64(f), 10))
	if body, err = json.Marshal(fields); err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// badCredentials is ErrBadCredentials with where the token was asked for: a
// credential of another region is refused exactly like a wrong secret, so
// the region is the next thing to check.
func (c *Client) badCredentials() error {
	where := c.auth.Host
	if c.cfg.Region != "" {
		where += " (region " + c.cfg.Region + ")"
	}
	return fmt.Errorf("%w; a credential is only known to its own region's VCC and the token was asked of %s: check --region (nam, emea or apac) too", ErrBadCredentials, where)
}

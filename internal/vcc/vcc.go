// Package vcc is the client of the Vonage Contact Center APIs vccingest
// reads: the OAuth 2.0 token endpoint, Interaction Content, User Admin and
// Insights Stats. It holds one token per scope (requested only when a call
// needs that scope, cached, renewed before expiry), retries what is worth
// retrying (honouring Retry-After), keeps one request budget for the whole
// VCC account that adapts to 429s (see limit.go), caps the size of JSON it
// reads, resumes broken downloads with Range, and only ever
// sends GET to a resource API.
//
// Neither the client secret nor a bearer token appears in any error, log line
// or formatted value of this package.
package vcc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

// The three VCC scopes.
const (
	ScopeContent = "interaction-content:read"
	ScopeUsers   = "users:read"
	ScopeStats   = "stats"
)

// scopePurpose says what each scope is needed for, for error messages.
var scopePurpose = map[string]string{
	ScopeContent: "finding and downloading recordings (Interaction Content API)",
	ScopeUsers:   "resolving agents' names, emails and agent codes (User Admin API)",
	ScopeStats:   "the authoritative call direction and the coverage check (Insights Stats API)",
}

// regions maps a VCC region to its token endpoint and API gateway.
var regions = map[string][2]string{
	"nam":  {"https://nam.cc.vonage.com/Auth/connect/token", "https://nam.api.cc.vonage.com"},
	"emea": {"https://emea.cc.vonage.com/Auth/connect/token", "https://emea.api.cc.vonage.com"},
	"apac": {"https://apac.cc.vonage.com/Auth/connect/token", "https://apac.api.cc.vonage.com"},
}

// Regions lists the known regions.
func Regions() []string {
	out := make([]string, 0, len(regions))
	for r := range regions {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Endpoints returns the token endpoint and API gateway base URL of a region.
func Endpoints(region string) (authURL, apiURL string, err error) {
	e, ok := regions[strings.ToLower(region)]
	if !ok {
		return "", "", fmt.Errorf("unknown VCC region %q: use one of %s, or set --auth-url and --api-url", region, strings.Join(Regions(), ", "))
	}
	return e[0], e[1], nil
}

// Errors a caller can act on.
var (
	// ErrBadCredentials: the token endpoint refused the client id or secret.
	ErrBadCredentials = errors.New("VCC refused the API credential (invalid_client): check the client id and the client secret")
	// ErrTokenUnavailable: the token endpoint could not be reached or failed.
	ErrTokenUnavailable = errors.New("the VCC token endpoint is unavailable")
	// ErrNoAccessToken: the token endpoint answered 200 without an
	// access_token: it is not VCC's token endpoint, or not working as one.
	ErrNoAccessToken = errors.New("the VCC token endpoint answered without an access_token: check --auth-url (or the region)")
	// ErrThrottled: VCC kept answering 429 Too Many Requests (the
	// account is over its fair-usage limit) until the request's context
	// ended or MaxThrottled passed. Nothing is wrong with the request: it
	// is worth sending again later, without counting it as a failure.
	ErrThrottled = errors.New("VCC is throttling this account's requests (429 Too Many Requests)")
	// ErrNotFound: the resource does not exist or the credential may not
	// see it. VCC answers 404 or 403 for content hidden by the credential
	// owner's permissions (the docs leave which open); both mean this.
	ErrNotFound = errors.New("not found or not visible to this credential")
)

// ScopeError says that the credential does not hold a scope.
type ScopeError struct {
	Scope   string
	Purpose string
}

func (e *ScopeError) Error() string {
	msg := fmt.Sprintf("the VCC credential does not hold the %q scope, needed for %s: add the scope to the API credential in VCC Admin", e.Scope, e.Purpose)
	if e.Scope == ScopeStats {
		msg += " (a credential created by a supervisor-licence user cannot hold stats; create it as an admin-licence user)"
	}
	return msg
}

// APIError is an unexpected answer from a VCC API.
type APIError struct {
	API     string // content, users or stats
	Method  string
	Path    string
	Status  int
	Message string // the error body's message, if any
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("VCC %s API: %s %s: %d %s", e.API, e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap makes a 404 or a 403 match ErrNotFound.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusNotFound || e.Status == http.StatusForbidden {
		return ErrNotFound
	}
	return nil
}

// TokenRefusedError says that an API refused a token issued moments before
// for the scope it needs (401 after a renewal): the credential lost the
// scope, or was deleted, since the token was issued.
type TokenRefusedError struct {
	Scope   string
	Purpose string
	API     *APIError
}

// tokenRefused marks a TokenRefusedError's text, which is all a failure
// recorded in the catalog keeps of it (TokenRefusedText).
const tokenRefused = "(twice, with a newly issued token)"

// TokenRefusedText reports whether msg, a failure's recorded text, is that
// of a TokenRefusedError.
func TokenRefusedText(msg string) bool { return strings.Contains(msg, tokenRefused) }

func (e *TokenRefusedError) Error() string {
	return fmt.Sprintf("%v "+tokenRefused+": the VCC API credential no longer holds the %q scope, needed for %s, or it was deleted: check it in VCC Admin → API Credentials", e.API, e.Scope, e.Purpose)
}

// Unwrap gives the API's answer.
func (e *TokenRefusedError) Unwrap() error { return e.API }

// BadRecordError is one record of a listing that vccingest cannot use: a
// required field is missing or has a value the API does not document. A
// listing yields it in place of the record and goes on with the next one,
// so one odd record never costs the rest of its window.
type BadRecordError struct {
	API     string // content, users or stats
	ID      string // the record's id, if it has one
	Problem string // what is wrong, e.g. `no "contentKey"`
}

func (e *BadRecordError) Error() string {
	id := e.ID
	if id == "" {
		id = "(no id)"
	}
	return fmt.Sprintf("VCC %s API returned a record vccingest cannot use: %s: %s", e.API, id, e.Problem)
}

// Config configures a Client.
type Config struct {
	Region       string // informational once AuthURL and APIURL are set
	AuthURL      string // token endpoint; default from Region
	APIURL       string // API gateway base URL; default from Region
	ClientID     string
	ClientSecret secret.Value
	// RefreshSecret, if set, re-reads the client secret when the token
	// endpoint refuses it (invalid_client): a secret rotated in Azure Key
	// Vault is picked up without a restart.
	RefreshSecret func(ctx context.Context) (secret.Value, error)

	Downloads int // concurrent downloads the transport is sized for; default 8
	// RequestsPerMinute is the tenant's budget across the Content, User
	// Admin and Stats APIs together (token requests aside); 0 means no
	// limit. A process that shares it with others runs at its share
	// (SetShare), and 429s lower the rate for a while.
	RequestsPerMinute float64
	MaxAttempts       int           // attempts per request (429s aside); default 8
	MaxElapsed        time.Duration // total time for one request's retries (429s aside); default 5 min
	// MaxThrottled bounds how long one request waits through 429s before
	// it gives up with ErrThrottled; default 1 h. The request's context
	// ends the wait sooner.
	MaxThrottled time.Duration
	MinBackoff   time.Duration // first retry wait; default 500 ms
	MaxJSONBytes int64         // cap on one JSON response; default 64 MiB
	// A download that stalls is abandoned and resumed with Range: no byte
	// for StallTimeout (default 60 s), or fewer than MinRate bytes a second
	// (default 4 KiB/s; negative: no floor) averaged over MinRateWindow
	// (default 60 s), so that a server dripping bytes cannot hold a
	// download slot. Only time spent waiting for the server counts.
	StallTimeout  time.Duration
	MinRate       int64
	MinRateWindow time.Duration
	Logger        *slog.Logger
	// Redactor, if set, is told the client secret and every access token
	// issued, so that the process's logs and errors can hide them too;
	// the client scrubs server text with it (default its own).
	Redactor   *secret.Redactor
	Version    string       // for User-Agent
	HTTPClient *http.Client // optional; default a tuned transport
}

// Client calls the VCC APIs. It is safe for concurrent use.
type Client struct {
	cfg     Config
	auth    *url.URL
	api     *url.URL
	http    *http.Client
	log     *slog.Logger
	ua      string
	stall   stallRule
	tokens  map[string]*tokenSource
	redact  *secret.Redactor // knows the secret and every token issued, to scrub from server text
	budget  *budget
	mu      sync.Mutex
	counter map[Counter]int64
	retries map[string]int64 // by API
	secret  secret.Value     // guarded by mu; replaced by RefreshSecret
	skew    atomic.Int64     // server Date minus local time, of the last response
	skewSet atomic.Bool
}

func (c *Client) clientSecret() secret.Value {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secret
}

// refreshSecret re-reads the secret; it reports whether it changed.
func (c *Client) refreshSecret(ctx context.Context) bool {
	if c.cfg.RefreshSecret == nil {
		return false
	}
	v, err := c.cfg.RefreshSecret(ctx)
	if err != nil {
		c.log.Warn("re-reading the VCC client secret failed", "error", err)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.IsZero() || v.Reveal() == c.secret.Reveal() {
		return false
	}
	c.secret = v
	c.redact.Add(v.Reveal())
	c.log.Info("VCC client secret re-read after invalid_client; using the new one")
	return true
}

// ClockSkew is the server's clock minus ours, from the Date header of the
// last response (1 s resolution); ok is false before any response.
func (c *Client) ClockSkew() (skew time.Duration, ok bool) {
	return time.Duration(c.skew.Load()), c.skewSet.Load()
}

func (c *Client) noteDate(h http.Header) {
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		c.skew.Store(int64(d.Sub(time.Now().Truncate(time.Second))))
		c.skewSet.Store(true)
	}
}

// New checks cfg and returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	if cfg.AuthURL == "" || cfg.APIURL == "" {
		a, b, err := Endpoints(cfg.Region)
		if err != nil {
			return nil, err
		}
		cfg.AuthURL, cfg.APIURL = cmpOr(cfg.AuthURL, a), cmpOr(cfg.APIURL, b)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("no VCC client id: set --client-id or VCCINGEST_CLIENT_ID")
	}
	if cfg.ClientSecret.IsZero() {
		return nil, errors.New("no VCC client secret: set --client-secret-ref (env:NAME or file:PATH)")
	}
	authU, err := checkURL("auth URL", cfg.AuthURL)
	if err != nil {
		return nil, err
	}
	apiU, err := checkURL("API URL", cfg.APIURL)
	if err != nil {
		return nil, err
	}
	if cfg.Downloads <= 0 {
		cfg.Downloads = 8
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.MaxElapsed <= 0 {
		cfg.MaxElapsed = 5 * time.Minute
	}
	if cfg.MaxThrottled <= 0 {
		cfg.MaxThrottled = time.Hour
	}
	if cfg.RequestsPerMinute < 0 {
		return nil, fmt.Errorf("VCC requests per minute %g is negative: use a positive budget, or 0 for none", cfg.RequestsPerMinute)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = 64 << 20
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = defaultStallTimeout
	}
	if cfg.MinRate == 0 {
		cfg.MinRate = defaultMinRate
	}
	if cfg.MinRateWindow <= 0 {
		cfg.MinRateWindow = defaultMinRateWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Redactor == nil {
		cfg.Redactor = &secret.Redactor{}
	}
	cfg.Redactor.Add(cfg.ClientSecret.Reveal())
	hc := &http.Client{Transport: newTransport(cfg.Downloads)}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	hc.CheckRedirect = checkRedirect
	c := &Client{
		cfg: cfg, auth: authU, api: apiU, http: hc, log: cfg.Logger,
		ua:      "vccingest/" + cmpOr(cfg.Version, "dev"),
		stall:   stallRule{idle: cfg.StallTimeout, floor: max(cfg.MinRate, 0), window: cfg.MinRateWindow},
		secret:  cfg.ClientSecret,
		redact:  cfg.Redactor,
		tokens:  map[string]*tokenSource{},
		budget:  newBudget(cfg.RequestsPerMinute, time.Now),
		counter: map[Counter]int64{},
		retries: map[string]int64{},
	}
	for _, scope := range []string{ScopeContent, ScopeUsers, ScopeStats} {
		c.tokens[scope] = &tokenSource{c: c, scope: scope}
	}
	for _, a := range []api{apiContent, apiUsers, apiStats} {
		c.retries[a.name] = 0 // every API is in Retries from the start, for metrics
	}
	return c, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkURL accepts https URLs, and http ones only on a loopback host.
func checkURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("VCC %s %q is not an absolute URL", what, raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("VCC %s %q: plain http is only allowed to a loopback host; use https", what, raw)
		}
	default:
		return nil, fmt.Errorf("VCC %s %q: use an https URL", what, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("VCC %s must not carry credentials", what)
	}
	return u, nil
}

// ErrRedirectRefused is a redirect vccingest will not follow (to another
// scheme down from https, a host the https/loopback rule refuses, file://,
// more than 5 hops); no retry changes it.
var ErrRedirectRefused = errors.New("redirect refused")

// ErrListingBroken: a listing's pages repeat themselves (a continuation
// token sent before, pages of nothing new, more pages than any window
// holds), hold more records than asked for, or one answer is past the cap
// on a JSON response (Config.MaxJSONBytes). Retrying walks into the same
// loop; the window fails for this run.
var ErrListingBroken = errors.New("the server's listing is broken")

// checkRedirect follows a resource call's redirect only where the bearer
// token may go: to https, or http on a loopback host (the rule the
// configured URLs pass), never from https down to http, and at most 5 hops.
// The token goes only to the scheme, host and port the call was for; a hop
// elsewhere (signed storage, say) is sent without Authorization. Go itself
// compares host names only, not ports, before it drops the header.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) >= 5:
		return fmt.Errorf("%w: more than 5 redirects", ErrRedirectRefused)
	case first.Scheme == "https" && req.URL.Scheme != "https":
		return fmt.Errorf("%w: from https to %s://%s", ErrRedirectRefused, req.URL.Scheme, req.URL.Host)
	}
	if _, err := checkURL("redirect", (&url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host}).String()); err != nil {
		return fmt.Errorf("%w: %v", ErrRedirectRefused, err)
	}
	if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		req.Header.Del("Authorization")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newTransport is one tuned transport: connections are reused across the
// download concurrency plus the listing calls.
func newTransport(downloads int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * (downloads + 8)
	t.MaxIdleConnsPerHost = downloads + 8
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ExpectContinueTimeout = time.Second
	// Never inflate a body: a download is stored as VCC holds it, and a
	// compressed one is refused (Content.check), never grown into a bomb.
	t.DisableCompression = true
	return t
}

// Counter is one request counter: API (token, content, users, stats), HTTP
// status (0 for a network error), scope, and purpose (none for tokens).
type Counter struct {
	API     string
	Status  int
	Scope   string
	Purpose Purpose
}

// CounterValue is a counter with its count.
type CounterValue struct {
	Counter
	Count int64
}

// Counters returns the request counters, for metrics.
func (c *Client) Counters() []CounterValue {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CounterValue, 0, len(c.counter))
	for k, v := range c.counter {
		out = append(out, CounterValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.API != b.API {
			return a.API < b.API
		}
		if a.Status != b.Status {
			return a.Status < b.Status
		}
		return a.Purpose < b.Purpose
	})
	return out
}

// Retries counts the requests sent again after a failed attempt (429, 5xx,
// network errors, broken bodies), by API, for metrics.
func (c *Client) Retries() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.retries))
	for k, v := range c.retries {
		out[k] = v
	}
	return out
}

func (c *Client) countRetry(api string) {
	c.mu.Lock()
	c.retries[api]++
	c.mu.Unlock()
}

func (c *Client) count(api string, status int, scope string, purpose Purpose) {
	c.mu.Lock()
	c.counter[Counter{API: api, Status: status, Scope: scope, Purpose: purpose}]++
	c.mu.Unlock()
}

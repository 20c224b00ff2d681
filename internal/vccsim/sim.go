// Package vccsim is a faithful local Vonage Contact Center: the token
// endpoint, the Interaction Content, User Admin and Insights Stats APIs as
// ../shared/vcc-api.md documents them, over a generated account with agents,
// groups, calls and streaming WAV recordings.
//
// It is strict: it is never more lenient than the documentation. Every
// documented rule (form-encoded token requests, the scope of each token,
// the versioned Accept header of each API, parameter ranges, window limits,
// GUID syntax) is enforced by default and answered with the documented
// error body. Where the documentation leaves a point open, Config.Readings
// chooses the reading (inferred.go lists them), so that a client can be
// tested against every reading.
//
// It models what makes VCC hard to ingest from: per-scope tokens,
// credentials whose owner's feature permissions silently hide content,
// content and stats that arrive late, an account-wide fair-usage limit, and
// faults (429, 5xx, resets, short bodies, slow or malformed responses).
// Ground truth, request counters and a list of rejected requests let tests
// check a connector against it.
//
// Tests, benchmarks and `vccingest demo` run against it; `vccingest sim` runs
// it standalone.
//
// The account itself comes from the dataset package, its recordings' bytes
// from wav, and its JSON documents from wire; vccsim adds the HTTP server,
// credentials and permissions, faults and ground truth.
package vccsim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
)

// VCC scopes.
const (
	ScopeContent = "interaction-content:read"
	ScopeUsers   = "users:read"
	ScopeStats   = "stats"
	// ScopeUsersWrite also grants the User Admin reads.
	ScopeUsersWrite = "users:write"
)

// Config sizes and shapes the simulated account. Zero values take defaults.
type Config struct {
	Seed        int64
	Start       time.Time // first simulated day (UTC midnight); default today minus Days
	Days        int       // default 3
	CallsPerDay int       // default 40
	Agents      int       // agents who handle calls, default 12; plus an admin, a supervisor and an archived agent
	Groups      int       // default 3

	TokenTTL     time.Duration // expires_in; default 7200 s as VCC
	ContentDelay time.Duration // content appears this long after a call ends; default 2 min
	StatsDelay   time.Duration // stats rows appear this long after a call ends; default 5 min

	// OmitContentDirection makes the Content API leave out direction, as
	// older API versions do.
	OmitContentDirection bool
	// AudioBytesPerSecond sizes recordings (8-bit mono PCM); default 8000.
	AudioBytesPerSecond int
	// FixedRecordingSize, if set, makes every audio item exactly this size.
	FixedRecordingSize int64
	// HostileIDs gives a few interactions ids that are unsafe as paths.
	HostileIDs bool
	// Latency delays every response of the VCC APIs, as a remote API
	// would (the simulator on loopback answers in microseconds).
	Latency time.Duration

	// Readings chooses how the simulator answers where vcc-api.md leaves
	// a point open; the zero value is the default reading of each.
	Readings Readings
	// AccountRequestsPerMinute, if positive, is the account's fair-usage
	// limit: across all resource APIs (the token endpoint aside), a request
	// beyond this many in any rolling minute of real time is answered 429
	// without Retry-After. Zero: no limit.
	AccountRequestsPerMinute int

	Credentials []Credential // default DefaultCredentials(Seed)
	Faults      Faults
	Clock       func() time.Time // default time.Now; the dataset's clock
}

func (c Config) withDefaults() Config {
	if c.Days <= 0 {
		c.Days = 3
	}
	if c.CallsPerDay <= 0 {
		c.CallsPerDay = 40
	}
	if c.Agents <= 0 {
		c.Agents = 12
	}
	if c.Groups <= 0 {
		c.Groups = 3
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = 7200 * time.Second
	}
	if c.ContentDelay == 0 {
		c.ContentDelay = 2 * time.Minute
	}
	if c.StatsDelay == 0 {
		c.StatsDelay = 5 * time.Minute
	}
	if c.AudioBytesPerSecond <= 0 {
		c.AudioBytesPerSecond = 8000
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Start.IsZero() {
		c.Start = c.Clock().UTC().Truncate(24*time.Hour).AddDate(0, 0, -c.Days)
	}
	c.Start = c.Start.UTC()
	if c.Credentials == nil {
		c.Credentials = DefaultCredentials(c.Seed)
	}
	return c
}

// Permissions are the credential owner's feature permissions that filter
// what the Content API shows.
type Permissions struct {
	ViewInbound  bool // view inbound interaction content
	ViewOutbound bool // view outbound interaction content
	AccessGroups bool // access groups of users' content; without it only OwnerGroups
}

// Credential is one API credential of the account.
type Credential struct {
	Name         string
	ClientID     string
	ClientSecret string
	Licence      string // "admin" or "supervisor"
	Scopes       []string
	Permissions  Permissions
	OwnerGroups  []string // group names of the owner's reporting line
}

func (c Credential) has(scope string) bool { return slices.Contains(c.Scopes, scope) }

// DefaultCredentials are the account's credentials: a full admin one and one
// for each way a credential can be short of something.
func DefaultCredentials(seed int64) []Credential {
	all := Permissions{ViewInbound: true, ViewOutbound: true, AccessGroups: true}
	mk := func(name, licence string, p Permissions, groups []string, scopes ...string) Credential {
		sum := sha256.Sum256([]byte(fmt.Sprintf("vccsim/%d/%s", seed, name)))
		return Credential{
			Name: name, Licence: licence, Scopes: scopes, Permissions: p, OwnerGroups: groups,
			ClientID:     "sim-" + name + "-" + hex.EncodeToString(sum[:4]),
			ClientSecret: hex.EncodeToString(sum[4:24]),
		}
	}
	return []Credential{
		mk("admin", "admin", all, nil, ScopeContent, ScopeUsers, ScopeStats),
		mk("supervisor", "supervisor", all, nil, ScopeContent, ScopeUsers),
		mk("no-inbound", "admin", Permissions{ViewOutbound: true, AccessGroups: true}, nil, ScopeContent, ScopeUsers, ScopeStats),
		mk("no-outbound", "admin", Permissions{ViewInbound: true, AccessGroups: true}, nil, ScopeContent, ScopeUsers, ScopeStats),
		mk("own-group", "admin", Permissions{ViewInbound: true, ViewOutbound: true}, []string{"Team A"}, ScopeContent, ScopeUsers, ScopeStats),
		mk("no-users", "admin", all, nil, ScopeContent, ScopeStats),
	}
}

// Sim is a simulated VCC account. Its Handler serves the VCC APIs.
type Sim struct {
	cfg  Config
	data *dataset.Dataset

	cursorKey []byte // signs continuation tokens
	limiter   *accountLimiter

	mu         sync.Mutex
	now        time.Time // frozen clock if set
	tokens     map[string]token
	faults     *faultState
	requests   map[RequestStat]int
	rejections []Rejection
	loads      map[string]int
	sums       map[*dataset.Item]string
}

// token is an issued access token.
type token struct {
	cred    *Credential
	scopes  []string // every scope it was issued for
	expires time.Time
}

// New generates the account described by cfg.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.withDefaults()
	if cfg.Days > 3660 || cfg.CallsPerDay > 1_000_000 {
		return nil, fmt.Errorf("vccsim: %d days × %d calls per day is too large", cfg.Days, cfg.CallsPerDay)
	}
	if err := cfg.Readings.validate(); err != nil {
		return nil, err
	}
	if cfg.AccountRequestsPerMinute < 0 {
		return nil, fmt.Errorf("vccsim: AccountRequestsPerMinute %d is negative", cfg.AccountRequestsPerMinute)
	}
	for _, c := range cfg.Credentials {
		if c.Licence == "supervisor" && c.has(ScopeStats) {
			return nil, fmt.Errorf("vccsim: credential %q: a supervisor-licence credential cannot hold the %s scope", c.Name, ScopeStats)
		}
	}
	data := dataset.Generate(dataset.Config{
		Seed: cfg.Seed, Start: cfg.Start, Days: cfg.Days, CallsPerDay: cfg.CallsPerDay, Agents: cfg.Agents, Groups: cfg.Groups,
		AudioBytesPerSecond: cfg.AudioBytesPerSecond, FixedRecordingSize: cfg.FixedRecordingSize, HostileIDs: cfg.HostileIDs,
	})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Sim{
		cfg:       cfg,
		data:      data,
		cursorKey: key,
		limiter:   newAccountLimiter(cfg.AccountRequestsPerMinute, time.Now),
		tokens:    map[string]token{},
		faults:    newFaultState(cfg.Faults),
		requests:  map[RequestStat]int{},
		loads:     map[string]int{},
		sums:      map[*dataset.Item]string{},
	}, nil
}

// Credential returns the named credential, or the zero Credential.
func (s *Sim) Credential(name string) Credential {
	for _, c := range s.cfg.Credentials {
		if c.Name == name {
			return c
		}
	}
	return Credential{}
}

// Credentials lists the account's credentials.
func (s *Sim) Credentials() []Credential { return append([]Credential(nil), s.cfg.Credentials...) }

// Now is the simulator's clock.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Sim) nowLocked() time.Time {
	if !s.now.IsZero() {
		return s.now
	}
	return s.cfg.Clock().UTC()
}

// SetNow freezes the clock at t.
func (s *Sim) SetNow(t time.Time) {
	s.mu.Lock()
	s.now = t.UTC()
	s.mu.Unlock()
}

// Advance moves the (frozen) clock forward by d.
func (s *Sim) Advance(d time.Duration) {
	s.mu.Lock()
	s.now = s.nowLocked().Add(d)
	s.mu.Unlock()
}

// SetFaults replaces the fault configuration.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = newFaultState(f)
	s.mu.Unlock()
}

// IssuedTokens lists every access token issued so far, so a test can scan
// logs and files for them.
func (s *Sim) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Agents lists the account's agents: the users who handle calls.
func (s *Sim) Agents() []dataset.User {
	out := make([]dataset.User, len(s.data.Agents))
	for i, a := range s.data.Agents {
		out[i] = *a
	}
	return out
}

// RenameAgent gives the agent agentID a new name and email, as an
// administrator would in VCC's admin portal. Requests that start after it
// returns see them (User Admin, the truth); call it between requests, not
// during one. It reports whether the account has that agent.
func (s *Sim) RenameAgent(agentID, name, email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.data.Agents {
		if a.AgentID == agentID {
			a.Name, a.Email = name, email
			return true
		}
	}
	return false
}

// Users lists every user of the account: the agents, then the users who
// are not agents (an admin, a supervisor, an archived agent).
func (s *Sim) Users() []dataset.User {
	out := make([]dataset.User, len(s.data.Users))
	for i, u := range s.data.Users {
		out[i] = *u
	}
	return out
}

// RequestStat counts requests by method, route, status and token scope.
type RequestStat struct {
	Method string `json:"method"`
	Route  string `json:"route"`
	Status int    `json:"status"`
	Scope  string `json:"scope,omitempty"`
	Count  int    `json:"count"`
}

func (s *Sim) count(method, route string, status int, scope string) {
	s.mu.Lock()
	s.requests[RequestStat{Method: method, Route: route, Status: status, Scope: scope}]++
	s.mu.Unlock()
}

// GatewayRequests sums the requests to the API gateway (token requests
// aside): all of them, the 429s among them, and the count of each route.
func (s *Sim) GatewayRequests() (total, throttled int, byRoute map[string]int) {
	byRoute = map[string]int{}
	for _, rs := range s.Requests() {
		if rs.Route == RouteToken {
			continue
		}
		total += rs.Count
		byRoute[rs.Route] += rs.Count
		if rs.Status == http.StatusTooManyRequests {
			throttled += rs.Count
		}
	}
	return total, throttled, byRoute
}

// Requests returns the request counters, sorted.
func (s *Sim) Requests() []RequestStat {
	s.mu.Lock()
	out := make([]RequestStat, 0, len(s.requests))
	for k, n := range s.requests {
		k.Count = n
		out = append(out, k)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		if a.Status != b.Status {
			return a.Status < b.Status
		}
		return a.Scope < b.Scope
	})
	return out
}

// Downloads counts content downloads that started (200 or 206) by
// "guid/contentKey".
func (s *Sim) Downloads() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.loads))
	for k, v := range s.loads {
		out[k] = v
	}
	return out
}

// Rejection is one request the simulator refused with a 400, 401, 403, 404
// or 406, and the message it sent.
type Rejection struct {
	Method  string `json:"method"`
	Route   string `json:"route"` // a Route* constant, or "unknown"
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// Rejections lists the refused requests since the last ResetRequests, in
// the order they were answered, so that a test can assert that a client
// made no request the API would refuse, and show which it did.
func (s *Sim) Rejections() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejections...)
}

func (s *Sim) reject(r Rejection) {
	s.mu.Lock()
	s.rejections = append(s.rejections, r)
	s.mu.Unlock()
}

// ResetRequests zeroes the request and download counters and forgets the
// rejections.
func (s *Sim) ResetRequests() {
	s.mu.Lock()
	s.requests = map[RequestStat]int{}
	s.rejections = nil
	s.loads = map[string]int{}
	s.mu.Unlock()
}

// ContentBytes returns a content item's bytes (nil if unknown); for tests
// with small recordings.
func (s *Sim) ContentBytes(guid, contentKey string) []byte {
	it, ok := s.data.Interaction(guid)
	if !ok {
		return nil
	}
	for i := range it.Content {
		if it.Content[i].Key == contentKey {
			b, _ := io.ReadAll(s.data.Open(it, &it.Content[i]))
			return b
		}
	}
	return nil
}

// sha256Of hashes an item's bytes once and remembers the sum.
func (s *Sim) sha256Of(it *dataset.Interaction, item *dataset.Item) string {
	s.mu.Lock()
	sum, ok := s.sums[item]
	s.mu.Unlock()
	if ok {
		return sum
	}
	h := sha256.New()
	_, _ = io.Copy(h, s.data.Open(it, item))
	sum = hex.EncodeToString(h.Sum(nil))
	s.mu.Lock()
	s.sums[item] = sum
	s.mu.Unlock()
	return sum
}

// Server is a Sim served over HTTP on a loopback port.
type Server struct {
	*Sim
	URL string // base URL, e.g. http://127.0.0.1:8700
	srv *http.Server
	ln  net.Listener
}

// Start generates the account and serves it on a free loopback port.
func Start(cfg Config) (*Server, error) { return StartOn("127.0.0.1:0", cfg) }

// StartOn serves the account on addr.
func StartOn(addr string, cfg Config) (*Server, error) {
	sim, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("vccsim: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &Server{Sim: sim, URL: "http://" + ln.Addr().String(), srv: srv, ln: ln}, nil
}

// AuthURL is the token endpoint.
func (s *Server) AuthURL() string { return s.URL + tokenPath }

// APIURL is the API gateway base URL.
func (s *Server) APIURL() string { return s.URL }

// Close stops the server and drops open connections.
func (s *Server) Close() { _ = s.srv.Close() }

package vccsim

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Fault is one kind of misbehaviour.
type Fault string

// The faults the simulator can inject.
const (
	FaultNone          Fault = ""
	Fault429           Fault = "429"          // 429 Too Many Requests, with Retry-After
	Fault5xx           Fault = "5xx"          // 500, 502 or 503
	FaultReset         Fault = "reset"        // connection reset mid-body (downloads)
	FaultShortBody     Fault = "short-body"   // fewer bytes than Content-Length (downloads)
	FaultSlowFirstByte Fault = "slow"         // headers only after SlowFirstByte
	FaultMalformedJSON Fault = "malformed"    // 200 with truncated JSON (JSON endpoints)
	FaultTokenOutage   Fault = "token-outage" // 503 from the token endpoint

	// Downloads served wrong by a broken or hostile VCC; none of these
	// may ever be stored (see Faults.Content to aim one at a recording).
	FaultShortLength  Fault = "short-length"  // 200 with half the bytes under a Content-Length that says so
	FaultChunkedShort Fault = "chunked-short" // 200, chunked, half the bytes, properly terminated
	FaultLongBody     Fault = "long-body"     // 200, chunked, the bytes and 4 KiB more
	FaultGzip         Fault = "gzip"          // 200 with Content-Encoding gzip whatever Accept-Encoding said
	FaultWrongRange   Fault = "wrong-range"   // a Range request: 206 as asked, but the bytes from offset 0; else a reset halfway
	FaultHTML         Fault = "html"          // 200 text/html: an error page in place of the recording
	FaultDrip         Fault = "drip"          // the bytes one at a time, one every Faults.DripInterval
)

// Faults configures fault injection, by rate (seeded, so a run repeats) or
// by an exact schedule.
type Faults struct {
	Seed int64

	Rate429       float64
	RetryAfter    time.Duration // Retry-After of a 429; default 1 s
	Rate5xx       float64
	RateReset     float64 // of downloads
	RateShortBody float64 // of downloads

	RateSlowFirstByte float64
	SlowFirstByte     time.Duration // default 2 s

	RateMalformedJSON float64 // of JSON responses

	// TokenOutage makes the token endpoint answer 503 to every request.
	TokenOutage bool

	// Schedule injects a fault into the Nth (1-based) request of a route,
	// counted from when the faults were set.
	Schedule []ScheduledFault

	// Content injects a fault into every download of one content item,
	// keyed "guid/contentKey" (ContentFaultKey): a recording VCC keeps
	// serving wrong.
	Content map[string]Fault
	// DripInterval is FaultDrip's time between bytes; default 1 s.
	DripInterval time.Duration
}

// ContentFaultKey is the key of Faults.Content for a content item.
func ContentFaultKey(guid, contentKey string) string { return guid + "/" + contentKey }

// ScheduledFault is one exactly placed fault.
type ScheduledFault struct {
	Route string // a Route* constant
	Nth   int
	Fault Fault
}

// Routes, as request counters name them.
const (
	RouteToken             = "POST " + tokenPath
	RouteInteractions      = "GET /interaction-content/interactions"
	RouteInteraction       = "GET /interaction-content/interactions/{guid}"
	RouteContent           = "GET /interaction-content/interactions/{guid}/content/{contentKey}"
	RouteUsers             = "GET /useradmin/users"
	RouteUser              = "GET /useradmin/users/{userId}"
	RouteUserByAgent       = "GET /useradmin/users/by/agentDisplayId/{agentDisplayId}"
	RouteUserGroups        = "GET /useradmin/users/{userId}/groups"
	RouteGroup             = "GET /useradmin/groups/{groupId}"
	RouteGroupUsers        = "GET /useradmin/groups/{groupId}/users"
	RouteStatsInteractions = "GET /stats/interactions"
	RouteStatsInteraction  = "GET /stats/interactions/{guid}"
)

type faultState struct {
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
	n   map[string]int
}

func newFaultState(f Faults) *faultState {
	if f.RetryAfter <= 0 {
		f.RetryAfter = time.Second
	}
	if f.SlowFirstByte <= 0 {
		f.SlowFirstByte = 2 * time.Second
	}
	if f.DripInterval <= 0 {
		f.DripInterval = time.Second
	}
	return &faultState{f: f, rng: rand.New(rand.NewPCG(uint64(f.Seed), 0xfa17)), n: map[string]int{}}
}

// decide picks the fault, if any, for the next request of route. One draw
// per request keeps each rate exact in expectation.
func (fs *faultState) decide(route string, download, json bool) Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.n[route]++
	for _, sf := range fs.f.Schedule {
		if sf.Route == route && sf.Nth == fs.n[route] {
			return sf.Fault
		}
	}
	if route == RouteToken {
		if fs.f.TokenOutage {
			return FaultTokenOutage
		}
		return FaultNone
	}
	u := fs.rng.Float64()
	for _, c := range []struct {
		rate float64
		f    Fault
		ok   bool
	}{
		{fs.f.Rate429, Fault429, true},
		{fs.f.Rate5xx, Fault5xx, true},
		{fs.f.RateReset, FaultReset, download},
		{fs.f.RateShortBody, FaultShortBody, download},
		{fs.f.RateMalformedJSON, FaultMalformedJSON, json},
		{fs.f.RateSlowFirstByte, FaultSlowFirstByte, true},
	} {
		if !c.ok {
			continue
		}
		if u < c.rate {
			return c.f
		}
		u -= c.rate
	}
	return FaultNone
}

func (fs *faultState) int(n int) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rng.IntN(n)
}

// contentFault is the fault aimed at every download of one item, if any.
func (fs *faultState) contentFault(guid, contentKey string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.f.Content[ContentFaultKey(guid, contentKey)]
	return f, ok
}

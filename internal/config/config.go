// Package config loads vccingest settings from defaults, an optional YAML
// file, VCCINGEST_* environment variables and command-line flags (in that
// order of precedence, lowest first), and validates them with errors that name
// the field and where its value came from.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Settings are the knobs of one tenant's sync. Secrets are never held here,
// only a reference to one (ClientSecretRef).
type Settings struct {
	Tenant            string
	Region            string
	ClientID          string
	ClientSecretRef   string
	APIURL            string
	AuthURL           string
	DataDir           string
	Catalog           string // URL; empty means SQLite in DataDir
	Bucket            string // URL; empty means file:// in DataDir
	From, To          time.Time
	Downloads         int
	Attempts          int // download attempts per recording before it is failed for good
	Window            time.Duration
	Lookback          time.Duration
	Settle            time.Duration
	Rescan            []time.Duration // when a window is listed again for late content, after it is due
	RescueAfter       time.Duration   // shared queues: when a dead worker's job is retried
	RequestsPerMinute float64         // VCC requests per minute, all APIs, the tenant across all workers
	LogFormat         string          // auto, text or json
	LogLevel          string          // debug, info, warn or error
	Events            []string        // event sink URLs
	EventsSecretRef   string          // webhook signing secret, by reference
	EventsWait        time.Duration   // how long sync waits for its events
	Grace             time.Duration   // on Ctrl-C or SIGTERM, how long running downloads may finish
	// A download with no byte for StallTimeout, or fewer than MinRate
	// bytes a second over StallTimeout, is a stall: resumed with Range.
	// Zero: the VCC client's defaults (60 s, 4 KiB/s).
	StallTimeout time.Duration
	MinRate      int
	// AgentRefreshTimeout bounds reading the users and their groups
	// (User Admin API) before a run lists its first window.
	AgentRefreshTimeout time.Duration
}

// DefaultAttempts is how many times a recording's download is tried before
// it is failed for good, unless the attempts setting says otherwise.
const DefaultAttempts = 12

// Defaults returns the settings every source starts from.
func Defaults() Settings {
	return Settings{
		Tenant:            "default",
		Region:            "nam",
		DataDir:           "./vccingest-data",
		Downloads:         8,
		Attempts:          DefaultAttempts,
		Window:            time.Hour,
		Lookback:          24 * time.Hour,
		Settle:            15 * time.Minute,
		Rescan:            []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour},
		RescueAfter:       10 * time.Minute,
		RequestsPerMinute: DefaultRequestsPerMinute,
		LogFormat:         "auto",
		LogLevel:          "info",
		EventsWait:        30 * time.Second,
		Grace:             30 * time.Second,
		StallTimeout:      time.Minute,
		MinRate:           4096,

		AgentRefreshTimeout: 15 * time.Minute,
	}
}

// CatalogURL is the catalog URL in effect: Catalog, or SQLite in DataDir.
func (s Settings) CatalogURL() string {
	if s.Catalog != "" {
		return s.Catalog
	}
	return "sqlite://" + filepath.ToSlash(filepath.Join(s.DataDir, "catalog.db"))
}

// BucketURL is the bucket URL in effect: Bucket, or file:// in DataDir.
func (s Settings) BucketURL() string {
	if s.Bucket != "" {
		return s.Bucket
	}
	dir := filepath.Join(s.DataDir, "blobs")
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return "file://" + filepath.ToSlash(dir)
}

// Field describes one setting: its name in each source and how to set it.
type Field struct {
	Key  string // YAML key, e.g. client_id
	Flag string // flag name, e.g. client-id
	Env  string // environment variable, e.g. VCCINGEST_CLIENT_ID
	Help string
	Type string // what the value is, for help: string, duration, time, number
	set  func(*Settings, string) error
	get  func(Settings) string
}

// Default returns the field's default value as text ("" for none).
func (f Field) Default() string { return f.get(Defaults()) }

// accessor reads and writes one setting as text.
type accessor struct {
	set  func(*Settings, string) error
	get  func(Settings) string
	kind string // Field.Type; "" is string
}

func field(key, help string, a accessor) Field {
	return Field{
		Key:  key,
		Flag: strings.ReplaceAll(key, "_", "-"),
		Env:  envName(key),
		Help: help,
		Type: cmpOr(a.kind, "string"),
		set:  a.set,
		get:  a.get,
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func envName(key string) string { return "VCCINGEST_" + strings.ToUpper(key) }

func str(p func(*Settings) *string) accessor {
	return accessor{
		set: func(s *Settings, v string) error { *p(s) = v; return nil },
		get: func(s Settings) string { return *p(&s) },
	}
}

func wholeNumber(p func(*Settings) *int) accessor {
	return accessor{
		set: func(s *Settings, v string) error {
			n, err := parseWhole(v)
			if err != nil {
				return err
			}
			*p(s) = n
			return nil
		},
		get:  func(s Settings) string { return strconv.Itoa(*p(&s)) },
		kind: "number",
	}
}

// parseWhole reads a whole-number setting.
func parseWhole(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return n, nil
}

func dur(p func(*Settings) *time.Duration) accessor {
	return accessor{
		set: func(s *Settings, v string) error {
			d, err := ParseDuration(v)
			if err != nil {
				return err
			}
			*p(s) = d
			return nil
		},
		get:  func(s Settings) string { return FormatDuration(*p(&s)) },
		kind: "duration",
	}
}

func timestamp(p func(*Settings) *time.Time) accessor {
	return accessor{
		set: func(s *Settings, v string) error {
			if v == "" {
				*p(s) = time.Time{}
				return nil
			}
			t, err := ParseTime(v)
			if err != nil {
				return err
			}
			*p(s) = t
			return nil
		},
		get: func(s Settings) string {
			if t := *p(&s); !t.IsZero() {
				return t.Format(time.RFC3339)
			}
			return ""
		},
		kind: "time",
	}
}

// Fields lists every setting, in the order help shows them.
func Fields() []Field {
	return []Field{
		field("tenant", "tenant id: the first part of every blob key and catalog row", str(func(s *Settings) *string { return &s.Tenant })),
		field("region", "VCC region: nam, emea or apac", str(func(s *Settings) *string { return &s.Region })),
		field("client_id", "VCC API credential client id", str(func(s *Settings) *string { return &s.ClientID })),
		field("client_secret_ref", "where the client secret is: env:NAME, file:PATH or azkv://VAULT/NAME[/VERSION] (never the secret itself)", str(func(s *Settings) *string { return &s.ClientSecretRef })),
		field("api_url", "override the VCC API gateway base URL (proxies, new regions, the simulator)", str(func(s *Settings) *string { return &s.APIURL })),
		field("auth_url", "override the VCC token endpoint URL", str(func(s *Settings) *string { return &s.AuthURL })),
		field("data_dir", "directory for the default catalog and bucket", str(func(s *Settings) *string { return &s.DataDir })),
		field("catalog", "catalog URL (default sqlite://<data-dir>/catalog.db)", str(func(s *Settings) *string { return &s.Catalog })),
		field("bucket", "bucket URL (default file://<data-dir>/blobs)", str(func(s *Settings) *string { return &s.Bucket })),
		field("from", "start of an explicit range (RFC 3339 or YYYY-MM-DD, UTC, 2000 to 2099); default: watermark minus lookback", timestamp(func(s *Settings) *time.Time { return &s.From })),
		field("to", "end of an explicit range (exclusive); default: now minus settle", timestamp(func(s *Settings) *time.Time { return &s.To })),
		field("downloads", "concurrent recording downloads, of the tenant across all workers", wholeNumber(func(s *Settings) *int { return &s.Downloads })),
		field("attempts", "download attempts per recording before it is failed for good (each attempt resumes a broken transfer several times); a later run over its range tries a failed recording again", wholeNumber(func(s *Settings) *int { return &s.Attempts })),
		field("window", "size of one sync window", dur(func(s *Settings) *time.Duration { return &s.Window })),
		field("lookback", "how late content may turn up and still be found: a window is re-scanned last at its end + settle + lookback", dur(func(s *Settings) *time.Duration { return &s.Lookback })),
		field("settle", "how long after a call ends before its window is synced", dur(func(s *Settings) *time.Duration { return &s.Settle })),
		field("rescan", "when a window is listed again for late content, after it became due (comma-separated durations, or none); the last re-scan is at the lookback, none past it", accessor{
			set: func(s *Settings, v string) error {
				ds, err := ParseDurations(v)
				if err != nil {
					return err
				}
				s.Rescan = ds
				return nil
			},
			get:  func(s Settings) string { return FormatDurations(s.Rescan) },
			kind: "durations",
		}),
		field("grace", "on Ctrl-C or SIGTERM, how long running downloads may take to finish before they are cancelled (the next run resumes them); a second Ctrl-C stops at once", dur(func(s *Settings) *time.Duration { return &s.Grace })),
		field("stall_timeout", "a download that sends no byte for this long, or fewer than min_rate bytes a second over this long, has stalled: it is abandoned and resumed with Range (a transfer that keeps stalling fails the attempt)", dur(func(s *Settings) *time.Duration { return &s.StallTimeout })),
		field("min_rate", "the floor of a download's rate, in bytes a second averaged over stall_timeout (a server that drips bytes is stalling)", wholeNumber(func(s *Settings) *int { return &s.MinRate })),
		field("agent_refresh_timeout", "how long reading the users and their groups (User Admin API) may take before a run lists its first window; past it the run fails, saying so (a server that never answers cannot hold it)", dur(func(s *Settings) *time.Duration { return &s.AgentRefreshTimeout })),
		field("rescue_after", "PostgreSQL catalog: how long a job of a worker that died stays running before another takes it", dur(func(s *Settings) *time.Duration { return &s.RescueAfter })),
		field("requests_per_minute", "VCC requests per minute across all VCC APIs, of the tenant across all workers (VCC's fair-usage limit is one per account, shared with its other integrations); slowed for a while on a 429", accessor{
			set: func(s *Settings, v string) error {
				f, err := parseRequestsPerMinute(v)
				if err != nil {
					return err
				}
				s.RequestsPerMinute = f
				return nil
			},
			get:  func(s Settings) string { return strconv.FormatFloat(s.RequestsPerMinute, 'g', -1, 64) },
			kind: "number",
		}),
		field("log_format", "log format: auto (progress bar on a terminal), text or json", str(func(s *Settings) *string { return &s.LogFormat })),
		field("log_level", "log level: debug, info, warn or error", str(func(s *Settings) *string { return &s.LogLevel })),
		field("events", "event sinks, comma-separated: rabbit://EXCHANGE, nats://HOST:PORT/SUBJECT, https://HOST/PATH (signed); see Events", accessor{
			set: func(s *Settings, v string) error {
				s.Events = nil
				for _, u := range strings.Split(v, ",") {
					if u = strings.TrimSpace(u); u != "" {
						s.Events = append(s.Events, u)
					}
				}
				return nil
			},
			get: func(s Settings) string { return strings.Join(s.Events, ",") },
		}),
		field("events_secret_ref", "where the webhook signing secret is: env:NAME, file:PATH or azkv://VAULT/NAME (required with an https:// sink)", str(func(s *Settings) *string { return &s.EventsSecretRef })),
		field("events_wait", "how long sync waits after its run for its events to be delivered (the rest go with the next run)", dur(func(s *Settings) *time.Duration { return &s.EventsWait })),
	}
}

// Sources are where Load reads settings from, besides the defaults.
type Sources struct {
	File      string                      // optional YAML config file
	LookupEnv func(string) (string, bool) // nil: no environment
	Flags     map[string]string           // flag name → value, only flags the user set
	// AnyTenant: the command reads the catalog of every tenant, so a serve
	// file with several tenants needs no --tenant (the first tenant's
	// settings, which hold the service's data dir and catalog, stand in).
	AnyTenant bool
	// Defaults, when set, adjusts the defaults before any source applies:
	// a command's own defaults (demo paces faster), which the file, the
	// environment and the flags still override.
	Defaults func(*Settings)
}

// Load builds Settings from defaults, then the file, the environment and the
// flags, and validates the result.
func Load(src Sources) (Settings, error) {
	s := Defaults()
	if src.Defaults != nil {
		src.Defaults(&s)
	}
	byKey := map[string]Field{}
	byFlag := map[string]Field{}
	for _, f := range Fields() {
		byKey[f.Key] = f
		byFlag[f.Flag] = f
	}
	if src.File != "" {
		serve, err := isServeFile(src.File)
		if err != nil {
			return Settings{}, err
		}
		if serve {
			// One file for every command: a serve file gives a command
			// its tenant's settings.
			if s, err = serveTenantSettings(src); err != nil {
				return Settings{}, err
			}
		} else if err := loadFile(&s, src.File, byKey); err != nil {
			return Settings{}, err
		}
	}
	if src.LookupEnv != nil {
		for _, r := range removed {
			if _, ok := src.LookupEnv(envName(r.key)); ok {
				return Settings{}, r.err(envName(r.key))
			}
		}
		for _, f := range Fields() {
			// An empty variable is unset (VCCINGEST_CATALOG= must not
			// mean the embedded catalog): shells and orchestrators leave
			// empty ones behind.
			if v, ok := src.LookupEnv(f.Env); ok && v != "" {
				if err := f.set(&s, v); err != nil {
					return Settings{}, fmt.Errorf("environment variable %s: %w", f.Env, err)
				}
			}
		}
	}
	flags := make([]string, 0, len(src.Flags))
	for name := range src.Flags {
		flags = append(flags, name)
	}
	sort.Strings(flags)
	for _, name := range flags {
		if err := removedSetting(name, "--"+name); err != nil {
			return Settings{}, err
		}
		f, ok := byFlag[name]
		if !ok {
			return Settings{}, fmt.Errorf("flag --%s: not a setting", name)
		}
		if err := f.set(&s, src.Flags[name]); err != nil {
			return Settings{}, fmt.Errorf("flag --%s: %w", name, err)
		}
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func loadFile(s *Settings, path string, byKey map[string]Field) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s line %d: expected a mapping of setting: value", path, root.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if err := removedSetting(k.Value, k.Value); err != nil {
			return fmt.Errorf("config file %s line %d: %w", path, k.Line, err)
		}
		f, ok := byKey[k.Value]
		if !ok {
			return fmt.Errorf("config file %s line %d: unknown setting %q (known: %s)", path, k.Line, k.Value, knownKeys(byKey))
		}
		if prev, dup := seen[k.Value]; dup {
			return fmt.Errorf("config file %s line %d: %s is already set on line %d", path, k.Line, k.Value, prev)
		}
		seen[k.Value] = k.Line
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("config file %s line %d: %s: expected a single value", path, v.Line, k.Value)
		}
		if k.Value == "client_secret" {
			return fmt.Errorf("config file %s line %d: a secret is never accepted in the config file; use client_secret_ref", path, k.Line)
		}
		if err := f.set(s, v.Value); err != nil {
			return fmt.Errorf("config file %s line %d: %s: %w", path, v.Line, k.Value, err)
		}
	}
	return nil
}

func knownKeys(byKey map[string]Field) string {
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// Regions are the VCC regions a credential can belong to.
var regions = []string{"nam", "emea", "apac"}

// Validate checks the settings and names the first field at fault.
func (s Settings) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if err := ValidateTenant(s.Tenant); err != nil {
		bad("tenant", "%v", err)
	}
	if s.APIURL == "" || s.AuthURL == "" {
		ok := false
		for _, r := range regions {
			ok = ok || s.Region == r
		}
		if !ok {
			bad("region", "%q is not a VCC region; use one of %s (or set both api_url and auth_url)", s.Region, strings.Join(regions, ", "))
		}
	}
	// One of the two alone would mix a custom gateway with the region's
	// token endpoint (or the reverse): tokens from one, calls to another.
	switch {
	case s.APIURL != "" && s.AuthURL == "":
		bad("auth_url", "api_url is set but auth_url is not, so tokens would still come from the %s region's endpoint; set auth_url too (the token endpoint of the same gateway), or neither", s.Region)
	case s.AuthURL != "" && s.APIURL == "":
		bad("api_url", "auth_url is set but api_url is not, so calls would still go to the %s region's gateway; set api_url too, or neither", s.Region)
	}
	for _, u := range []struct{ name, v string }{{"api_url", s.APIURL}, {"auth_url", s.AuthURL}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			bad(u.name, "%q is not an http(s) URL", u.v)
		}
	}
	if s.ClientSecretRef != "" && !strings.HasPrefix(s.ClientSecretRef, "env:") && !strings.HasPrefix(s.ClientSecretRef, "file:") && !strings.HasPrefix(s.ClientSecretRef, "azkv:") {
		bad("client_secret_ref", "must be a reference such as env:VCC_CLIENT_SECRET or file:/run/secrets/vcc (a secret itself is never accepted)")
	}
	validateEvents(s, bad)
	if s.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if s.Downloads < 1 || s.Downloads > 256 {
		bad("downloads", "%d is out of range; use 1 to 256", s.Downloads)
	}
	if s.Attempts < 1 || s.Attempts > 100 {
		bad("attempts", "%d is out of range; use 1 to 100", s.Attempts)
	}
	if s.Window < time.Minute || s.Window > 24*time.Hour {
		bad("window", "%s is out of range; use 1m to 24h", FormatDuration(s.Window))
	}
	if s.Lookback < 0 {
		bad("lookback", "must not be negative")
	}
	if s.RescueAfter < time.Second {
		bad("rescue_after", "%s is too short; use at least 1s (longer than the slowest download)", FormatDuration(s.RescueAfter))
	}
	for _, d := range s.Rescan {
		if d <= 0 {
			bad("rescan", "%s: each re-scan must be a positive time after the window is due", FormatDuration(d))
		}
	}
	if s.Settle < 0 {
		bad("settle", "must not be negative")
	}
	if s.Grace < 0 {
		bad("grace", "must not be negative")
	}
	// Timeouts: 0 is the default; anything shorter than 100ms is a typo.
	for _, t := range []struct {
		key string
		d   time.Duration
	}{{"stall_timeout", s.StallTimeout}, {"agent_refresh_timeout", s.AgentRefreshTimeout}} {
		if t.d < 0 || (t.d > 0 && t.d < 100*time.Millisecond) {
			bad(t.key, "%s is too short; use at least 100ms", FormatDuration(t.d))
		}
	}
	if s.MinRate < 0 {
		bad("min_rate", "must not be negative")
	}
	if err := checkRequestsPerMinute(s.RequestsPerMinute); err != nil {
		bad("requests_per_minute", "%v", err)
	}
	if !s.From.IsZero() && !s.To.IsZero() && !s.To.After(s.From) {
		bad("to", "%s is not after from (%s)", s.To.Format(time.RFC3339), s.From.Format(time.RFC3339))
	}
	switch s.LogFormat {
	case "auto", "text", "json":
	default:
		bad("log_format", "%q: use auto, text or json", s.LogFormat)
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q: use debug, info, warn or error", s.LogLevel)
	}
	return errors.Join(errs...)
}

// RequireCredential reports a missing client id or secret reference; commands
// that talk to VCC call it, commands that only read the catalog do not.
func (s Settings) RequireCredential() error {
	var errs []error
	if s.ClientID == "" {
		errs = append(errs, errors.New("client_id: not set; give --client-id or VCCINGEST_CLIENT_ID"))
	}
	if s.ClientSecretRef == "" {
		errs = append(errs, errors.New("client_secret_ref: not set; give --client-secret-ref env:NAME or file:PATH, or VCCINGEST_CLIENT_SECRET_REF"))
	}
	return errors.Join(errs...)
}

// ValidateTenant checks that a tenant id is safe as a key prefix.
func ValidateTenant(id string) error {
	if id == "" {
		return errors.New("must not be empty")
	}
	if len(id) > 64 {
		return fmt.Errorf("%d characters; use at most 64", len(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%q: use lower-case letters, digits, - and _", id)
		}
	}
	return nil
}

// ParseTime accepts RFC 3339 or a plain UTC date (YYYY-MM-DD).
func ParseTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		if t, err = time.Parse("2006-01-02", v); err != nil {
			return time.Time{}, fmt.Errorf("%q is not a time; use RFC 3339 (2024-03-04T09:00:00Z) or a date (2024-03-04)", v)
		}
	}
	// A time far outside VCC's life is a typo, and 0001-01-01 would read
	// as "not set" (the incremental plan) further on.
	if t = t.UTC(); t.Before(earliestTime) || !t.Before(latestTime) {
		return time.Time{}, fmt.Errorf("%q is outside %s to %s: VCC holds no calls there", v, earliestTime.Format("2006"), latestTime.Format("2006"))
	}
	return t, nil
}

// earliestTime and latestTime bound the times a range may name.
var (
	earliestTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latestTime   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ParseDuration accepts Go durations (90m, 1h30m) and whole days (7d).
func ParseDuration(v string) (time.Duration, error) {
	if strings.HasSuffix(v, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
		if err == nil {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; use e.g. 15m, 1h or 7d", v)
	}
	return d, nil
}

// ParseDurations reads a comma-separated list of durations (1h,6h,1d),
// as ParseDuration; "" or "none" is an empty list.
func ParseDurations(v string) ([]time.Duration, error) {
	out := []time.Duration{}
	if v = strings.TrimSpace(v); v == "" || v == "none" {
		return out, nil
	}
	for _, part := range strings.Split(v, ",") {
		d, err := ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatDurations prints ds the way ParseDurations reads them.
func FormatDurations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = FormatDuration(d)
	}
	return strings.Join(parts, ",")
}

// FormatDuration prints d the way ParseDuration reads it, compactly.
func FormatDuration(d time.Duration) string {
	if d != 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	s := d.String() // e.g. 1h30m0s
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// validateEvents checks the event sinks' URLs and the webhook secret's
// reference; whether a broker answers is found when a sink is opened.
func validateEvents(s Settings, bad func(field, format string, args ...any)) {
	webhook := false
	for _, raw := range s.Events {
		u, err := url.Parse(raw)
		if err != nil {
			bad("events", "%q is not a URL", raw)
			continue
		}
		switch u.Scheme {
		case "rabbit", "nats", "mem":
		case "https", "http":
			webhook = true
		default:
			bad("events", "%s://%s…: scheme %q is not supported; use rabbit://, nats://, https:// or mem://", u.Scheme, u.Host, u.Scheme)
		}
	}
	ref := s.EventsSecretRef
	switch {
	case ref != "" && !strings.HasPrefix(ref, "env:") && !strings.HasPrefix(ref, "file:") && !strings.HasPrefix(ref, "azkv:"):
		bad("events_secret_ref", "must be a reference such as env:VCCINGEST_WEBHOOK_SECRET or file:/run/secrets/webhook (a secret itself is never accepted)")
	case webhook && ref == "":
		bad("events_secret_ref", "a webhook sink signs its requests: set events_secret_ref to env:NAME or file:PATH of the signing secret")
	}
	if s.EventsWait < 0 {
		bad("events_wait", "must not be negative")
	}
}

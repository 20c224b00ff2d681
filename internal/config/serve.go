package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Serve is the configuration of `vccingest serve`: the service's own
// settings and its tenants. Like Settings it holds secret references only.
type Serve struct {
	Listen         string        // HTTP address (default 127.0.0.1:8080)
	AccessTokenRef string        // secret reference of the bearer token; required off loopback
	DataDir        string        // default catalog and bucket location
	Catalog        string        // URL; empty means SQLite in DataDir
	Bucket         string        // default bucket URL of tenants that set none
	RescueAfter    time.Duration // as in Settings
	Grace          time.Duration // how long running downloads may finish at shutdown
	LogFormat      string        // text or json
	LogLevel       string
	// Events and EventsSecretRef are the event sinks of tenants that set
	// none of their own.
	Events          []string
	EventsSecretRef string
	Tenants         []ServeTenant
}

// ServeTenant is one tenant of the service.
type ServeTenant struct {
	ID                string
	Region            string
	ClientID          string
	ClientSecretRef   string
	APIURL            string
	AuthURL           string
	Bucket            string
	Interval          time.Duration // how often it syncs
	Window            time.Duration
	Lookback          time.Duration
	Settle            time.Duration
	Rescan            []time.Duration
	RequestsPerMinute float64 // the tenant's VCC budget, all APIs and processes
	Downloads         int
	Attempts          int      // download attempts per recording
	Events            []string // the tenant's event sinks; none: the service's
	EventsSecretRef   string
	Line              int // where it starts in the file, for messages
}

// Settings are the tenant's settings in the form `vccingest sync` takes, so
// that both build their VCC client and bucket the same way.
func (t ServeTenant) Settings(s Serve) Settings {
	return Settings{
		Tenant: t.ID, Region: t.Region, ClientID: t.ClientID, ClientSecretRef: t.ClientSecretRef,
		APIURL: t.APIURL, AuthURL: t.AuthURL, DataDir: s.DataDir, Catalog: s.Catalog, Bucket: orString(t.Bucket, s.Bucket),
		Downloads: t.Downloads, Attempts: t.Attempts, Window: t.Window, Lookback: t.Lookback, Settle: t.Settle, Rescan: t.Rescan,
		RescueAfter: s.RescueAfter, Grace: s.Grace, RequestsPerMinute: t.RequestsPerMinute, LogFormat: "text", LogLevel: s.LogLevel,
		Events: t.events(s), EventsSecretRef: orString(t.EventsSecretRef, s.EventsSecretRef),
	}
}

// events are the tenant's own sinks, or the service's if it has none.
func (t ServeTenant) events(s Serve) []string {
	if len(t.Events) > 0 {
		return t.Events
	}
	return s.Events
}

// urlList reads a list of URLs: a YAML sequence, or one comma-separated
// value as the events setting takes.
func urlList(dst *[]string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		var items []*yaml.Node
		switch n.Kind {
		case yaml.ScalarNode:
			items = []*yaml.Node{n}
		case yaml.SequenceNode:
			items = n.Content
		default:
			return errors.New("expected a list of URLs")
		}
		*dst = nil
		for _, it := range items {
			if it.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: expected a URL", it.Line)
			}
			for _, u := range strings.Split(it.Value, ",") {
				if u = strings.TrimSpace(u); u != "" {
					*dst = append(*dst, u)
				}
			}
		}
		return nil
	}
}

// Fingerprint changes whenever anything about the tenant's configuration
// does (Line aside), including what it takes from the service's defaults
// (the bucket, the data dir, the catalog).
func (t ServeTenant) Fingerprint(s Serve) string {
	t.Line = 0
	return fmt.Sprintf("%#v|%#v", t, t.Settings(s))
}

func orString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// LoadServe reads and validates the service's YAML config file. Errors name
// the line, and the tenant and field at fault.
func LoadServe(path string) (Serve, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Serve{}, fmt.Errorf("serve config: %w", err)
	}
	s, err := ParseServe(b)
	if err != nil {
		return Serve{}, fmt.Errorf("serve config %s: %w", path, err)
	}
	return s, nil
}

// ParseServe parses and validates a serve config document.
func ParseServe(doc []byte) (Serve, error) {
	d := Defaults()
	s := Serve{Listen: "127.0.0.1:8080", DataDir: d.DataDir, RescueAfter: d.RescueAfter, Grace: 30 * time.Second, LogFormat: "text", LogLevel: "info"}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(doc)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return Serve{}, errors.New("the file is empty; it needs at least a tenants: list")
		}
		return Serve{}, err
	}
	top := map[string]func(*yaml.Node) error{
		"listen":            scalar(func(v string) error { s.Listen = v; return nil }),
		"access_token_ref":  scalar(func(v string) error { s.AccessTokenRef = v; return nil }),
		"data_dir":          scalar(func(v string) error { s.DataDir = v; return nil }),
		"catalog":           scalar(func(v string) error { s.Catalog = v; return nil }),
		"bucket":            scalar(func(v string) error { s.Bucket = v; return nil }),
		"rescue_after":      scalar(durInto(&s.RescueAfter)),
		"grace":             scalar(durInto(&s.Grace)),
		"log_format":        scalar(func(v string) error { s.LogFormat = v; return nil }),
		"log_level":         scalar(func(v string) error { s.LogLevel = v; return nil }),
		"events":            urlList(&s.Events),
		"events_secret_ref": scalar(func(v string) error { s.EventsSecretRef = v; return nil }),
		"tenants": func(n *yaml.Node) error {
			if n.Kind != yaml.SequenceNode {
				return errors.New("expected a list of tenants")
			}
			for _, item := range n.Content {
				t, err := parseTenant(item)
				if err != nil {
					return err
				}
				s.Tenants = append(s.Tenants, t)
			}
			return nil
		},
	}
	if len(root.Content) == 0 {
		return Serve{}, errors.New("the file is empty; it needs at least a tenants: list")
	}
	if err := mapping(root.Content[0], top); err != nil {
		return Serve{}, err
	}
	if err := s.Validate(); err != nil {
		return Serve{}, err
	}
	return s, nil
}

// tenantKeys are the settings (config.Fields keys) a serve file's tenant
// may set besides its id and interval; each is parsed as the setting is
// everywhere else.
var tenantKeys = []string{
	"region", "client_id", "client_secret_ref", "api_url", "auth_url", "bucket",
	"events", "events_secret_ref", "window", "lookback", "settle", "rescan",
	"requests_per_minute", "downloads", "attempts",
}

func parseTenant(n *yaml.Node) (ServeTenant, error) {
	s := Defaults()
	t := ServeTenant{Interval: 15 * time.Minute, Line: n.Line}
	fields := map[string]func(*yaml.Node) error{
		"id":       scalar(func(v string) error { t.ID = v; return nil }),
		"interval": scalar(durInto(&t.Interval)),
		"events":   urlList(&s.Events), // a YAML list here, beside the comma-separated text
	}
	byKey := map[string]Field{}
	for _, f := range Fields() {
		byKey[f.Key] = f
	}
	for _, k := range tenantKeys {
		if _, ok := fields[k]; !ok {
			f := byKey[k]
			fields[k] = scalar(func(v string) error { return f.set(&s, v) })
		}
	}
	if err := mapping(n, fields); err != nil {
		return ServeTenant{}, fmt.Errorf("tenant at line %d: %w", n.Line, err)
	}
	t.Region, t.ClientID, t.ClientSecretRef, t.APIURL, t.AuthURL, t.Bucket = s.Region, s.ClientID, s.ClientSecretRef, s.APIURL, s.AuthURL, s.Bucket
	t.Events, t.EventsSecretRef = s.Events, s.EventsSecretRef
	t.Window, t.Lookback, t.Settle, t.Rescan = s.Window, s.Lookback, s.Settle, s.Rescan
	t.RequestsPerMinute, t.Downloads, t.Attempts = s.RequestsPerMinute, s.Downloads, s.Attempts
	return t, nil
}

// mapping applies fields to the keys of a mapping node, refusing unknown and
// repeated keys and any secret given in place of a reference.
func mapping(n *yaml.Node, fields map[string]func(*yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: expected a mapping of key: value", n.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "client_secret" || k.Value == "access_token" {
			return fmt.Errorf("line %d: a secret is never accepted in the config file; use %s_ref with env:, file: or azkv://", k.Line, k.Value)
		}
		if err := removedSetting(k.Value, k.Value); err != nil {
			return fmt.Errorf("line %d: %w", k.Line, err)
		}
		set, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown key %q (known: %s)", k.Line, k.Value, sortedKeys(fields))
		}
		if prev, dup := seen[k.Value]; dup {
			return fmt.Errorf("line %d: %s is already set on line %d", k.Line, k.Value, prev)
		}
		seen[k.Value] = k.Line
		if err := set(v); err != nil {
			return fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
		}
	}
	return nil
}

func sortedKeys(m map[string]func(*yaml.Node) error) string {
	byKey := make(map[string]Field, len(m))
	for k := range m {
		byKey[k] = Field{}
	}
	return knownKeys(byKey)
}

func scalar(set func(string) error) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if n.Kind != yaml.ScalarNode {
			return errors.New("expected a single value")
		}
		return set(n.Value)
	}
}

func durInto(d *time.Duration) func(string) error {
	return func(v string) error {
		x, err := ParseDuration(v)
		if err != nil {
			return err
		}
		*d = x
		return nil
	}
}

// Validate checks the service settings and every tenant; errors name the
// tenant and field at fault.
func (s Serve) Validate() error {
	var errs []error
	if host, _, err := net.SplitHostPort(s.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port", s.Listen))
	} else if !IsLoopbackHost(host) && s.AccessTokenRef == "" {
		errs = append(errs, fmt.Errorf("listen: %s is not a loopback address, so an access token is required: set access_token_ref (env:NAME, file:PATH or azkv://VAULT/NAME)", s.Listen))
	}
	if s.AccessTokenRef != "" && !isSecretRef(s.AccessTokenRef) {
		errs = append(errs, errors.New("access_token_ref: must be a reference such as env:VCCINGEST_ACCESS_TOKEN or file:/run/secrets/token (a token itself is never accepted)"))
	}
	if s.Grace < 0 {
		errs = append(errs, errors.New("grace: must not be negative"))
	}
	switch s.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format: %q: use text or json", s.LogFormat))
	}
	if len(s.Tenants) == 0 {
		errs = append(errs, errors.New("tenants: none configured; add at least one"))
	}
	seen := map[string]int{}
	for i, t := range s.Tenants {
		name := fmt.Sprintf("tenant %q (tenants[%d], line %d)", t.ID, i, t.Line)
		if prev, dup := seen[t.ID]; dup && t.ID != "" {
			errs = append(errs, fmt.Errorf("%s: id: already used by tenants[%d]", name, prev))
		}
		seen[t.ID] = i
		if err := t.Settings(s).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if t.ClientID == "" {
			errs = append(errs, fmt.Errorf("%s: client_id: not set", name))
		}
		if t.ClientSecretRef == "" {
			errs = append(errs, fmt.Errorf("%s: client_secret_ref: not set; use env:NAME, file:PATH or azkv://VAULT/NAME", name))
		}
		if t.Interval < time.Second {
			errs = append(errs, fmt.Errorf("%s: interval: %s is too short; use at least 1s", name, FormatDuration(t.Interval)))
		}
	}
	return errors.Join(errs...)
}

func isSecretRef(ref string) bool {
	for _, p := range []string{"env:", "file:", "azkv:"} {
		if len(ref) > len(p) && ref[:len(p)] == p {
			return true
		}
	}
	return false
}

// IsLoopbackHost reports whether host (a name or an IP) is a loopback
// address. The empty host (all interfaces) is not.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

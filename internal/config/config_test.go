package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vccingest.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad_Precedence(t *testing.T) {
	file := writeFile(t, "region: emea\ndownloads: 4\nclient_id: from-file\nlookback: 2d\n")
	s, err := Load(Sources{
		File:      file,
		LookupEnv: envOf(map[string]string{"VCCINGEST_DOWNLOADS": "6", "VCCINGEST_CLIENT_ID": "from-env"}),
		Flags:     map[string]string{"client-id": "from-flag", "from": "2024-03-04"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Region != "emea" || s.Downloads != 6 || s.ClientID != "from-flag" || s.Lookback != 48*time.Hour {
		t.Fatalf("precedence wrong: %+v", s)
	}
	if want := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC); !s.From.Equal(want) {
		t.Fatalf("from = %v", s.From)
	}
	if s.Window != time.Hour || s.Settle != 15*time.Minute {
		t.Fatalf("defaults lost: %+v", s)
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name string
		src  Sources
		want string
	}{
		{"corrupt yaml names the line", Sources{File: writeFile(t, "region: nam\ndownloads: [1\nx: y\n")}, "line"},
		{"unknown key names line and key", Sources{File: writeFile(t, "region: nam\n\nregoin: emea\n")}, `line 3: unknown setting "regoin"`},
		{"bad value names line and key", Sources{File: writeFile(t, "downloads: many\n")}, `line 1: downloads: "many" is not a whole number`},
		{"secret in file refused", Sources{File: writeFile(t, "client_secret: hunter2\n")}, "unknown setting"},
		{"duplicate key", Sources{File: writeFile(t, "region: nam\nregion: emea\n")}, "already set on line 1"},
		{"missing file", Sources{File: filepath.Join(t.TempDir(), "nope.yaml")}, "config file"},
		{"bad env names the variable", Sources{LookupEnv: envOf(map[string]string{"VCCINGEST_WINDOW": "soon"})}, "VCCINGEST_WINDOW"},
		{"bad flag names the flag", Sources{Flags: map[string]string{"to": "yesterday"}}, "flag --to"},
		{"year 1 is not unset", Sources{Flags: map[string]string{"from": "0001-01-01"}}, `flag --from: "0001-01-01" is outside 2000 to 2100`},
		{"year 9999", Sources{Flags: map[string]string{"to": "9999-12-31T00:00:00Z"}}, "outside 2000 to 2100"},
		{"unknown region lists valid ones", Sources{Flags: map[string]string{"region": "mars"}}, "nam, emea, apac"},
		{"secret as ref refused", Sources{Flags: map[string]string{"client-secret-ref": "hunter2"}}, "client_secret_ref"},
		{"downloads range", Sources{Flags: map[string]string{"downloads": "0"}}, "downloads: 0 is out of range"},
		{"stall timeout too short", Sources{Flags: map[string]string{"stall-timeout": "10ms"}}, "stall_timeout: 10ms is too short; use at least 100ms"},
		{"agent refresh timeout too short", Sources{Flags: map[string]string{"agent-refresh-timeout": "10ms"}}, "agent_refresh_timeout: 10ms is too short; use at least 100ms"},
		{"negative agent refresh timeout", Sources{Flags: map[string]string{"agent-refresh-timeout": "-1s"}}, "agent_refresh_timeout"},
		{"to before from", Sources{Flags: map[string]string{"from": "2024-03-05", "to": "2024-03-04"}}, "is not after from"},
		{"bad tenant", Sources{Flags: map[string]string{"tenant": "../etc"}}, "tenant"},
		{"bad api url", Sources{Flags: map[string]string{"api-url": "ftp://x", "auth-url": "https://auth.example/token"}}, "api_url"},
		{"api url without auth url", Sources{Flags: map[string]string{"api-url": "https://gw.example"}}, "auth_url: api_url is set but auth_url is not, so tokens would still come from the nam region's endpoint"},
		{"auth url without api url", Sources{Flags: map[string]string{"auth-url": "https://gw.example/token"}}, "api_url: auth_url is set but api_url is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoad_SecretNeverEchoed(t *testing.T) {
	_, err := Load(Sources{Flags: map[string]string{"client-secret-ref": "hunter2-secret"}})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error must refuse without echoing the secret: %v", err)
	}
}

func TestLoad_RegionNotNeededWithBothURLs(t *testing.T) {
	_, err := Load(Sources{Flags: map[string]string{"region": "sim", "api-url": "http://127.0.0.1:1", "auth-url": "http://127.0.0.1:1/Auth/connect/token"}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Minute, 90 * time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 15 * time.Second} {
		got, err := ParseDuration(FormatDuration(d))
		if err != nil || got != d {
			t.Errorf("%v → %q → %v, %v", d, FormatDuration(d), got, err)
		}
	}
}

func TestURLsInEffect(t *testing.T) {
	s := Defaults()
	s.DataDir = "/var/lib/vcc"
	if got := s.CatalogURL(); got != "sqlite:///var/lib/vcc/catalog.db" {
		t.Errorf("catalog = %q", got)
	}
	if got := s.BucketURL(); got != "file:///var/lib/vcc/blobs" {
		t.Errorf("bucket = %q", got)
	}
}

// TestREADMEConfigTable keeps the configuration table in README.md true: every
// setting's row, as generated from Fields, must be there word for word.
func TestREADMEConfigTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, f := range Fields() {
		d := "—"
		if f.Default() != "" {
			d = "`" + f.Default() + "`"
		}
		row := "| `" + f.Key + "` | `--" + f.Flag + "` | `" + f.Env + "` | " + d + " | " + f.Help + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md lacks (or has an outdated) configuration row:\n%s", row)
		}
	}
}

// A command's own default (demo's faster budget) gives way to a value any
// source sets, even one equal to the global default.
func TestLoad_CommandDefaults(t *testing.T) {
	fast := func(s *Settings) { s.RequestsPerMinute = 3000 }
	tests := []struct {
		name string
		src  Sources
		want float64
	}{
		{"none set: the command's default", Sources{Defaults: fast}, 3000},
		{"file sets the global default", Sources{Defaults: fast, File: writeFile(t, "requests_per_minute: 120\n")}, 120},
		{"env sets it", Sources{Defaults: fast, LookupEnv: envOf(map[string]string{"VCCINGEST_REQUESTS_PER_MINUTE": "120"})}, 120},
		{"flag sets it", Sources{Defaults: fast, Flags: map[string]string{"requests-per-minute": "90"}}, 90},
		{"no command default", Sources{}, DefaultRequestsPerMinute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if s.RequestsPerMinute != tt.want {
				t.Fatalf("requests_per_minute = %v, want %v", s.RequestsPerMinute, tt.want)
			}
		})
	}
}

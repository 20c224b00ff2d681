package config

import (
	"strings"
	"testing"
)

// rate_limit is gone wherever it is set, with an error that names what
// replaced it and how to convert.
func TestRateLimitIsReplacedByRequestsPerMinute(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  Sources
		want []string
	}{
		{"config file", Sources{File: writeFile(t, "region: nam\nrate_limit: 20\n")},
			[]string{"line 2: rate_limit (requests per second per API) was replaced by requests_per_minute", "one budget for the whole VCC account", "default 120"}},
		{"flag", Sources{Flags: map[string]string{"rate-limit": "20"}},
			[]string{"--rate-limit (requests per second per API) was replaced by --requests-per-minute, config requests_per_minute (one budget for the whole VCC account", "default 120"}},
		{"environment", Sources{LookupEnv: envOf(map[string]string{"VCCINGEST_RATE_LIMIT": "20"})},
			[]string{"VCCINGEST_RATE_LIMIT (requests per second per API) was replaced by VCCINGEST_REQUESTS_PER_MINUTE, config requests_per_minute (one budget"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.src)
			if err == nil {
				t.Fatal("rate_limit was accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRequestsPerMinute(t *testing.T) {
	s, err := Load(Sources{})
	if err != nil || s.RequestsPerMinute != 120 {
		t.Fatalf("default: %v, %v; want 120", s.RequestsPerMinute, err)
	}
	for _, tc := range []struct {
		src  Sources
		want float64
	}{
		{Sources{File: writeFile(t, "requests_per_minute: 90\n")}, 90},
		{Sources{LookupEnv: envOf(map[string]string{"VCCINGEST_REQUESTS_PER_MINUTE": "30.5"})}, 30.5},
		{Sources{File: writeFile(t, "requests_per_minute: 90\n"), Flags: map[string]string{"requests-per-minute": "1000000"}}, 1_000_000},
	} {
		s, err := Load(tc.src)
		if err != nil || s.RequestsPerMinute != tc.want {
			t.Errorf("%+v: %v, %v; want %v", tc.src, s.RequestsPerMinute, err, tc.want)
		}
	}
	for _, v := range []string{"0", "-5", "1000001", "NaN", "+Inf", "fast"} {
		_, err := Load(Sources{Flags: map[string]string{"requests-per-minute": v}})
		if err == nil || !strings.Contains(err.Error(), "flag --requests-per-minute") {
			t.Errorf("--requests-per-minute %s: %v, want an error naming the flag", v, err)
		}
	}
}

func TestServeRequestsPerMinute(t *testing.T) {
	tenant := "tenants:\n  - id: acme\n    client_id: abc\n    client_secret_ref: env:S\n"
	s, err := ParseServe([]byte(tenant))
	if err != nil || s.Tenants[0].RequestsPerMinute != 120 || s.Tenants[0].Settings(s).RequestsPerMinute != 120 {
		t.Fatalf("default: %+v, %v", s.Tenants, err)
	}
	s, err = ParseServe([]byte(tenant + "    requests_per_minute: 60\n"))
	if err != nil || s.Tenants[0].RequestsPerMinute != 60 {
		t.Fatalf("requests_per_minute 60: %+v, %v", s.Tenants, err)
	}
	for doc, want := range map[string]string{
		tenant + "    rate_limit: 20\n":           "line 5: rate_limit (requests per second per API) was replaced by requests_per_minute (one budget for the whole VCC account",
		tenant + "    requests_per_minute: 0\n":   "requests_per_minute: 0 is out of range",
		tenant + "    requests_per_minute: 2e6\n": "requests_per_minute: 2e+06 is out of range",
	} {
		if _, err := ParseServe([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
}

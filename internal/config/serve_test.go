package config

import (
	"strings"
	"testing"
	"time"
)

const goodServe = `
listen: 127.0.0.1:9090
data_dir: /var/lib/vccingest
tenants:
  - id: acme
    region: emea
    client_id: abc
    client_secret_ref: env:ACME_SECRET
    interval: 5m
    downloads: 4
  - id: globex
    client_id: def
    client_secret_ref: file:/run/secrets/globex
    bucket: s3://globex-recordings?region=eu-west-1
`

func TestParseServe(t *testing.T) {
	s, err := ParseServe([]byte(goodServe))
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != "127.0.0.1:9090" || len(s.Tenants) != 2 || s.Grace != 30*time.Second {
		t.Fatalf("parsed %+v", s)
	}
	acme, globex := s.Tenants[0], s.Tenants[1]
	if acme.Region != "emea" || acme.Interval != 5*time.Minute || acme.Downloads != 4 || acme.Lookback != 24*time.Hour || acme.Line != 5 {
		t.Errorf("acme = %+v", acme)
	}
	if globex.Region != "nam" || globex.Interval != 15*time.Minute || globex.Settings(s).BucketURL() != "s3://globex-recordings?region=eu-west-1" {
		t.Errorf("globex = %+v", globex)
	}
	if acme.Settings(s).BucketURL() != "file:///var/lib/vccingest/blobs" {
		t.Errorf("acme default bucket = %s", acme.Settings(s).BucketURL())
	}
	if acme.Fingerprint(s) == globex.Fingerprint(s) {
		t.Error("two tenants share a fingerprint")
	}
	changed := acme
	changed.Downloads = 5
	moved := acme
	moved.Line = 40
	if changed.Fingerprint(s) == acme.Fingerprint(s) || moved.Fingerprint(s) != acme.Fingerprint(s) {
		t.Error("the fingerprint must follow the settings and ignore the line")
	}
	// acme takes the service's default bucket: changing that default
	// changes acme's configuration, not globex's (it names its own).
	other := s
	other.Bucket = "file:///srv/other-blobs"
	if acme.Fingerprint(other) == acme.Fingerprint(s) || globex.Fingerprint(other) != globex.Fingerprint(s) {
		t.Error("the fingerprint must follow the service-level defaults a tenant takes")
	}
}

func TestParseServeErrorsNameTheTenantAndField(t *testing.T) {
	tenant := "tenants:\n  - id: acme\n    client_id: abc\n    client_secret_ref: env:S\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "empty"},
		{"no tenants", "listen: 127.0.0.1:8080\n", "tenants: none configured"},
		{"unknown key", tenant + "    intervall: 5m\n", `line 5: unknown key "intervall"`},
		{"bad duration", tenant + "    interval: soon\n", `tenant at line 2: line 5: interval: "soon" is not a duration`},
		{"bad downloads", tenant + "    downloads: 0\n", `tenant "acme" (tenants[0], line 2): downloads: 0 is out of range`},
		{"bad region", tenant + "    region: mars\n", `tenant "acme" (tenants[0], line 2): region: "mars" is not a VCC region`},
		{"secret inline", tenant + "    client_secret: hunter2\n", "a secret is never accepted"},
		{"secret not a ref", "tenants:\n  - id: acme\n    client_id: abc\n    client_secret_ref: hunter2\n", "client_secret_ref: must be a reference"},
		{"missing client id", "tenants:\n  - id: acme\n    client_secret_ref: env:S\n", `tenant "acme" (tenants[0], line 2): client_id: not set`},
		{"duplicate id", tenant + "  - id: acme\n    client_id: x\n    client_secret_ref: env:T\n", `tenant "acme" (tenants[1], line 5): id: already used by tenants[0]`},
		{"bad id", "tenants:\n  - id: Acme/1\n    client_id: abc\n    client_secret_ref: env:S\n", `tenant: "Acme/1": use lower-case letters`},
		{"short interval", tenant + "    interval: 10ms\n", "interval: 10ms is too short"},
		{"open listener without token", "listen: 0.0.0.0:8080\n" + tenant, "not a loopback address, so an access token is required"},
		{"token inline", "access_token: abc\n" + tenant, "a secret is never accepted"},
		{"yaml syntax", "tenants: [\n", "line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseServe([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(tc.doc, "hunter2") && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		})
	}
	if _, err := ParseServe([]byte("listen: 0.0.0.0:8080\naccess_token_ref: env:TOKEN\n" + tenant)); err != nil {
		t.Fatalf("an open listener with a token reference: %v", err)
	}
}

package config

import (
	"strings"
	"testing"
)

// Every command reads the serve file too: a tenant's settings come from its
// entry and the file's top level, then the environment and the flags.
func TestLoad_ServeFileGivesATenantsSettings(t *testing.T) {
	file := writeFile(t, goodServe)
	s, err := Load(Sources{File: file, Flags: map[string]string{"tenant": "globex", "downloads": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Tenant != "globex" || s.ClientID != "def" || s.BucketURL() != "s3://globex-recordings?region=eu-west-1" || s.DataDir != "/var/lib/vccingest" || s.Downloads != 2 || s.LogFormat != "auto" {
		t.Errorf("settings %+v", s)
	}
	s, err = Load(Sources{File: file, LookupEnv: envOf(map[string]string{"VCCINGEST_TENANT": "acme"})})
	if err != nil || s.Tenant != "acme" || s.Region != "emea" || s.Downloads != 4 {
		t.Errorf("tenant from the environment: %+v, %v", s, err)
	}
	for _, tc := range []struct {
		flags map[string]string
		want  string
	}{
		{nil, "is a serve file with tenants acme, globex: choose one with --tenant"},
		{map[string]string{"tenant": "initech"}, `has no tenant "initech"; its tenants are acme, globex`},
	} {
		if _, err := Load(Sources{File: file, Flags: tc.flags}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("flags %v: error %v, want %q", tc.flags, err, tc.want)
		}
	}
	// A command over every tenant (tenants, coverage --all-tenants) needs
	// none named: the service's data dir and catalog are what it reads.
	if s, err := Load(Sources{File: file, AnyTenant: true}); err != nil || s.DataDir != "/var/lib/vccingest" || s.Tenant != "acme" {
		t.Errorf("any tenant: %+v, %v", s, err)
	}
	one := writeFile(t, "tenants:\n  - id: solo\n    client_id: x\n    client_secret_ref: env:X\n")
	if s, err := Load(Sources{File: one}); err != nil || s.Tenant != "solo" {
		t.Errorf("the only tenant of a serve file: %+v, %v", s, err)
	}
}

// An empty environment variable is unset: VCCINGEST_CATALOG= must not
// replace the file's catalog with the embedded one.
func TestLoad_EmptyEnvironmentVariableIsUnset(t *testing.T) {
	file := writeFile(t, "catalog: postgres://db/vccingest\ndownloads: 4\n")
	s, err := Load(Sources{File: file, LookupEnv: envOf(map[string]string{"VCCINGEST_CATALOG": "", "VCCINGEST_DOWNLOADS": ""})})
	if err != nil {
		t.Fatal(err)
	}
	if s.Catalog != "postgres://db/vccingest" || s.Downloads != 4 {
		t.Errorf("catalog %q, downloads %d: an empty variable overrode the file", s.Catalog, s.Downloads)
	}
}

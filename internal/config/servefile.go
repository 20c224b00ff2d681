package config

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// isServeFile reports whether the config file is a serve file (it has a
// top-level tenants: list) rather than a one-tenant settings file.
func isServeFile(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return false, nil // loadFile says what is wrong with it
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return false, nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tenants" {
			return true, nil
		}
	}
	return false, nil
}

// serveTenantSettings are the settings of one tenant of a serve file: the
// one --tenant (or VCCINGEST_TENANT) names, or the only one.
func serveTenantSettings(src Sources) (Settings, error) {
	serve, err := LoadServe(src.File)
	if err != nil {
		return Settings{}, err
	}
	want := src.Flags["tenant"]
	if want == "" && src.LookupEnv != nil {
		want, _ = src.LookupEnv(envName("tenant"))
	}
	ids := make([]string, 0, len(serve.Tenants))
	for _, t := range serve.Tenants {
		ids = append(ids, t.ID)
		if t.ID == want || (want == "" && (len(serve.Tenants) == 1 || src.AnyTenant)) {
			s := t.Settings(serve)
			s.LogFormat = Defaults().LogFormat // a command's own, not the service's
			return s, nil
		}
	}
	if want == "" {
		return Settings{}, fmt.Errorf("config file %s is a serve file with tenants %s: choose one with --tenant", src.File, strings.Join(ids, ", "))
	}
	return Settings{}, fmt.Errorf("config file %s has no tenant %q; its tenants are %s", src.File, want, strings.Join(ids, ", "))
}

package secret

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const canary = "s3cr3t-canary-value"

func TestValue_NeverPrintsItself(t *testing.T) {
	v := New(canary)
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "secret", v, "group", slog.Group("g", "s", v))
	j, err := json.Marshal(struct{ S Value }{v})
	if err != nil {
		t.Fatal(err)
	}
	txt, _ := v.MarshalText()
	outputs := map[string]string{
		"%v":     fmt.Sprintf("%v", v),
		"%+v":    fmt.Sprintf("%+v", v),
		"%#v":    fmt.Sprintf("%#v", v),
		"%s":     fmt.Sprintf("%s", v),
		"%q":     fmt.Sprintf("%q", v),
		"%x":     fmt.Sprintf("%x", v),
		"%d":     fmt.Sprintf("%d", v),
		"struct": fmt.Sprintf("%+v", struct{ S Value }{v}),
		"ptr":    fmt.Sprintf("%v", &v),
		"err":    fmt.Errorf("wrapped: %v", v).Error(),
		"json":   string(j),
		"text":   string(txt),
		"slog":   logBuf.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, canary) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s shows neither secret nor redaction: %q", name, out)
		}
	}
	if v.Reveal() != canary {
		t.Fatalf("Reveal = %q", v.Reveal())
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VCC_SECRET": canary, "EMPTY": ""}
	r := Resolver{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}

	tests := []struct {
		ref, want, errHas string
	}{
		{ref: "env:VCC_SECRET", want: canary},
		{ref: "env:MISSING", errHas: "MISSING is not set"},
		// A secret pasted in place of the variable's name is not echoed.
		{ref: "env:" + canary, errHas: "is the secret itself pasted after env:?"},
		{ref: "env:EMPTY", errHas: "EMPTY is empty"},
		{ref: "file:" + good, want: canary},
		{ref: "file:" + open, errHas: "chmod 600"},
		{ref: "file:" + empty, errHas: "empty"},
		{ref: "file:" + filepath.Join(dir, "nope"), errHas: "no such file"},
		{ref: canary, errHas: "env:NAME, file:PATH or azkv://vault/secret"},
		{ref: "vault:" + canary, errHas: "unknown scheme"},
		{ref: "", errHas: "env:NAME, file:PATH or azkv://vault/secret"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			v, err := r.Resolve(context.Background(), tt.ref)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error = %v, want one containing %q", err, tt.errHas)
				}
				if strings.Contains(err.Error(), canary) && tt.ref != "env:VCC_SECRET" {
					t.Fatalf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Reveal() != tt.want {
				t.Fatalf("got %q want %q", v.Reveal(), tt.want)
			}
		})
	}
	if _, err := r.Resolve(context.Background(), canary); !errors.Is(err, ErrBadReference) {
		t.Fatalf("a pasted secret should be ErrBadReference, got %v", err)
	}
}

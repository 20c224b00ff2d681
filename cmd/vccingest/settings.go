package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vccingest/vccingest/internal/config"
	"github.com/vccingest/vccingest/internal/secret"
)

// Groups of settings, so that each command takes the flags it uses (a
// config file or VCCINGEST_* may still set any).
var (
	credentialSettings = []string{"tenant", "region", "client_id", "client_secret_ref", "api_url", "auth_url"}
	storageSettings    = []string{"data_dir", "catalog", "bucket"}
	catalogSettings    = []string{"tenant", "data_dir", "catalog"}
	rangeSettings      = []string{"from", "to"}
	pacingSettings     = []string{"downloads", "attempts", "window", "lookback", "settle", "rescan", "rescue_after", "requests_per_minute", "grace", "stall_timeout", "min_rate", "agent_refresh_timeout"}
	logSettings        = []string{"log_format", "log_level"}
	eventSettings      = []string{"events", "events_secret_ref"}
)

// addSettingsFlags registers --config and one flag per setting
// (config.Fields) of the given groups, all of them if none is given.
func addSettingsFlags(cmd *cobra.Command, groups ...[]string) {
	fs := cmd.Flags()
	fs.String("config", "", "YAML `file` (keys as in the configuration table of README.md; env VCCINGEST_CONFIG)")
	want := map[string]bool{}
	for _, g := range groups {
		for _, k := range g {
			want[k] = true
		}
	}
	for _, f := range config.Fields() {
		if len(groups) == 0 || want[f.Key] {
			v := &settingValue{v: f.Default(), kind: f.Type}
			fs.Var(v, f.Flag, f.Help+" (env "+f.Env+")")
			fs.Lookup(f.Flag).DefValue = f.Default()
		}
	}
	// Removed settings stay known, hidden, so that using one says what
	// replaced it (config.Load) instead of "unknown flag".
	for _, name := range config.RemovedFlags() {
		fs.String(name, "", "removed")
		_ = fs.MarkHidden(name)
	}
}

// settingValue is a setting's flag: config.Load parses the text, and help
// names the kind of value (--downloads number, --window duration).
type settingValue struct{ v, kind string }

func (s *settingValue) String() string     { return s.v }
func (s *settingValue) Set(v string) error { s.v = v; return nil }
func (s *settingValue) Type() string       { return s.kind }

// loadSettings merges defaults, the config file, VCCINGEST_* and the flags
// the user set. Errors are configuration errors: exit code 2.
func loadSettings(cmd *cobra.Command) (config.Settings, error) {
	return load(cmd, config.Sources{})
}

// loadSettingsAnyTenant is loadSettings for a command that reads every
// tenant's catalog rows: a serve file needs no --tenant.
func loadSettingsAnyTenant(cmd *cobra.Command) (config.Settings, error) {
	return load(cmd, config.Sources{AnyTenant: true})
}

// load is loadSettings with src's AnyTenant and Defaults; it fills in the
// file, the environment and the flags.
func load(cmd *cobra.Command, src config.Sources) (config.Settings, error) {
	flags := map[string]string{}
	file := os.Getenv("VCCINGEST_CONFIG")
	settings := map[string]bool{}
	for _, f := range config.Fields() {
		settings[f.Flag] = true
	}
	for _, name := range config.RemovedFlags() {
		settings[name] = true
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch {
		case f.Name == "config":
			file = f.Value.String()
		case settings[f.Name]:
			flags[f.Name] = f.Value.String()
		}
	})
	src.File, src.LookupEnv, src.Flags = file, os.LookupEnv, flags
	s, err := config.Load(src)
	if err != nil {
		return config.Settings{}, &exitError{code: 2, err: fmt.Errorf("configuration: %w", err)}
	}
	return s, nil
}

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// newLogger builds the process logger. In "auto" format on a terminal the
// progress bar owns the screen, so only warnings and errors are logged there.
func newLogger(ctx context.Context, w io.Writer, s config.Settings) (logger *slog.Logger, progress bool) {
	h, progress := newLogHandler(w, s)
	// Every line passes the process's redactor (secret.NewHandler): the
	// client secret, the tokens issued and URL passwords never show.
	return slog.New(secret.NewHandler(h, secret.RedactorFrom(ctx))), progress
}

func newLogHandler(w io.Writer, s config.Settings) (slog.Handler, bool) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	switch s.LogFormat {
	case "json":
		return slog.NewJSONHandler(w, opts), false
	case "text":
		return slog.NewTextHandler(w, opts), false
	default:
		if isTerminal(w) {
			if level < slog.LevelWarn {
				opts.Level = slog.LevelWarn
			}
			return slog.NewTextHandler(w, opts), true
		}
		return slog.NewTextHandler(w, opts), false
	}
}

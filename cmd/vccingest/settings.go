package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vccingest/vccingest/internal/config"
)

// addSettingsFlags registers one flag per setting (config.Fields) plus
// --config on cmd.
func addSettingsFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.String("config", "", "YAML config file (keys as in the configuration table of README.md; env VCCINGEST_CONFIG)")
	for _, f := range config.Fields() {
		fs.String(f.Flag, f.Default(), f.Help+" (env "+f.Env+")")
	}
	// Removed settings stay known, hidden, so that using one says what
	// replaced it (config.Load) instead of "unknown flag".
	for _, name := range config.RemovedFlags() {
		fs.String(name, "", "removed")
		_ = fs.MarkHidden(name)
	}
}

// loadSettings merges defaults, the config file, VCCINGEST_* and the flags
// the user set. Errors are configuration errors: exit code 2.
func loadSettings(cmd *cobra.Command) (config.Settings, error) {
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
	s, err := config.Load(config.Sources{File: file, LookupEnv: os.LookupEnv, Flags: flags})
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
func newLogger(w io.Writer, s config.Settings) (logger *slog.Logger, progress bool) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	switch s.LogFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), false
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), false
	default:
		if isTerminal(w) {
			if level < slog.LevelWarn {
				opts.Level = slog.LevelWarn
			}
			return slog.New(slog.NewTextHandler(w, opts)), true
		}
		return slog.New(slog.NewTextHandler(w, opts)), false
	}
}

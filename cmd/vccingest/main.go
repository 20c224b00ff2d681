// Command vccingest ingests call recordings from Vonage Contact Center (VCC)
// into a blob bucket and a metadata catalog. This package only wires the
// internal packages to a command line; it holds no logic of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/secret"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries a process exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "vccingest",
		Short: "Ingest call recordings from Vonage Contact Center",
		Long: `vccingest ingests call recordings from Vonage Contact Center (VCC), with
agent and direction metadata, into a blob bucket plus a catalog, exactly once,
and explains which recordings VCC withholds and why.

Start with "vccingest demo": it runs against an embedded VCC simulator and needs
no setup.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("vccingest {{.Version}}\n")
	// Usage is silenced for errors of a run (a summary says what failed);
	// a wrong flag or argument gets the usage line and where help is.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(cmd, err.Error())
	})
	root.AddCommand(newDemoCmd(), newSyncCmd(), newCoverageCmd(), newDoctorCmd(), newLsCmd(), newShowCmd(), newTenantsCmd(), newMigrateCmd(), newWorkerCmd(), newServeCmd(), newSimCmd(), newEventsCmd(), newVersionCmd())
	return root
}

// usageError is a wrong command line: exit 2, with the usage line.
func usageError(cmd *cobra.Command, msg string) error {
	return &exitError{code: 2, err: fmt.Errorf("%s\nusage: %s\n(see %s --help)", msg, cmd.UseLine(), cmd.CommandPath())}
}

// noArgs is cobra.NoArgs with the usage line.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(cmd, fmt.Sprintf("%s takes no arguments, got %q", cmd.CommandPath(), args))
	}
	return nil
}

// oneArg is cobra.ExactArgs(1) for a command that takes one what.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError(cmd, fmt.Sprintf("%s takes one %s, got %d arguments", cmd.CommandPath(), what, len(args)))
		}
		return nil
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the vccingest version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "vccingest %s\n", version)
			return err
		},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C or SIGTERM stops gracefully (running downloads
		// get their grace period); a second one does not wait for that.
		<-ctx.Done()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		<-again
		fmt.Fprintln(os.Stderr, "vccingest: interrupted again: stopping now; running work resumes at the next start")
		os.Exit(130)
	}()
	// One redactor for the process: told the client secret when it is read
	// and every token VCC issues, it hides them in every log line and in
	// the last error.
	red := &secret.Redactor{}
	err := newRootCmd().ExecuteContext(secret.WithRedactor(ctx, red))
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "vccingest:", red.Redact(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(2)
}

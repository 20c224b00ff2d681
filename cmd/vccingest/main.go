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
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDemoCmd(), newSyncCmd(), newCoverageCmd(), newDoctorCmd(), newLsCmd(), newShowCmd(), newMigrateCmd(), newWorkerCmd(), newServeCmd(), newSimCmd(), newVersionCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the vccingest version",
		Args:  cobra.NoArgs,
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
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "vccingest:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(2)
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/jobqueue"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the catalog (and its job queue tables) to this version's schema",
		Long: `Migrate applies the catalog's pending schema migrations, each in its own
transaction, and River's job-queue migrations. Every other command refuses to
run on a catalog with pending migrations and says to run this one; a new,
empty catalog needs no migrate.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cat, closeCat, err := openCatalogExclusive(ctx, s)
			if err != nil {
				return err
			}
			defer closeCat()
			applied, err := cat.Migrate(ctx)
			if err != nil {
				return err
			}
			if err := jobqueue.Migrate(ctx, cat); err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "catalog %s is up to date\n", redactURL(s.CatalogURL()))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "catalog %s: applied migrations %v\n", redactURL(s.CatalogURL()), applied)
			return nil
		},
	}
	addSettingsFlags(cmd, []string{"data_dir", "catalog"}, logSettings)
	return cmd
}

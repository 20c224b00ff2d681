package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/config"
)

// tenantItem is one tenant of the catalog, with its counts.
type tenantItem struct {
	ID           string     `json:"id"`
	Region       string     `json:"region"`
	Watermark    *time.Time `json:"watermark"` // null before anything is synced
	Interactions int64      `json:"interactions"`
	Stored       int64      `json:"stored"`
	Failed       int64      `json:"failed"`
	Pending      int64      `json:"pending"`
	Bytes        int64      `json:"bytes"`
}

func newTenantsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "List the catalog's tenants with their counts",
		Long: `Tenants lists every tenant the catalog holds (a serve data dir or a shared
PostgreSQL catalog may hold many): its region, watermark and counts. The other
commands take one with --tenant.`,
		Example: `  vccingest tenants --data-dir ./vccingest-data
  vccingest tenants --catalog postgres://vccingest@db/vccingest --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return readCatalog(cmd, false, func(ctx context.Context, s config.Settings, cat *catalog.Catalog) error {
				ts, err := cat.Tenants(ctx)
				if err != nil {
					return err
				}
				items := make([]tenantItem, 0, len(ts))
				for _, t := range ts {
					tot, err := cat.Totals(ctx, t.ID)
					if err != nil {
						return err
					}
					it := tenantItem{ID: t.ID, Region: t.Region, Interactions: tot.Interactions, Stored: tot.Stored, Failed: tot.Failed, Pending: tot.Pending, Bytes: tot.Bytes}
					if !t.Watermark.IsZero() {
						wm := t.Watermark.UTC()
						it.Watermark = &wm
					}
					items = append(items, it)
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), items)
				}
				return writeTenants(cmd.OutOrStdout(), items)
			})
		},
	}
	addSettingsFlags(cmd, []string{"data_dir", "catalog"})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeTenants(w io.Writer, items []tenantItem) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, "the catalog holds no tenant yet: run vccingest sync, serve or demo first")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tREGION\tINTERACTIONS\tSTORED\tFAILED\tPENDING\tBYTES\tSYNCED UP TO")
	for _, it := range items {
		wm := "nothing yet"
		if it.Watermark != nil {
			wm = it.Watermark.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", printable(it.ID), printable(it.Region), it.Interactions, it.Stored, it.Failed, it.Pending, humanBytes(it.Bytes), wm)
	}
	return tw.Flush()
}

// requireTenant fails, naming the tenants the catalog holds, when tenant
// is not one of them: a command on the wrong tenant would otherwise print
// an empty answer that looks like a true one.
func requireTenant(ctx context.Context, cat *catalog.Catalog, tenant string) error {
	ts, err := cat.Tenants(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(ts))
	for _, t := range ts {
		if t.ID == tenant {
			return nil
		}
		ids = append(ids, printable(t.ID))
	}
	if len(ids) == 0 {
		return &exitError{code: 2, err: fmt.Errorf("the catalog holds no tenant yet (asked for %q): run vccingest sync, serve or demo first, or point --data-dir/--catalog at the right one", tenant)}
	}
	return &exitError{code: 2, err: fmt.Errorf("tenant %q is not in the catalog; it holds %s: use --tenant %s", printable(tenant), strings.Join(ids, ", "), ids[0])}
}

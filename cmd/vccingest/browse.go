package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/config"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/plural"
)

// openCatalogForReading opens an existing catalog; it never creates one.
func openCatalogForReading(ctx context.Context, s config.Settings) (*catalog.Catalog, error) {
	if path, err := catalog.SQLitePath(s.CatalogURL()); err == nil {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, &exitError{code: 2, err: fmt.Errorf("no catalog at %s: run vccingest sync (or vccingest demo) first, or set --data-dir/--catalog", path)}
		}
	}
	cat, err := catalog.OpenReadOnly(ctx, s.CatalogURL())
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return cat, nil
}

// readCatalog runs fn on the catalog of cmd's settings, opened for
// reading; with tenant, the catalog must hold the --tenant asked for,
// without, a serve file's tenants share the catalog and none need be named.
func readCatalog(cmd *cobra.Command, tenant bool, fn func(ctx context.Context, s config.Settings, cat *catalog.Catalog) error) error {
	load := loadSettingsAnyTenant
	if tenant {
		load = loadSettings
	}
	s, err := load(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	cat, err := openCatalogForReading(ctx, s)
	if err != nil {
		return err
	}
	defer cat.Close()
	if tenant {
		if err := requireTenant(ctx, cat, s.Tenant); err != nil {
			return err
		}
	}
	return fn(ctx, s, cat)
}

type lsItem struct {
	InteractionID   string    `json:"interaction_id"`
	Start           time.Time `json:"start"`
	DurationSeconds float64   `json:"duration_seconds"`
	Direction       string    `json:"direction"`
	AgentID         string    `json:"agent_id,omitempty"`
	AgentName       string    `json:"agent_name,omitempty"`
	Recordings      int       `json:"recordings"`
	Stored          int       `json:"stored"`
	Failed          int       `json:"failed"`
	Bytes           int64     `json:"bytes"`
}

func newLsCmd() *cobra.Command {
	var (
		asJSON bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List synced interactions and their recordings",
		Example: `  vccingest ls --data-dir ./vccingest-data
  vccingest ls --from 2024-03-04 --to 2024-03-05 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return readCatalog(cmd, true, func(ctx context.Context, s config.Settings, cat *catalog.Catalog) error {
				rows, err := cat.ListInteractions(ctx, catalog.Filter{Tenant: s.Tenant, From: s.From, To: s.To, Limit: limit})
				if err != nil {
					return err
				}
				items := make([]lsItem, 0, len(rows))
				for _, r := range rows {
					items = append(items, lsItem{
						InteractionID: r.GUID, Start: r.Start, DurationSeconds: r.Duration.Seconds(), Direction: r.Direction,
						AgentID: r.AgentID, AgentName: r.AgentName, Recordings: r.Recordings, Stored: r.Stored, Failed: r.Failed, Bytes: r.Bytes,
					})
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), items)
				}
				return writeLsTable(cmd.OutOrStdout(), items)
			})
		},
	}
	addSettingsFlags(cmd, catalogSettings, rangeSettings)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many interactions (0: all)")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeLsTable(w io.Writer, items []lsItem) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "START (UTC)\tINTERACTION\tDIRECTION\tAGENT\tDURATION\tRECORDINGS\tBYTES")
	var stored, total int
	var bytes int64
	for _, it := range items {
		recs := fmt.Sprintf("%d/%d stored", it.Stored, it.Recordings)
		if it.Failed > 0 {
			recs += fmt.Sprintf(", %d failed", it.Failed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Start.UTC().Format("2006-01-02 15:04:05"), printable(it.InteractionID),
			printable(it.Direction), printable(orDefault(it.AgentName, it.AgentID)), (time.Duration(it.DurationSeconds * float64(time.Second))).Round(time.Second), recs, humanBytes(it.Bytes))
		stored += it.Stored
		total += it.Recordings
		bytes += it.Bytes
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s, %d of %s stored, %s\n", plural.Count(len(items), "interaction", "interactions"), stored, plural.Count(total, "recording", "recordings"), humanBytes(bytes))
	return err
}

// printable quotes text from VCC or the catalog that holds anything a
// terminal would interpret or hide: C0 and C1 controls (ESC, OSC, CSI),
// DEL, invisible formatting (bidi overrides, zero-width characters) and
// invalid UTF-8. Quoted, they show as escapes.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == utf8.RuneError || unicode.Is(unicode.Cf, r) {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}

// showRecording is a recording as the sidecar lists it (blobstore's
// SidecarRecording), with how far it got: show lists pending and failed
// recordings too, which the sidecar leaves out.
type showRecording struct {
	blobstore.SidecarRecording
	Status    string     `json:"status"`
	StoredAt  *time.Time `json:"stored_at,omitempty"`
	Attempts  int        `json:"failed_attempts,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

// showItem is an interaction in the shape of its sidecar
// (interaction.json), so that a consumer reads both alike.
type showItem struct {
	Tenant          string           `json:"tenant"`
	InteractionID   string           `json:"interaction_id"`
	Start           time.Time        `json:"start"`
	End             *time.Time       `json:"end,omitempty"`
	DurationSeconds float64          `json:"duration_seconds"`
	Direction       string           `json:"direction"`
	DirectionSource string           `json:"direction_source"`
	ConnectFrom     string           `json:"connect_from,omitempty"`
	ConnectTo       string           `json:"connect_to,omitempty"`
	Agent           *blobstore.Agent `json:"agent,omitempty"`
	Groups          []string         `json:"groups"`
	Recordings      []showRecording  `json:"recordings"`
}

func newShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "show <interaction-id>",
		Short:   "Show one synced interaction: agent, direction, recordings and where they are stored",
		Example: `  vccingest show 2480fc2c-bbd7-427c-9439-02f76583aef5 --json`,
		Args:    oneArg("interaction id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return readCatalog(cmd, true, func(ctx context.Context, s config.Settings, cat *catalog.Catalog) error {
				it, err := cat.Detail(ctx, s.Tenant, args[0])
				if errors.Is(err, catalog.ErrNotFound) {
					return &exitError{code: 1, err: fmt.Errorf("interaction %s is not in the catalog (tenant %s): check the id, or sync the window it is in", printable(args[0]), s.Tenant)}
				}
				if err != nil {
					return err
				}
				out := showItem{InteractionID: it.GUID, Tenant: it.Tenant, Start: it.Start.UTC(), DurationSeconds: it.Duration.Seconds(),
					Direction: it.Direction, DirectionSource: it.DirectionSource, ConnectFrom: it.ConnectFrom, ConnectTo: it.ConnectTo,
					Groups: []string{}, Recordings: []showRecording{}}
				if it.Duration > 0 {
					end := it.Start.Add(it.Duration).UTC()
					out.End = &end
				}
				if it.AgentID != "" {
					out.Agent = &blobstore.Agent{ID: it.AgentID}
					if a := it.Agent; a != nil {
						out.Agent.Name, out.Agent.Email, out.Agent.AgentCode = a.Name, a.Email, a.AgentCode
						out.Groups = append(out.Groups, a.Groups...)
					}
				}
				for _, r := range it.Recordings {
					sr := showRecording{SidecarRecording: blobstore.SidecarRecording{ContentKey: r.ContentKey, Type: r.Type, MediaType: r.MediaType, Bytes: r.Bytes,
						SHA256: r.SHA256, BlobKey: r.BlobKey, DurationSeconds: r.Duration.Seconds()}, Status: r.Status, Attempts: r.Attempts, LastError: r.LastError}
					if !r.StoredAt.IsZero() {
						at := r.StoredAt
						sr.StoredAt = &at
					}
					out.Recordings = append(out.Recordings, sr)
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				return writeShow(cmd.OutOrStdout(), out, s.BucketURL())
			})
		},
	}
	addSettingsFlags(cmd, catalogSettings, []string{"bucket"})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeShow(w io.Writer, it showItem, bucket string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "interaction\t%s\n", printable(it.InteractionID))
	length, what := it.DurationSeconds, ""
	if length == 0 {
		// Without Stats the call's length is unknown; the audio's is not.
		for _, r := range it.Recordings {
			length = max(length, r.DurationSeconds)
		}
		what = ", the recording's play time"
	}
	fmt.Fprintf(tw, "start\t%s (%s%s)\n", it.Start.UTC().Format(time.RFC3339), (time.Duration(length * float64(time.Second))).Round(time.Second), what)
	fmt.Fprintf(tw, "direction\t%s (source: %s)\n", it.Direction, it.DirectionSource)
	fmt.Fprintf(tw, "from → to\t%s → %s\n", it.ConnectFrom, it.ConnectTo)
	if a := it.Agent; a != nil {
		fmt.Fprintf(tw, "agent\t%s <%s>, agent code %s, id %s\n", printable(orDefault(a.Name, "(unknown)")), printable(a.Email), printable(a.AgentCode), printable(a.ID))
	}
	if len(it.Groups) > 0 {
		fmt.Fprintf(tw, "groups\t%s\n", printable(strings.Join(it.Groups, ", ")))
	}
	fmt.Fprintf(tw, "bucket\t%s\n", bucket)
	for _, r := range it.Recordings {
		fmt.Fprintf(tw, "recording\t%s (%s, %s): %s", r.ContentKey, r.Type, r.MediaType, r.Status)
		switch r.Status {
		case catalog.StatusStored:
			fmt.Fprintf(tw, ", %s, sha256 %s\n\t  %s\n", humanBytes(r.Bytes), r.SHA256, r.BlobKey)
		case catalog.StatusFailed:
			fmt.Fprintf(tw, " after %d attempts: %s\n", r.Attempts, r.LastError)
		default:
			fmt.Fprintln(tw)
		}
	}
	return tw.Flush()
}

func writeCoverage(w io.Writer, r coverage.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tstats\tshown\tstored\thidden\tnot recorded\tpending\tfailed\t\n", strings.ToUpper(r.By))
	for _, b := range append(r.Buckets, r.Total) {
		// Without Stats data its columns are unknown, not 0.
		inStats, hidden := strconv.Itoa(b.Calls), strconv.Itoa(b.Hidden)
		if r.Basis == coverage.BasisContent {
			inStats, hidden = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t\n", b.Key, inStats, b.InContent, b.Stored, hidden, b.NotRecorded, b.Pending, b.Failed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "failed: %s: %s\n", printable(f.GUID), f.Error)
	}
	printBadRecords(w, r.BadRecords)
	printGaps(w, r.Diagnosis)
	return nil
}

// printBadRecords names the records VCC listed that could not be (fully)
// used, a few of them in full.
func printBadRecords(w io.Writer, bad []coverage.BadRecord) {
	if len(bad) == 0 {
		return
	}
	fmt.Fprintf(w, "records VCC listed that vccingest could not fully use: %d\n", len(bad))
	for i, b := range bad {
		if i == 10 {
			fmt.Fprintf(w, "  … and %d more (vccingest coverage --json lists all)\n", len(bad)-i)
			break
		}
		where := "window " + b.Window.Format(time.RFC3339)
		if b.Window.IsZero() {
			where = "user list"
		}
		fmt.Fprintf(w, "  %s API, %s: %s: %s\n", b.API, where, printable(orDefault(b.RecordID, "(no id)")), printable(b.Problem))
	}
}

package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
)

// writeSidecar writes interaction.json from the catalog's current state.
//
// Several recordings of one interaction may finish at once, each writing the
// sidecar; a writer that read the catalog before another recording was marked
// could finish last and leave a stale file. So each writer, after its write,
// records the interaction's rev it wrote only if that rev (which the catalog
// bumps on every change the sidecar shows) is still current, and writes
// again until it is: the last write to land is always checked by its writer.
func (p *pipeline) writeSidecar(ctx context.Context, t *Tenant, guid string) error {
	return p.writeSidecarFrom(ctx, t, guid, nil)
}

// writeSidecarFrom is writeSidecar with its first write from d, the
// interaction as the catalog had it just now (nil: read it).
func (p *pipeline) writeSidecarFrom(ctx context.Context, t *Tenant, guid string, d *catalog.Detail) error {
	for range 5 {
		if d == nil {
			it, err := p.cat.Detail(ctx, t.ID, guid)
			if err != nil {
				return err
			}
			d = &it
		}
		sc, key, rev, err := p.buildSidecar(t, *d)
		d = nil
		if err != nil {
			return err
		}
		if err := t.Bucket.WriteSidecar(ctx, key, sc); err != nil {
			return fmt.Errorf("write sidecar of %s: %w", guid, err)
		}
		current, err := p.cat.MarkSidecarWritten(ctx, t.ID, guid, rev)
		if err != nil || current {
			return err
		}
	}
	return fmt.Errorf("sidecar of %s kept changing while being written; it will be rewritten by the next run", guid)
}

// ensureSidecar writes the sidecar if the catalog says it is missing or
// stale: a process killed between storing a recording and writing its
// sidecar, or direction that arrived after the recording was stored.
func (p *pipeline) ensureSidecar(ctx context.Context, t *Tenant, guid string) error {
	stale, err := p.cat.SidecarStale(ctx, t.ID, guid)
	if err != nil || !stale {
		return err
	}
	return p.writeSidecar(ctx, t, guid)
}

// buildSidecar builds the sidecar of the interaction it (as the catalog
// has it) and returns its key and the interaction's rev it shows.
func (p *pipeline) buildSidecar(t *Tenant, it catalog.Detail) (blobstore.Sidecar, string, int64, error) {
	guid := it.GUID
	key, err := blobstore.SidecarKey(t.ID, it.Start, guid)
	if err != nil {
		return blobstore.Sidecar{}, "", 0, err
	}
	sc := blobstore.Sidecar{
		SchemaVersion: blobstore.SidecarSchemaVersion,
		Tenant:        t.ID,
		InteractionID: guid,
		Call:          callOf(it),
		Provenance: blobstore.Provenance{
			Region:    t.Region,
			APIBase:   t.APIBase,
			FetchedAt: p.now().UTC().Truncate(time.Second),
			Version:   p.version,
		},
	}
	for _, r := range it.Recordings {
		if r.Status != catalog.StatusStored {
			continue
		}
		sc.Recordings = append(sc.Recordings, recordingOf(r))
	}
	return sc, key, it.Rev, nil
}

// callOf is what the sidecar and every event of a recording say of its
// call: one builder, so that the two never differ.
func callOf(d catalog.Detail) blobstore.Call {
	c := blobstore.Call{
		Start: d.Start.UTC(), Direction: d.Direction, DirectionSource: d.DirectionSource,
		ConnectFrom: d.ConnectFrom, ConnectTo: d.ConnectTo,
	}
	if d.Duration > 0 {
		end := d.Start.Add(d.Duration).UTC()
		c.End, c.DurationSeconds = &end, d.Duration.Seconds()
	}
	if d.AgentID != "" {
		c.Agent = &blobstore.Agent{ID: d.AgentID}
		if ag := d.Agent; ag != nil {
			c.Agent.Name, c.Agent.Email, c.Agent.AgentCode = ag.Name, ag.Email, ag.AgentCode
			c.Groups = ag.Groups
		}
	}
	return c
}

// recordingOf is what the sidecar and a recording.stored event say of one
// stored recording.
func recordingOf(r catalog.Recording) blobstore.SidecarRecording {
	return blobstore.SidecarRecording{
		ContentKey: r.ContentKey, Type: r.Type, MediaType: r.MediaType, Bytes: r.Bytes,
		SHA256: r.SHA256, BlobKey: r.BlobKey, DurationSeconds: r.Duration.Seconds(),
	}
}

package ingest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
	"github.com/vccingest/vccingest/internal/vccsim/hostile"
)

// A User Admin API that takes the request and never answers cannot hold a
// run: the agent refresh gives up at its bound, saying what took too long,
// and the agents cached before are kept.
func TestRefreshAgents_AServerThatNeverAnswersIsBounded(t *testing.T) {
	ctx := context.Background()
	sim, err := vccsim.New(vccsim.Config{Seed: 37, Start: time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC), Days: 1, CallsPerDay: 4})
	if err != nil {
		t.Fatal(err)
	}
	srv := hostile.Start(sim)
	t.Cleanup(srv.Close)
	cred := sim.Credential("admin")
	client, err := vcc.New(vcc.Config{AuthURL: srv.AuthURL(), APIURL: srv.URL, ClientID: cred.ClientID, ClientSecret: secret.New(cred.ClientSecret), MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cat := catalogtest.SQLite(t)
	tenant := &Tenant{ID: "acme", VCC: client, AgentRefreshTimeout: 500 * time.Millisecond}
	if err := cat.UpsertTenant(ctx, catalog.Tenant{ID: tenant.ID}); err != nil {
		t.Fatal(err)
	}
	p := &pipeline{cat: cat, log: slog.New(slog.DiscardHandler), progress: &Progress{}, now: time.Now, jobTimeout: time.Minute,
		tenants: map[string]*Tenant{tenant.ID: tenant}}
	if err := p.refreshAgents(ctx, tenant); err != nil {
		t.Fatalf("the refresh against an answering server: %v", err)
	}
	cached, err := cat.Agents(ctx, tenant.ID)
	if err != nil || len(cached) == 0 {
		t.Fatalf("%d agents cached (%v); want some", len(cached), err)
	}

	srv.Set(hostile.UsersNeverAnswer)
	began := time.Now()
	err = p.refreshAgents(ctx, tenant)
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), "reading the users and their groups (User Admin API) took more than 500ms") {
		t.Errorf("the refresh against a server that never answers ended with %v; want it to say it took more than 500ms", err)
	}
	if took > 5*time.Second {
		t.Errorf("the refresh took %s; its bound is 500ms", took)
	}
	if after, err := cat.Agents(ctx, tenant.ID); err != nil || len(after) != len(cached) {
		t.Errorf("%d agents cached after the timeout (%v); want the %d from before", len(after), err, len(cached))
	}
	srv.Set(hostile.None)
}

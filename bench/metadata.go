package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
)

// discoveryRates lists every interaction of the account through the client
// and by plain paging, and returns both rates.
func discoveryRates(ctx context.Context, a *account) (client, raw float64, listed int, err error) {
	c, err := vcc.New(vcc.Config{AuthURL: a.sim.AuthURL(), APIURL: a.sim.APIURL(), ClientID: a.cred.ClientID, ClientSecret: secret.New(a.cred.ClientSecret), RateLimit: 0})
	if err != nil {
		return 0, 0, 0, err
	}
	if err := c.CheckScope(ctx, vcc.ScopeContent); err != nil {
		return 0, 0, 0, err
	}
	began := time.Now()
	for _, err := range c.Interactions(ctx, a.from, a.to) {
		if err != nil {
			return 0, 0, 0, err
		}
		listed++
	}
	client = float64(listed) / time.Since(began).Seconds()

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {a.cred.ClientID}, "client_secret": {a.cred.ClientSecret}, "scope": {vcc.ScopeContent}}
	resp, err := http.PostForm(a.sim.AuthURL(), form)
	if err != nil {
		return 0, 0, 0, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	began = time.Now()
	n := 0
	for s := a.from; s.Before(a.to); s = s.AddDate(0, 0, 7) {
		e := s.AddDate(0, 0, 7)
		if e.After(a.to) {
			e = a.to
		}
		for page := 1; ; page++ {
			u := fmt.Sprintf("%s/interaction-content/interactions?start=%s&end=%s&page=%d&pageSize=500", a.sim.URL,
				url.QueryEscape(s.Format(time.RFC3339)), url.QueryEscape(e.Format(time.RFC3339)), page)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			req.Header.Set("Accept", "application/vnd.newvoicemedia.v2+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0, 0, 0, err
			}
			var env struct {
				Meta struct {
					PageCount int `json:"pageCount"`
				} `json:"meta"`
				Items []struct {
					GUID    string `json:"guid"`
					Start   string `json:"start"`
					Content []struct {
						ContentKey string `json:"contentKey"`
					} `json:"content"`
				} `json:"items"`
			}
			err = json.NewDecoder(resp.Body).Decode(&env)
			resp.Body.Close()
			if err != nil {
				return 0, 0, 0, err
			}
			n += len(env.Items)
			if page >= env.Meta.PageCount {
				break
			}
		}
	}
	raw = float64(n) / time.Since(began).Seconds()
	if n != listed {
		return 0, 0, 0, fmt.Errorf("client listed %d interactions, raw paging %d", listed, n)
	}
	return client, raw, listed, nil
}

// fillCatalog writes a catalog of n synced interactions (one stored
// recording each, 90 % of the calls Stats reports) for the query timings.
func fillCatalog(ctx context.Context, path string, n int) error {
	cat, err := catalog.Open(ctx, "sqlite://"+path)
	if err != nil {
		return err
	}
	defer cat.Close()
	if err := cat.EnsureSchema(ctx); err != nil {
		return err
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return cat.InTx(ctx, func(tx *catalog.Tx) error {
		if err := tx.UpsertTenant(ctx, catalog.Tenant{ID: "acme"}); err != nil {
			return err
		}
		var agents []catalog.Agent
		for a := range 50 {
			agents = append(agents, catalog.Agent{Tenant: "acme", AgentID: fmt.Sprint(a), Name: fmt.Sprint("Agent ", a), Groups: []string{fmt.Sprint("Team ", a%5)}})
		}
		if err := tx.UpsertAgents(ctx, "acme", agents, start); err != nil {
			return err
		}
		var stats []catalog.StatsInteraction
		for i := range n {
			at := start.Add(time.Duration(i) * 30 * time.Second)
			guid := fmt.Sprintf("g%07d", i)
			dir := []string{"inbound", "outbound"}[i%2]
			stats = append(stats, catalog.StatsInteraction{Tenant: "acme", GUID: guid, Start: at, Duration: time.Minute, Direction: dir, AgentID: fmt.Sprint(i % 50)})
			if i%10 == 0 {
				continue
			}
			if err := tx.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: guid, Start: at, Direction: dir, DirectionSource: "stats", AgentID: fmt.Sprint(i % 50)}); err != nil {
				return err
			}
			if _, err := tx.EnsureRecording(ctx, catalog.Recording{Tenant: "acme", GUID: guid, ContentKey: "callRecording", Type: "callRecording", MediaType: "audio/wav", ExpectedBytes: 1000}); err != nil {
				return err
			}
			if _, err := tx.MarkStored(ctx, "acme", guid, "callRecording", 1000, "sum", "key", time.Minute); err != nil {
				return err
			}
		}
		return tx.UpsertStatsInteractions(ctx, stats)
	})
}

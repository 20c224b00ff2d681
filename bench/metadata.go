package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
)

// discoveryRates lists every interaction of the account through the client
// and by plain paging, twice each in the order client, raw, raw, client (so
// that neither gains from going second), and returns both rates.
func discoveryRates(ctx context.Context, a *account) (client, raw float64, listed int, err error) {
	c, err := vcc.New(vcc.Config{AuthURL: a.sim.AuthURL(), APIURL: a.sim.APIURL(), ClientID: a.cred.ClientID, ClientSecret: secret.New(a.cred.ClientSecret), RequestsPerMinute: 0})
	if err != nil {
		return 0, 0, 0, err
	}
	if err := c.CheckScope(ctx, vcc.ScopeContent); err != nil {
		return 0, 0, 0, err
	}
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

	var clientTime, rawTime time.Duration
	var rawListed int
	viaClient := func() error {
		began := time.Now()
		listed = 0
		for _, err := range c.Interactions(ctx, a.from, a.to) {
			if err != nil {
				return err
			}
			listed++
		}
		clientTime += time.Since(began)
		return nil
	}
	viaRaw := func() error {
		began := time.Now()
		n, err := rawPaging(ctx, a, tok.AccessToken)
		rawTime += time.Since(began)
		rawListed = n
		return err
	}
	for _, pass := range []func() error{viaClient, viaRaw, viaRaw, viaClient} {
		if err := pass(); err != nil {
			return 0, 0, 0, err
		}
	}
	if rawListed != listed {
		return 0, 0, 0, fmt.Errorf("client listed %d interactions, raw paging %d", listed, rawListed)
	}
	return 2 * float64(listed) / clientTime.Seconds(), 2 * float64(rawListed) / rawTime.Seconds(), listed, nil
}

// rawPaging lists the account's interactions with plain net/http, a week
// at a time in pages of 500, and returns how many it saw.
func rawPaging(ctx context.Context, a *account, token string) (int, error) {
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
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Accept", "application/vnd.newvoicemedia.v2+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0, err
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
				return 0, err
			}
			n += len(env.Items)
			if page >= env.Meta.PageCount {
				break
			}
		}
	}
	return n, nil
}

// fillCatalog writes a catalog of n synced interactions for the query
// timings.
func fillCatalog(ctx context.Context, path string, n int) error {
	cat, err := catalog.Open(ctx, "sqlite://"+path)
	if err != nil {
		return err
	}
	defer cat.Close()
	if err := cat.EnsureSchema(ctx); err != nil {
		return err
	}
	return catalogtest.Fill(ctx, cat, "acme", n)
}

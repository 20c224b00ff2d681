package coverage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// For every combination of the three feature permissions, on three seeds,
// the live probe names exactly the missing permissions.
func TestProbeNamesExactlyTheMissingPermissions(t *testing.T) {
	scopes := []string{vccsim.ScopeContent, vccsim.ScopeUsers, vccsim.ScopeStats}
	var creds []vccsim.Credential
	for mask := range 8 {
		p := vccsim.Permissions{ViewInbound: mask&1 != 0, ViewOutbound: mask&2 != 0, AccessGroups: mask&4 != 0}
		creds = append(creds, vccsim.Credential{
			Name: fmt.Sprintf("perm-%d", mask), ClientID: fmt.Sprintf("client-%d", mask), ClientSecret: fmt.Sprintf("secret-%d", mask),
			Licence: "admin", Scopes: scopes, Permissions: p, OwnerGroups: []string{"Team A"},
		})
	}
	start := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	for _, seed := range []int64{1, 2, 3} {
		sim, err := vccsim.Start(vccsim.Config{Seed: seed, Start: start, Days: 7, CallsPerDay: 100, FixedRecordingSize: 1000, Credentials: creds})
		if err != nil {
			t.Fatal(err)
		}
		for _, cred := range creds {
			t.Run(fmt.Sprintf("seed%d/%s", seed, cred.Name), func(t *testing.T) {
				client, err := vcc.New(vcc.Config{AuthURL: sim.AuthURL(), APIURL: sim.APIURL(), ClientID: cred.ClientID, ClientSecret: secret.New(cred.ClientSecret)})
				if err != nil {
					t.Fatal(err)
				}
				d, calls, err := coverage.Probe(context.Background(), client, start, start.AddDate(0, 0, 7))
				if err != nil {
					t.Fatal(err)
				}
				var want, got []string
				if !cred.Permissions.ViewInbound {
					want = append(want, coverage.PermViewInbound)
				}
				if !cred.Permissions.ViewOutbound {
					want = append(want, coverage.PermViewOutbound)
				}
				if !cred.Permissions.AccessGroups {
					want = append(want, coverage.PermAccessGroups)
				}
				for _, g := range d.Gaps {
					got = append(got, g.Permission)
				}
				if strings.Join(got, "|") != strings.Join(want, "|") || calls != 700 {
					t.Errorf("named %q, want %q (%d calls; note %q)", got, want, calls, d.Note)
				}
			})
		}
		sim.Close()
	}
}

package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/server"
)

// newServer serves a real Scheduler (SQLite catalog, file bucket; see
// newServiceHarness) with one tenant of a loopback simulator, on a loopback
// httptest server.
func newServer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	h := newServiceHarness(t)
	if err := h.svc.Apply(context.Background(), []server.TenantSpec{h.spec(t, "acme", "admin", "")}); err != nil {
		t.Fatal(err)
	}
	ts := h.serve(t, token)
	return ts
}

func get(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestRoutesAndErrors(t *testing.T) {
	ts := newServer(t, "")
	for _, tc := range []struct {
		path       string
		status     int
		want, ctyp string
	}{
		{"/healthz", 200, "ok", "text/plain"},
		{"/readyz", 200, "ready", "text/plain"},
		{"/", 200, `id="tenant-acme"`, "text/html"},
		{"/api/tenants", 200, `"id": "acme"`, "application/json"},
		{"/api/tenants/acme", 200, `"region": "nam"`, "application/json"},
		{"/api/tenants/nobody", 404, `no tenant \"nobody\" is configured`, "application/json"},
		{"/api/tenants/acme/coverage?by=agent", 200, `"by": "agent"`, "application/json"},
		{"/api/tenants/acme/coverage?from=yesterday", 400, `from: \"yesterday\" is not a time`, "application/json"},
		{"/api/tenants/acme/coverage?from=2024-03-05&to=2024-03-04", 400, "to must be after from", "application/json"},
		{"/api/tenants/acme/coverage?by=colour", 400, `by: \"colour\": use one of day, agent, group, direction`, "application/json"},
		{"/api/tenants/acme/failures", 200, `"failures": []`, "application/json"},
		{"/api/tenants/acme/failures?limit=0", 400, "limit", "application/json"},
		{"/metrics", 200, "vccingest_tenant_healthy", "text/plain"},
		{"/metrics", 200, `vccingest_vcc_rate_per_minute{tenant="acme"} +Inf`, "text/plain"}, // the test's client has no budget
		{"/metrics", 200, `vccingest_vcc_throttled_total{tenant="acme"} 0`, "text/plain"},
		{"/nope", 404, "", ""},
	} {
		status, h, body := get(t, ts.URL+tc.path, "")
		if status != tc.status || !strings.Contains(body, tc.want) || !strings.HasPrefix(h.Get("Content-Type"), tc.ctyp) {
			t.Errorf("GET %s = %d %q %s; want %d, %q, %s", tc.path, status, h.Get("Content-Type"), body, tc.status, tc.ctyp, tc.want)
		}
	}
	resp, err := http.Post(ts.URL+"/api/tenants", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/tenants = %d, want 405: the API is read-only", resp.StatusCode)
	}
}

func TestAccessToken(t *testing.T) {
	const token = "0123456789abcdef-token"
	ts := newServer(t, token)
	for _, p := range []string{"/", "/metrics", "/api/tenants", "/api/tenants/acme/coverage"} {
		for _, tc := range []struct {
			header string
			want   int
		}{{"", 401}, {"Bearer", 401}, {"Bearer x" + token, 401}, {"Basic " + token, 401}, {"Bearer " + token, 200}} {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+p, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s with %q = %d, want %d", p, tc.header, resp.StatusCode, tc.want)
			}
			if strings.Contains(string(body), token) {
				t.Errorf("GET %s shows the token", p)
			}
			if tc.want == 401 {
				var e struct{ Error string }
				if json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "Authorization: Bearer") || resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 of %s does not say what to send: %s", p, body)
				}
			}
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _, _ := get(t, ts.URL+p, ""); status != 200 {
			t.Errorf("probe %s without a token = %d, want 200", p, status)
		}
	}
}

package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/server"
	"github.com/vccingest/vccingest/internal/vcc"
)

// A window VCC refuses to list fails the tenant's run in serve as in sync:
// the run is recorded with the window and VCC's answer, the tenant is
// unhealthy, and the watermark stays before the window.
func TestService_AWindowThatCannotBeListedFailsTheRun(t *testing.T) {
	h := newServiceHarness(t)
	ctx := context.Background()
	refused := h.start.Add(12 * time.Hour)
	target, _ := url.Parse(h.sim.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/interaction-content/interactions" && strings.HasPrefix(r.URL.Query().Get("start"), refused.Format("2006-01-02T15:04")) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message":"This window is refused."}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	spec := h.spec(t, "acme", "admin", "")
	c := h.sim.Credential("admin")
	client, err := vcc.New(vcc.Config{AuthURL: h.sim.AuthURL(), APIURL: front.URL, ClientID: c.ClientID, ClientSecret: secret.New(c.ClientSecret)})
	if err != nil {
		t.Fatal(err)
	}
	spec.Tenant.VCC = client
	if err := h.svc.Apply(ctx, []server.TenantSpec{spec}); err != nil {
		t.Fatal(err)
	}
	st := h.waitFor(t, "acme", func(st server.TenantStatus) bool { return st.Health == "unhealthy" })
	if !strings.Contains(st.LastError, "could not be listed") || !strings.Contains(st.LastError, "This window is refused.") {
		t.Errorf("last error %q does not name the window and VCC's answer", st.LastError)
	}
	if st.Watermark.After(refused) {
		t.Errorf("watermark %s passed the window never listed (%s)", st.Watermark, refused)
	}
	runs, err := h.cat.Runs(ctx, "acme", 5)
	if err != nil || len(runs) == 0 || runs[len(runs)-1].Status != "failed" {
		t.Errorf("runs %+v, %v; want the first one recorded failed", runs, err)
	}
}

package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/server"
)

// Each event sink of a tenant has its published, failed and pending
// events in /metrics, labelled with its URL without secrets, and the
// status page shows a sink that refuses deliveries as behind (and one
// that works as nothing).
func TestEventSinks_MetricsPerSinkAndTheStatusPageShowsOneBehind(t *testing.T) {
	ctx := context.Background()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer down.Close()
	refusing, err := events.Open(ctx, down.URL+"/hook?token=s3cr3t-token", events.Options{WebhookSecret: secret.New("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer refusing.Close()
	working, err := events.Open(ctx, "mem://server-sinks", events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer working.Close()
	h := newServiceHarness(t)
	spec := h.spec(t, "acme", "admin", "")
	spec.Tenant.Events = []*events.Sink{refusing, working}
	if err := h.svc.Apply(ctx, []server.TenantSpec{spec}); err != nil {
		t.Fatal(err)
	}
	ts := h.serve(t, "")
	st := h.waitFor(t, "acme", func(st server.TenantStatus) bool {
		return len(st.EventSinks) == 2 && st.EventSinks[0].Behind && st.EventSinks[0].Pending > 0 && st.EventSinks[1].Published > 0
	})
	if st.EventSinks[1].Behind || st.EventSinks[1].Failing != nil {
		t.Errorf("the working sink shows behind: %+v", st.EventSinks[1])
	}

	_, _, page := get(t, ts.URL+"/", "")
	if !strings.Contains(page, "Event sink "+refusing.String()+" is behind") || strings.Contains(page, "Event sink mem://") {
		t.Errorf("the status page does not show the refusing sink (only) as behind:\n%s", page)
	}
	_, _, body := get(t, ts.URL+"/metrics", "")
	if strings.Contains(body, "s3cr3t-token") || strings.Contains(page, "s3cr3t-token") {
		t.Error("a sink's secret reached the metrics or the page")
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	value := func(family, sink string) float64 {
		t.Helper()
		for _, m := range families[family].GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["tenant"] == "acme" && labels["sink"] == sink {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("%s has no series of sink %s:\n%s", family, sink, body)
		return 0
	}
	if v := value("vccingest_events_failed_total", refusing.String()); v < 1 {
		t.Errorf("failed deliveries of the refusing sink: %v", v)
	}
	if v := value("vccingest_events_pending", refusing.String()); v < 1 {
		t.Errorf("pending events of the refusing sink: %v", v)
	}
	if v := value("vccingest_events_published_total", working.String()); v < 1 {
		t.Errorf("events published to the working sink: %v", v)
	}
	if v := value("vccingest_events_published_total", refusing.String()); v != 0 {
		t.Errorf("events published to the refusing sink: %v", v)
	}
}

// Package server is `vccingest serve`: the Scheduler keeps many tenants'
// syncs running on River periodic jobs, and the HTTP handler shows them:
// liveness and readiness probes, Prometheus metrics, a JSON API and a
// server-rendered status page.
//
// Every path but /healthz, /readyz and /login requires "Authorization:
// Bearer <token>", or the session cookie /login sets for a browser, when an
// access token is configured (it must be when the service listens beyond
// loopback). No secret, token or credential reaches a page, a
// metric or a JSON document: the service only ever holds secret references
// and redacting secret.Values.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/config"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
)

// Catalog is what the server reads from the catalog.
type Catalog interface {
	Totals(ctx context.Context, tenant string) (catalog.Totals, error)
	RecentFailures(ctx context.Context, tenant string, limit int) ([]catalog.Recording, error)
}

// CoverageFunc reports a tenant's coverage of [from, to), bucketed by one of
// coverage.Dimensions.
type CoverageFunc func(ctx context.Context, tenant string, from, to time.Time, by string) (coverage.Report, error)

// Config wires a Server.
type Config struct {
	Scheduler *Scheduler
	Catalog   Catalog
	Coverage  CoverageFunc
	// AccessToken, when set, is required as a bearer token on every path
	// but the probes.
	AccessToken secret.Value
	Logger      *slog.Logger
	Version     string
	Now         func() time.Time
}

// Server is an http.Handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	handler http.Handler
}

// New builds the server's routes and metrics registry.
func New(cfg Config) (*Server, error) {
	if cfg.Scheduler == nil || cfg.Catalog == nil || cfg.Coverage == nil {
		return nil, errors.New("server: Scheduler, Catalog and Coverage are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	reg := prometheus.NewRegistry()
	if err := reg.Register(&collector{s: s}); err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{cfg.Logger}}))
	s.mux.HandleFunc("GET /api/tenants", s.apiTenants)
	s.mux.HandleFunc("GET /api/tenants/{id}", s.apiTenant)
	s.mux.HandleFunc("GET /api/tenants/{id}/coverage", s.apiCoverage)
	s.mux.HandleFunc("GET /api/tenants/{id}/failures", s.apiFailures)
	s.mux.HandleFunc("GET /{$}", s.statusPage)
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.logout)
	s.handler = s.authenticate(s.mux)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	s.handler.ServeHTTP(w, r)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.cfg.Scheduler.Ping(ctx); err != nil {
		s.cfg.Logger.Warn("not ready", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:", err)
		return
	}
	fmt.Fprintln(w, "ready")
}

// TenantJSON is one tenant in the JSON API.
type TenantJSON struct {
	ID                  string           `json:"id"`
	Region              string           `json:"region"`
	Health              string           `json:"health"`
	Running             bool             `json:"running"`
	IntervalSeconds     float64          `json:"interval_seconds"`
	ConsecutiveFailures int              `json:"consecutive_failures"`
	LastError           string           `json:"last_error,omitempty"`
	LastErrorAt         *time.Time       `json:"last_error_at,omitempty"`
	NextAttempt         *time.Time       `json:"next_attempt,omitempty"`
	NextRun             *time.Time       `json:"next_run,omitempty"`
	Degraded            []string         `json:"degraded"` // what keeps recordings from a healthy tenant
	Progress            *ProgressJSON    `json:"progress,omitempty"`
	VCC                 VCCCostJSON      `json:"vcc"`
	LastSuccess         *time.Time       `json:"last_success,omitempty"`
	Warnings            []string         `json:"warnings,omitempty"`
	Watermark           *time.Time       `json:"watermark,omitempty"`
	LagSeconds          *float64         `json:"lag_seconds"`    // null before any window is synced
	FailedWindows       int              `json:"failed_windows"` // listing failed for good; they hold the watermark back
	Totals              TotalsJSON       `json:"totals"`
	EventSinks          []SinkJSON       `json:"event_sinks,omitempty"`
	LastRun             *RunJSON         `json:"last_run,omitempty"`
	Runs                []RunJSON        `json:"runs,omitempty"`
	Coverage            *CoverageSummary `json:"coverage,omitempty"`
}

// ProgressJSON is how far a running run got.
type ProgressJSON struct {
	Started           time.Time `json:"started"`
	WindowsListed     int       `json:"windows_listed"`
	WindowsPlanned    int       `json:"windows_planned"`
	RecordingsPending int64     `json:"recordings_pending"`
	ETASeconds        *float64  `json:"eta_seconds"` // null when unknown
}

// VCCCostJSON is what this process's VCC client of the tenant spent of
// the budget since it started.
type VCCCostJSON struct {
	Requests      map[string]int64 `json:"requests"`        // by purpose (vcc.Purposes), tokens aside
	Throttled     int64            `json:"throttled"`       // 429s
	RatePerMinute *float64         `json:"rate_per_minute"` // the rate in force; null without a budget
	Summary       string           `json:"summary"`         // the same in a sentence
}

// TotalsJSON are a tenant's all-time counts.
type TotalsJSON struct {
	Interactions int64 `json:"interactions"`
	Recordings   int64 `json:"recordings"`
	Stored       int64 `json:"stored"`
	Failed       int64 `json:"failed"`
	Pending      int64 `json:"pending"`
	Bytes        int64 `json:"bytes"`
}

// RunJSON is one sync run.
type RunJSON struct {
	ID       int64      `json:"id"`
	From     time.Time  `json:"from"`
	To       time.Time  `json:"to"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Status   string     `json:"status"`
	Stored   int64      `json:"stored"`
	Failed   int64      `json:"failed"`
	Bytes    int64      `json:"bytes"`
	Error    string     `json:"error,omitempty"` // why a failed run failed
	// DurationSeconds is how long a finished run took.
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
}

// CoverageSummary is the coverage the last run computed.
type CoverageSummary struct {
	From      time.Time          `json:"from"`
	To        time.Time          `json:"to"`
	Total     coverage.Bucket    `json:"total"`
	Diagnosis coverage.Diagnosis `json:"diagnosis"`
	Advice    []string           `json:"advice,omitempty"`
	// Days are the coverage of each day of the span, oldest first, empty
	// days included.
	Days []coverage.Bucket `json:"days"`
}

// SinkJSON is how one event sink of a tenant keeps up (ingest.SinkStatus).
type SinkJSON struct {
	Name      string     `json:"name"`
	Published int64      `json:"published"` // by this process
	Failed    int64      `json:"failed"`    // deliveries refused, by this process
	Pending   int64      `json:"pending"`
	Oldest    *time.Time `json:"oldest_pending,omitempty"`
	LastError string     `json:"last_error,omitempty"` // while it refuses deliveries
	Behind    bool       `json:"behind"`
}

// tenantView gathers what the page and the API show of one tenant.
func (s *Server) tenantView(ctx context.Context, st TenantStatus, runs int) (TenantJSON, error) {
	v := TenantJSON{
		ID: st.ID, Region: st.Region, Health: st.Health, Running: st.Running,
		IntervalSeconds: st.Interval.Seconds(), ConsecutiveFailures: st.ConsecutiveFailures,
		LastError: st.LastError, LastErrorAt: timePtr(st.LastErrorAt), NextAttempt: timePtr(st.NextAttempt),
		LastSuccess: timePtr(st.LastSuccess), Warnings: st.Warnings, Watermark: timePtr(st.Watermark),
		FailedWindows: st.FailedWindows, NextRun: timePtr(st.NextRun), Degraded: nonNil(st.Degraded),
	}
	if !st.Watermark.IsZero() {
		v.LagSeconds = ptr(st.Lag.Seconds())
	}
	cost := ingest.CostOf(st.VCC)
	v.VCC = VCCCostJSON{Requests: map[string]int64{}, Throttled: cost.Throttled, Summary: cost.String()}
	for _, p := range vcc.Purposes {
		v.VCC.Requests[string(p)] = cost.Requests[p]
	}
	if r := cost.PerMinute; r > 0 && !math.IsInf(r, 1) {
		v.VCC.RatePerMinute = ptr(r)
	}
	for _, e := range st.EventSinks {
		j := SinkJSON{Name: e.Name, Published: e.Published, Failed: e.Failed, Pending: e.Pending, Oldest: timePtr(e.Oldest), Behind: e.Behind}
		if e.Failing != nil {
			j.LastError = e.Failing.Error
		}
		v.EventSinks = append(v.EventSinks, j)
	}
	if p := st.Progress; p != nil {
		v.Progress = &ProgressJSON{Started: p.Started.UTC(), WindowsListed: p.WindowsListed, WindowsPlanned: p.WindowsPlanned, RecordingsPending: p.RecordingsPending}
		if p.ETA > 0 {
			v.Progress.ETASeconds = ptr(p.ETA.Seconds())
		}
	}
	t, err := s.cfg.Catalog.Totals(ctx, st.ID)
	if err != nil {
		return v, err
	}
	v.Totals = TotalsJSON(t)
	for i, r := range st.RecentRuns[:min(max(runs, 1), len(st.RecentRuns))] {
		rj := RunJSON{ID: r.ID, From: r.From, To: r.To, Started: r.Started, Finished: timePtr(r.Finished), Status: r.Status, Stored: r.Stored, Failed: r.Failed, Bytes: r.Bytes, Error: r.Error}
		if !r.Finished.IsZero() {
			rj.DurationSeconds = ptr(r.Finished.Sub(r.Started).Seconds())
		}
		if i == 0 {
			v.LastRun = &rj
		}
		if runs > 1 {
			v.Runs = append(v.Runs, rj)
		}
	}
	if c := st.Coverage; c != nil {
		v.Coverage = &CoverageSummary{From: st.CoverageFrom, To: st.CoverageTo, Total: c.Total, Diagnosis: c.Diagnosis, Days: days(c, st.CoverageFrom, st.CoverageTo)}
		for _, g := range c.Diagnosis.Gaps {
			v.Coverage.Advice = append(v.Coverage.Advice, g.Advice())
		}
	}
	return v, nil
}

func ptr[T any](v T) *T { return &v }

// days is a by-day report's buckets for every day of [from, to), empty
// days included.
func days(rep *coverage.Report, from, to time.Time) []coverage.Bucket {
	byKey := map[string]coverage.Bucket{}
	for _, b := range rep.Buckets {
		byKey[b.Key] = b
	}
	out := []coverage.Bucket{}
	for d := from.UTC().Truncate(24 * time.Hour); d.Before(to); d = d.AddDate(0, 0, 1) {
		key := d.Format("2006-01-02")
		b, ok := byKey[key]
		if !ok {
			b = coverage.Bucket{Key: key}
		}
		out = append(out, b)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (s *Server) tenants(ctx context.Context) ([]TenantJSON, error) {
	sts, err := s.cfg.Scheduler.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	var out []TenantJSON
	for _, st := range sts {
		v, err := s.tenantView(ctx, st, 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) apiTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := s.tenants(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": nonNil(ts)})
}

// lookup finds the {id} tenant or answers 404.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (TenantStatus, bool) {
	id := r.PathValue("id")
	st, found, err := s.cfg.Scheduler.Tenant(r.Context(), id)
	switch {
	case err != nil:
		s.internalError(w, r, err)
		return st, false
	case !found:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no tenant %q is configured", id))
		return st, false
	}
	return st, true
}

func (s *Server) apiTenant(w http.ResponseWriter, r *http.Request) {
	st, ok := s.lookup(w, r)
	if !ok {
		return
	}
	v, err := s.tenantView(r.Context(), st, 20)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) apiCoverage(w http.ResponseWriter, r *http.Request) {
	st, ok := s.lookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	to := s.cfg.Now().UTC()
	from := to.Add(-7 * 24 * time.Hour)
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			t, err := config.ParseTime(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, p.name+": "+err.Error())
				return
			}
			*p.dst = t
		}
	}
	if !to.After(from) {
		writeError(w, http.StatusBadRequest, "to must be after from")
		return
	}
	by := q.Get("by")
	if by == "" {
		by = "day"
	}
	rep, err := s.cfg.Coverage(r.Context(), st.ID, from, to, by)
	if err != nil {
		if strings.Contains(err.Error(), "--by") {
			writeError(w, http.StatusBadRequest, "by: "+strings.TrimPrefix(err.Error(), "--by "))
			return
		}
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": st.ID, "from": from, "to": to, "report": rep})
}

// FailureJSON is one recording that failed for good.
type FailureJSON struct {
	InteractionID string `json:"interaction_id"`
	ContentKey    string `json:"content_key"`
	Attempts      int    `json:"attempts"`
	Error         string `json:"error"`
}

func (s *Server) failures(ctx context.Context, tenant string, limit int) ([]FailureJSON, error) {
	recs, err := s.cfg.Catalog.RecentFailures(ctx, tenant, limit)
	if err != nil {
		return nil, err
	}
	out := make([]FailureJSON, 0, len(recs))
	for _, r := range recs {
		out = append(out, FailureJSON{InteractionID: r.GUID, ContentKey: r.ContentKey, Attempts: r.Attempts, Error: r.LastError})
	}
	return out, nil
}

func (s *Server) apiFailures(w http.ResponseWriter, r *http.Request) {
	st, ok := s.lookup(w, r)
	if !ok {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a number from 1 to 10000", v))
			return
		}
		limit = n
	}
	fs, err := s.failures(r.Context(), st.ID, limit)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": st.ID, "failures": fs})
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.Logger.Error("request failed", "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, "internal error: "+err.Error())
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// slogErrorLog adapts promhttp's error log to slog.
type slogErrorLog struct{ l *slog.Logger }

func (e slogErrorLog) Println(v ...any) { e.l.Error("metrics: " + fmt.Sprint(v...)) }

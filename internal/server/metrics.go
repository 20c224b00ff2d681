package server

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/vcc"
)

// collector reads every metric at scrape time from where it is kept: the
// catalog (recordings, bytes), each tenant's VCC client (requests, tokens,
// retries), the job queue (depth) and the service (health, lag, coverage).
// So a scrape always agrees with the catalog and with what VCC saw.
type collector struct{ s *Server }

var (
	descStored = prometheus.NewDesc("vccingest_recordings_stored_total",
		"Recordings stored (verified, in the bucket), all time, by tenant.", []string{"tenant"}, nil)
	descFailed = prometheus.NewDesc("vccingest_recordings_failed_total",
		"Recordings that failed for good, all time, by tenant.", []string{"tenant"}, nil)
	descPending = prometheus.NewDesc("vccingest_recordings_pending",
		"Recordings discovered and not yet stored, by tenant.", []string{"tenant"}, nil)
	descBytes = prometheus.NewDesc("vccingest_stored_bytes_total",
		"Bytes of stored recordings, all time, by tenant.", []string{"tenant"}, nil)
	descRequests = prometheus.NewDesc("vccingest_vcc_requests_total",
		"VCC API requests since the tenant's client started, by API, HTTP status (0: network error) and purpose (list, rescan, stats, users, groups, download, retry: a request sent again or a download resumed).", []string{"tenant", "api", "status", "purpose"}, nil)
	descTokens = prometheus.NewDesc("vccingest_vcc_token_requests_total",
		"OAuth token requests since the tenant's client started, by scope and HTTP status.", []string{"tenant", "scope", "status"}, nil)
	descRetries = prometheus.NewDesc("vccingest_vcc_retries_total",
		"VCC requests sent again after a failed attempt, by API.", []string{"tenant", "api"}, nil)
	descRate = prometheus.NewDesc("vccingest_vcc_rate_per_minute",
		"VCC requests a minute this process's client of the tenant allows itself now, across all VCC APIs: its share of requests_per_minute, lowered for a while after a 429.", []string{"tenant"}, nil)
	descThrottled = prometheus.NewDesc("vccingest_vcc_throttled_total",
		"429 Too Many Requests answers since the tenant's client started.", []string{"tenant"}, nil)
	descQueue = prometheus.NewDesc("vccingest_queue_jobs",
		"Jobs still to do (available, scheduled, retryable, running or pending), by tenant and kind.", []string{"tenant", "kind"}, nil)
	descLag = prometheus.NewDesc("vccingest_tenant_lag_seconds",
		"Now minus the tenant's watermark (the end of its last fully synced window).", []string{"tenant"}, nil)
	descHealthy = prometheus.NewDesc("vccingest_tenant_healthy",
		"1 when the tenant's last sync succeeded, 0 after a failure (until one succeeds).", []string{"tenant"}, nil)
	descFailedWindows = prometheus.NewDesc("vccingest_windows_failed",
		"Windows whose listing failed for good (VCC refused it) and has not succeeded since; they hold the watermark back.", []string{"tenant"}, nil)
	descCoverage = prometheus.NewDesc("vccingest_coverage_calls",
		"Calls the Stats API reports over the coverage span of the tenant's last run, by cause (stored, hidden, not_recorded, pending, failed).", []string{"tenant", "cause"}, nil)
	descGaps = prometheus.NewDesc("vccingest_coverage_permission_gap_calls",
		"Calls VCC withheld that a missing feature permission of the credential's user explains, by permission.", []string{"tenant", "permission"}, nil)
	descEventsPublished = prometheus.NewDesc("vccingest_events_published_total",
		"Events the sink acknowledged, since this process started, by tenant and sink (its URL without secrets).", []string{"tenant", "sink"}, nil)
	descEventsFailed = prometheus.NewDesc("vccingest_events_failed_total",
		"Deliveries of events the sink refused (each is retried), since this process started, by tenant and sink.", []string{"tenant", "sink"}, nil)
	descEventsPending = prometheus.NewDesc("vccingest_events_pending",
		"Events queued for the sink and not delivered yet, by tenant and sink.", []string{"tenant", "sink"}, nil)
	descEventsOldest = prometheus.NewDesc("vccingest_events_oldest_pending_seconds",
		"How long the oldest event pending for the sink has waited (0 when none waits), by tenant and sink.", []string{"tenant", "sink"}, nil)
	descUp = prometheus.NewDesc("vccingest_metrics_errors",
		"1 when a part of this scrape could not be read (see the log).", []string{"part"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStored, descFailed, descPending, descBytes, descRequests, descTokens, descRetries, descRate, descThrottled, descQueue, descLag, descHealthy, descFailedWindows, descCoverage, descGaps, descEventsPublished, descEventsFailed, descEventsPending, descEventsOldest, descUp} {
		ch <- d
	}
}

// counted is what a tenant's VCC client reports for metrics.
type counted interface {
	Counters() []vcc.CounterValue
	Retries() map[string]int64
}

// budgeted is a VCC client with a request budget.
type budgeted interface {
	RequestsPerMinute() float64
	Throttled() int64
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := c.s.cfg.Logger
	catalogErr := 0.0
	tenants, err := c.s.cfg.Scheduler.Tenants(ctx)
	if err != nil {
		log.Error("metrics: read tenant status", "error", err)
		catalogErr = 1
	}
	for _, t := range tenants {
		id := t.ID
		if tot, err := c.s.cfg.Catalog.Totals(ctx, id); err != nil {
			log.Error("metrics: read catalog totals", "tenant", id, "error", err)
			catalogErr = 1
		} else {
			ch <- prometheus.MustNewConstMetric(descStored, prometheus.CounterValue, float64(tot.Stored), id)
			ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(tot.Failed), id)
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(tot.Pending), id)
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(tot.Bytes), id)
		}
		if v, ok := t.VCC.(counted); ok {
			for _, cv := range v.Counters() {
				status := strconv.Itoa(cv.Status)
				if cv.API == "token" {
					ch <- prometheus.MustNewConstMetric(descTokens, prometheus.CounterValue, float64(cv.Count), id, cv.Scope, status)
					continue
				}
				ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(cv.Count), id, cv.API, status, string(cv.Purpose))
			}
			for api, n := range v.Retries() {
				ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(n), id, api)
			}
		}
		if v, ok := t.VCC.(budgeted); ok {
			ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, v.RequestsPerMinute(), id)
			ch <- prometheus.MustNewConstMetric(descThrottled, prometheus.CounterValue, float64(v.Throttled()), id)
		}
		healthy := 0.0
		if t.Health != "unhealthy" {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, healthy, id)
		ch <- prometheus.MustNewConstMetric(descFailedWindows, prometheus.GaugeValue, float64(t.FailedWindows), id)
		if !t.Watermark.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, t.Lag.Seconds(), id)
		}
		for _, e := range t.EventSinks {
			ch <- prometheus.MustNewConstMetric(descEventsPublished, prometheus.CounterValue, float64(e.Published), id, e.Name)
			ch <- prometheus.MustNewConstMetric(descEventsFailed, prometheus.CounterValue, float64(e.Failed), id, e.Name)
			ch <- prometheus.MustNewConstMetric(descEventsPending, prometheus.GaugeValue, float64(e.Pending), id, e.Name)
			oldest := 0.0
			if e.Pending > 0 {
				oldest = max(time.Since(e.Oldest).Seconds(), 0)
			}
			ch <- prometheus.MustNewConstMetric(descEventsOldest, prometheus.GaugeValue, oldest, id, e.Name)
		}
		if rep := t.Coverage; rep != nil {
			tot := rep.Total
			for cause, n := range map[coverage.Cause]int{
				coverage.CauseStored: tot.Stored, coverage.CauseHidden: tot.Hidden, coverage.CauseNotRecorded: tot.NotRecorded,
				coverage.CausePending: tot.Pending, coverage.CauseFailed: tot.Failed,
			} {
				ch <- prometheus.MustNewConstMetric(descCoverage, prometheus.GaugeValue, float64(n), id, string(cause))
			}
			for _, g := range rep.Diagnosis.Gaps {
				ch <- prometheus.MustNewConstMetric(descGaps, prometheus.GaugeValue, float64(g.Hidden), id, g.Permission)
			}
		}
	}
	queueErr := 0.0
	if depth, err := c.s.cfg.Scheduler.QueueDepth(ctx); err != nil {
		log.Error("metrics: read queue depth", "error", err)
		queueErr = 1
	} else {
		for k, n := range depth {
			ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n), k.Tenant, k.Kind)
		}
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, catalogErr, "catalog")
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, queueErr, "queue")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/config"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/server"
)

func newServeCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the multi-tenant service: schedules, workers, status page, /metrics, JSON API",
		Long: `Serve keeps every configured tenant's recordings flowing: each tenant syncs on
its own interval (a River periodic job) into its own job queues, so a slow or
failing tenant never delays another; a tenant whose sync fails is marked
unhealthy and retried with backoff.

HTTP (listen, default 127.0.0.1:8080): the status page at /, /healthz,
/readyz, /metrics (Prometheus) and /api/tenants[/{id}[/coverage|/failures]].
Listening beyond loopback requires access_token_ref; every path but the probes
then needs "Authorization: Bearer <token>".

SIGHUP re-reads the config file: tenants are added, changed or removed
without a restart and without interrupting the others; a bad file is
rejected and the running config stays. SIGTERM stops scheduling, lets running
downloads finish for up to grace, and releases the rest.`,
		Example: `  vccingest serve --config /etc/vccingest/serve.yaml
  kill -HUP $(pidof vccingest)   # reload tenants`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				file = os.Getenv("VCCINGEST_CONFIG")
			}
			if file == "" {
				return &exitError{code: 2, err: errors.New("serve needs a config file: --config serve.yaml (see README, \"vccingest serve\")")}
			}
			return runServe(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), file)
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "serve config file (YAML; env VCCINGEST_CONFIG)")
	return cmd
}

// service is a running `vccingest serve`.
type service struct {
	file    string
	log     *slog.Logger
	svc     *server.Scheduler
	buckets map[string]*blobstore.Bucket // by URL, shared by tenants
	sinks   map[string][]*events.Sink    // by URLs and secret ref, shared by tenants
	running config.Serve                 // the config in force; its tenants' specs are the scheduler's (svc.Spec)
}

func runServe(ctx context.Context, stdout, stderr io.Writer, file string) error {
	// SIGHUP asks for a reload; one that comes during start-up waits for
	// the loop below instead of killing the process (its default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := config.LoadServe(file)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	log := serveLogger(secret.RedactorFrom(ctx), stderr, cfg)
	log.Info("serve starting", "config", file, "tenants", len(cfg.Tenants))
	var token secret.Value
	if cfg.AccessTokenRef != "" {
		if token, err = secret.Resolve(ctx, cfg.AccessTokenRef); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("access_token_ref: %w", err)}
		}
		if len(token.Reveal()) < 16 {
			return &exitError{code: 2, err: errors.New("access_token_ref: the access token is shorter than 16 characters; use a long random one")}
		}
	}
	base := config.Settings{DataDir: cfg.DataDir, Catalog: cfg.Catalog}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil && cfg.Catalog == "" {
		return &exitError{code: 2, err: fmt.Errorf("data_dir: %w", err)}
	}
	cat, closeCat, err := openCatalogExclusive(ctx, base)
	if err != nil {
		return err
	}
	defer closeCat()
	if err := cat.EnsureSchema(ctx); err != nil {
		return &exitError{code: 2, err: err}
	}
	svc, err := server.NewScheduler(server.SchedulerConfig{Catalog: cat, Logger: log, Version: version, RescueAfter: cfg.RescueAfter})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	s := &service{file: file, log: log, svc: svc, buckets: map[string]*blobstore.Bucket{}, sinks: map[string][]*events.Sink{}}
	defer s.closeBuckets()
	specs, err := s.build(ctx, cfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("listen: %w", err)}
	}
	defer ln.Close()
	if err := svc.Start(ctx); err != nil {
		return err
	}
	if err := svc.Apply(ctx, specs); err != nil {
		_ = svc.Stop(time.Second)
		return &exitError{code: 2, err: err}
	}
	s.running = cfg

	h, err := server.New(server.Config{
		Scheduler: svc, Catalog: cat, AccessToken: token, Logger: log, Version: version,
		Coverage: func(ctx context.Context, tenant string, from, to time.Time, by string) (coverage.Report, error) {
			lookback := 24 * time.Hour
			if spec, ok := s.spec(tenant); ok {
				lookback = spec.Lookback
			}
			return coverage.FromCatalog(ctx, cat, tenant, from, to, by, lookback)
		},
	})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "vccingest serve: %d tenant(s); status page on http://%s/\n", len(specs), ln.Addr())
	log.Info("serving", "addr", ln.Addr().String(), "tenants", len(specs), "catalog", redactURL(base.CatalogURL()))

	for {
		select {
		case <-hup:
			s.reload(ctx)
			continue
		case err := <-httpDone:
			_ = svc.Stop(cfg.Grace)
			return fmt.Errorf("http server: %w", err)
		case <-ctx.Done():
		}
		break
	}
	log.Info("stopping: no new syncs; running downloads may finish", "grace", cfg.Grace)
	stopErr := svc.Stop(cfg.Grace)
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if stopErr != nil {
		return fmt.Errorf("stop: %w", stopErr)
	}
	log.Info("stopped")
	return nil
}

func serveLogger(red *secret.Redactor, w io.Writer, cfg config.Serve) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(secret.NewHandler(h, red))
}

// build turns the config's tenants into specs: a tenant whose configuration
// is unchanged keeps its running client (and its counters); others get a
// new VCC client, with the secret resolved now, and their bucket.
func (s *service) build(ctx context.Context, cfg config.Serve) ([]server.TenantSpec, error) {
	var specs []server.TenantSpec
	for _, t := range cfg.Tenants {
		fp := t.Fingerprint(cfg)
		if old, ok := s.spec(t.ID); ok && old.Fingerprint == fp {
			specs = append(specs, old)
			continue
		}
		st := t.Settings(cfg)
		sec, err := secret.Resolve(ctx, st.ClientSecretRef)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: client_secret_ref: %w", t.ID, err)
		}
		client, apiURL, err := newVCCClient(secret.RedactorFrom(ctx), st, sec, s.log.With("tenant", t.ID))
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.ID, err)
		}
		bucket, err := s.bucket(ctx, st.BucketURL())
		if err != nil {
			return nil, fmt.Errorf("tenant %q: bucket: %w", t.ID, err)
		}
		sinks, err := s.eventSinks(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.ID, err)
		}
		specs = append(specs, server.TenantSpec{
			Tenant:   &ingest.Tenant{ID: t.ID, Region: t.Region, APIBase: apiURL, VCC: client, Bucket: bucket, Attempts: t.Attempts, AgentRefreshTimeout: st.AgentRefreshTimeout, Events: sinks},
			Interval: t.Interval, Window: t.Window, Lookback: t.Lookback, Settle: t.Settle, Rescan: t.Rescan, Downloads: t.Downloads, RequestsPerMinute: st.RequestsPerMinute,
			Fingerprint: fp,
		})
	}
	return specs, nil
}

func (s *service) bucket(ctx context.Context, url string) (*blobstore.Bucket, error) {
	if b, ok := s.buckets[url]; ok {
		return b, nil
	}
	b, err := blobstore.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	s.buckets[url] = b
	return b, nil
}

func (s *service) closeBuckets() {
	for _, b := range s.buckets {
		b.Close()
	}
	for _, sinks := range s.sinks {
		events.CloseAll(sinks)
	}
}

// eventSinks opens the event sinks of st once per set of URLs and secret
// reference; tenants with the same ones share them.
func (s *service) eventSinks(ctx context.Context, st config.Settings) ([]*events.Sink, error) {
	key := strings.Join(st.Events, ",") + "\x00" + st.EventsSecretRef
	if sinks, ok := s.sinks[key]; ok {
		return sinks, nil
	}
	sinks, err := openEvents(ctx, st)
	if err != nil {
		return nil, err
	}
	s.sinks[key] = sinks
	return sinks, nil
}

func (s *service) spec(id string) (server.TenantSpec, bool) { return s.svc.Spec(id) }

// reload re-reads the config file and applies its tenants; on any error the
// running config stays.
func (s *service) reload(ctx context.Context) {
	s.log.Info("SIGHUP: reloading the config", "file", s.file)
	cfg, err := config.LoadServe(s.file)
	if err == nil {
		err = s.restartOnly(cfg)
	}
	var specs []server.TenantSpec
	if err == nil {
		specs, err = s.build(ctx, cfg)
	}
	if err == nil {
		err = s.svc.Apply(ctx, specs)
	}
	if err != nil {
		s.log.Error("config reload rejected; the running config stays", "error", err)
		return
	}
	s.running = cfg
	s.log.Info("config reloaded", "tenants", len(specs))
}

// restartOnly refuses a reload that changes what only a restart can.
func (s *service) restartOnly(cfg config.Serve) error {
	old := s.running
	switch {
	case cfg.Listen != old.Listen:
		return fmt.Errorf("listen changed from %s to %s: restart the service for that", old.Listen, cfg.Listen)
	case cfg.Catalog != old.Catalog || cfg.DataDir != old.DataDir:
		return errors.New("catalog or data_dir changed: restart the service for that")
	case cfg.AccessTokenRef != old.AccessTokenRef:
		return errors.New("access_token_ref changed: restart the service for that")
	}
	return nil
}

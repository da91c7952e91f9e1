package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/internal/metrics"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/llm"
	"github.com/hxchat/hxchat/postgres"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/web"
)

// Main is the whole program, wired from its parts. Tests start it on port 0
// with Run and stop it with Close, exactly as the command does.
type Main struct {
	Config config.Config
	Logger *slog.Logger
	// HTTPClient, when set, is used for the model's API (tests use it to
	// reach their fake upstream).
	HTTPClient *http.Client
	// OIDCClient, when set, reaches the OIDC provider (nil: the default).
	OIDCClient *http.Client
	// Timeouts of the HTTP server against slow or silent clients; zero
	// fields take the defaults (tests shorten them).
	Timeouts Timeouts

	// credential, when set, replaces azidentity's DefaultAzureCredential as
	// the Entra ID identity of Azure OpenAI (tests give a fake one).
	credential func() (azcore.TokenCredential, error)

	// OnTakeover, when set, is called with the number of answers of
	// silent replicas that this replica took (PostgreSQL only), besides
	// the metrics.
	OnTakeover func(n int)

	store   hxchat.Store // as opened: closed last
	metrics *metrics.Metrics
	leases  *live.Leases // nil unless the store is shared (PostgreSQL)
	hub     *live.Hub
	runner  *live.Runner
	web     *web.Server
	srv     *http.Server
	ln      net.Listener
	served  chan error
	// The metrics' own listener, when -metrics-addr sets one.
	metricsSrv    *http.Server
	metricsLn     net.Listener
	metricsServed chan error

	closeOnce sync.Once
	closeErr  error
}

// Timeouts bound how long a client may take. No timeout covers a whole
// request, which would cut answer streams.
type Timeouts struct {
	Header time.Duration // to send the request line and headers; default 10 s
	Body   time.Duration // to send a form; default 30 s
	Idle   time.Duration // between requests on a kept-alive connection; default 2 min
}

// NewMain returns a Main for cfg that logs to w.
func NewMain(cfg config.Config, w io.Writer) *Main {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return &Main{Config: cfg, Logger: slog.New(h)}
}

// Run opens the store, marks answers that a previous process left streaming
// as interrupted (on SQLite; on PostgreSQL it joins the other replicas
// instead, whose sweep takes the answers of replicas that are gone),
// connects the model, and starts serving. It returns once the server
// listens.
func (m *Main) Run(ctx context.Context) error {
	start := time.Now()
	cfg := m.Config
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	m.store = store
	// A store that several replicas share (PostgreSQL) may hold the
	// running answers of other replicas: those of replicas that are gone
	// are taken by the sweep of Leases, not here. (The cluster's side is
	// taken from the store as opened: the metrics' wrapper below has only
	// hxchat.Store's methods.)
	cluster, shared := store.(hxchat.Cluster)
	// Every part uses the store through the metrics, which time its calls.
	m.metrics = metrics.New()
	if pg, ok := store.(*postgres.Store); ok {
		m.metrics.WatchPool(pg.PoolStat)
	}
	store = m.metrics.Store(store)
	if !shared {
		if n, err := store.InterruptStreaming(ctx); err != nil {
			return err
		} else if n > 0 {
			m.Logger.Warn("answers cut short by the last shutdown marked interrupted", "answers", n)
		}
	}
	provider, err := m.provider(ctx)
	if err != nil {
		return err
	}

	signIn, err := m.signIn(ctx)
	if err != nil {
		return err
	}

	// Each answer keeps its last 8 KiB of events (a second or more of it)
	// for readers that fall behind or reconnect after a blip; a reader
	// further behind gets a snapshot instead, which costs one rendering of
	// the answer so far. At 8 KiB the log is about a seventh of an answer's
	// live heap; net/http's buffers for its two connections are more.
	m.hub = live.NewHub(time.Minute, 8<<10)
	m.runner = live.NewRunner(live.RunnerOptions{
		Store:    store,
		Provider: provider,
		Hub:      m.hub,
		Logger:   m.Logger,

		MaxPerOwner: cfg.MaxAnswersPerSession,
		MaxTotal:    cfg.MaxAnswers,
		Metrics:     m.metrics,
	})
	m.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (-addr, HXCHAT_ADDR): %w", cfg.Addr, err)
	}
	var webCluster *web.Cluster
	if shared {
		if webCluster, err = m.join(ctx, cluster); err != nil {
			m.ln.Close()
			return err
		}
	}
	m.web, err = web.New(web.Options{
		Store:        store,
		Runner:       m.runner,
		Hub:          m.hub,
		Logger:       m.Logger,
		Provider:     provider.Name(),
		Model:        provider.Model(),
		Models:       cfg.Models,
		SystemPrompt: cfg.SystemPrompt,
		TrustProxy:   cfg.TrustProxy,
		Demo:         cfg.Provider() == config.ProviderDemo,
		RequestRate:  cfg.RequestRate,
		MaxStreams:   cfg.MaxStreamsPerSession,
		BodyTimeout:  m.Timeouts.Body,

		MaxMessageBytes: cfg.MaxMessageBytes,
		SignIn:          signIn,
		Cluster:         webCluster,
		Metrics:         m.metrics,
		ServeMetrics:    cfg.MetricsAddr == "",
	})
	if err != nil {
		m.ln.Close()
		return err
	}
	if shared {
		m.leases = live.StartLeases(live.LeaseOptions{Cluster: cluster, URL: webCluster.URL, Runner: m.runner, TTL: webCluster.TTL,
			Logger: m.Logger, OnTakeover: m.tookOver})
	}
	m.srv = &http.Server{
		Handler:           m.web,
		ReadHeaderTimeout: cmp.Or(m.Timeouts.Header, 10*time.Second),
		IdleTimeout:       cmp.Or(m.Timeouts.Idle, 2*time.Minute),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.served = make(chan error, 1)
	go func() { m.served <- m.srv.Serve(m.ln) }()
	if err := m.serveMetrics(); err != nil {
		return err // Close stops the server
	}
	attrs := []any{"url", "http://" + m.ln.Addr().String(), "model", provider.Name(), "store", cfg.Store()}
	if m.metricsLn != nil {
		attrs = append(attrs, "metrics", "http://"+m.metricsLn.Addr().String()+"/metrics")
	}
	if cfg.Store() == config.StoreSQLite {
		attrs = append(attrs, "data", cfg.DataDir)
	}
	m.Logger.Info("hxchat is ready", append(attrs, "startup", time.Since(start).Round(time.Millisecond))...)
	return nil
}

// serveMetrics starts the metrics' own listener when -metrics-addr sets one:
// it serves /metrics and nothing else, so that it can stay on a private
// address while the app is public.
func (m *Main) serveMetrics() error {
	addr := m.Config.MetricsAddr
	if addr == "" {
		return nil // the app's listener serves /metrics
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (-metrics-addr, HXCHAT_METRICS_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.metrics.Handler())
	m.metricsLn = ln
	m.metricsSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cmp.Or(m.Timeouts.Header, 10*time.Second),
		IdleTimeout:       cmp.Or(m.Timeouts.Idle, 2*time.Minute),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.metricsServed = make(chan error, 1)
	go func() { m.metricsServed <- m.metricsSrv.Serve(ln) }()
	return nil
}

// MetricsAddr returns the address of the metrics' own listener, or "" when
// the app's listener serves /metrics.
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// openStore opens the store the configuration chooses: PostgreSQL when a
// database URL is set, else the SQLite file in the data directory.
func openStore(ctx context.Context, cfg config.Config) (hxchat.Store, error) {
	if cfg.Store() == config.StorePostgres {
		s, err := postgres.Open(ctx, string(cfg.DatabaseURL))
		if err != nil {
			return nil, fmt.Errorf("open the PostgreSQL database (-database-url, HXCHAT_DATABASE_URL): %w", err)
		}
		return s, nil
	}
	s, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "hxchat.db"))
	if err != nil {
		return nil, fmt.Errorf("open the database in %s (-data, HXCHAT_DATA): %w", cfg.DataDir, err)
	}
	return s, nil
}

// signIn sets up how people sign in. In oidc mode the provider's discovery
// document is read now (waiting at most 20 s): a provider that cannot be
// reached, or that names another issuer, stops start-up.
func (m *Main) signIn(ctx context.Context) (web.SignIn, error) {
	a := m.Config.Auth
	si := web.SignIn{Mode: a.Mode, TrustedProxies: a.TrustedProxies, SignOutURL: a.SignOutURL, AdminGroup: a.ProxyAdminGroup}
	if a.Mode != config.AuthOIDC {
		return si, nil
	}
	// Both stores keep sign-ins; a store that does not is a bug of the build.
	signIns, ok := m.store.(hxchat.SignInStore)
	if !ok {
		return si, fmt.Errorf("sign-in with OIDC: the store %T does not keep sign-ins", m.store)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	o, err := web.NewOIDC(ctx, web.OIDCOptions{
		Issuer: a.OIDC.Issuer, ClientID: a.OIDC.ClientID, ClientSecret: string(a.OIDC.ClientSecret),
		RedirectURL: a.OIDC.RedirectURL, AllowedDomains: a.OIDC.AllowedDomains, AllowedGroups: a.OIDC.AllowedGroups,
		AdminGroup: a.OIDC.AdminGroup, Scopes: a.OIDC.Scopes, GraphURL: a.OIDC.GraphURL, HTTPClient: m.OIDCClient, Store: signIns,
	})
	if err != nil {
		return si, fmt.Errorf("sign-in with OIDC (-oidc-issuer, HXCHAT_OIDC_ISSUER): %w: check the issuer URL (its /.well-known/openid-configuration must answer from here and name the same issuer)", err)
	}
	si.OIDC = o
	m.Logger.Info("people sign in with OIDC", "issuer", a.OIDC.Issuer, "client_id", a.OIDC.ClientID)
	return si, nil
}

// Addr returns the address the server listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// provider connects the configured models: one provider per model (or
// Azure deployment), picked per conversation; the first is the default.
// Azure OpenAI without a key signs in with Entra ID: one token is got at
// once, so that a credential that does not work stops start-up.
func (m *Main) provider(ctx context.Context) (hxchat.Provider, error) {
	cfg := m.Config
	idle := cfg.IdleTimeout
	if idle == 0 {
		idle = -1 // the setting's 0 means no limit
	}
	common := llm.Common{HTTPClient: m.HTTPClient, MaxRetries: llm.DefaultMaxRetries, IdleTimeout: idle, Logger: m.Logger}
	models := cfg.Models
	if len(models) == 0 { // a Config made by hand, not by config.Load
		switch cfg.Provider() {
		case config.ProviderAzure:
			models = []string{cfg.Azure.Deployment}
		case config.ProviderOpenAI:
			models = []string{cfg.OpenAI.Model}
		}
	}
	var cred azcore.TokenCredential // Entra ID, shared by the deployments
	if cfg.Provider() == config.ProviderAzure && cfg.Azure.UsesEntra() {
		newCredential := m.credential
		if newCredential == nil {
			newCredential = llm.DefaultCredential
		}
		base, err := newCredential()
		if err != nil {
			return nil, err
		}
		cred = llm.ReuseTokens(base)
		start := time.Now()
		if err := llm.CheckCredential(ctx, cred, llm.EntraCheckTimeout); err != nil {
			return nil, err
		}
		m.Logger.Info("Azure OpenAI: signed in with Entra ID", "took", time.Since(start).Round(time.Millisecond))
	}
	var list []hxchat.Provider
	for _, model := range models {
		var p hxchat.Provider
		var err error
		switch cfg.Provider() {
		case config.ProviderAzure:
			o := llm.AzureOptions{Endpoint: cfg.Azure.Endpoint, APIVersion: cfg.Azure.APIVersion, Deployment: model, Common: common}
			if cred != nil {
				o.Credential = cred
			} else {
				o.APIKey = string(cfg.Azure.APIKey)
			}
			p, err = llm.NewAzure(o)
		case config.ProviderOpenAI:
			p, err = llm.NewOpenAI(llm.OpenAIOptions{APIKey: string(cfg.OpenAI.APIKey), BaseURL: cfg.OpenAI.BaseURL,
				Model: model, Common: common})
		}
		if err != nil {
			return nil, err
		}
		list = append(list, p)
	}
	if len(list) == 0 {
		return llm.NewDemo(llm.DemoOptions{TokensPerSecond: cfg.DemoRate}), nil
	}
	return llm.NewModels(list[0], list[1:]...), nil
}

// Close shuts down cleanly: it turns /readyz to 503 (draining), stops
// accepting connections, lets running answers finish for up to the drain
// time, stores the rest as interrupted with their text so far, ends every
// stream with its final event, and closes the store and the metrics'
// listener.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	if m.srv == nil {
		if m.store != nil {
			return m.store.Close()
		}
		return nil
	}
	m.web.Drain()
	if m.leases != nil {
		return m.drainReplica()
	}
	shut := make(chan error, 1)
	go func() {
		// Stops listening at once, then waits for the open requests (the
		// streams end when their answers do).
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.Drain+10*time.Second)
		defer cancel()
		shut <- m.srv.Shutdown(ctx)
	}()
	drain, cancel := context.WithTimeout(context.Background(), m.Config.Drain)
	defer cancel()
	m.runner.Shutdown(drain)
	m.web.CloseStreams()
	err := <-shut
	if err != nil {
		m.srv.Close()
	}
	if e := <-m.served; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return errors.Join(err, m.stopMetrics(), m.store.Close())
}

// stopMetrics closes the metrics' own listener, if there is one: last of
// the servers, so that a scrape during the drain still sees the drain.
func (m *Main) stopMetrics() error {
	if m.metricsSrv == nil {
		return nil
	}
	m.metricsSrv.Close()
	if err := <-m.metricsServed; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Package web serves hxchat's pages, forms and answer streams over HTTP:
// server-rendered HTML for htmx, and Server-Sent Events for answers as they
// grow. It knows the domain interfaces (hxchat.Store, the live runner and hub),
// never a concrete database or model API.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/metrics"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/markdown"
)

// Options configures a Server.
type Options struct {
	Store    hxchat.Store
	Runner   *live.Runner
	Hub      *live.Hub
	Logger   *slog.Logger
	Provider string // the model's name, shown in the page
	Model    string // the model or deployment stored with each answer by default
	// Models lists the models users may pick per conversation, the default
	// first; with fewer than two there is nothing to pick.
	Models []string
	// SystemPrompt is the system prompt of new conversations.
	SystemPrompt string
	// TrustProxy trusts X-Forwarded-For and X-Forwarded-Proto.
	TrustProxy bool
	Demo       bool // the offline demo model answers: the page says so

	MaxMessageBytes int           // largest message a user may send; default 32 KiB
	Keepalive       time.Duration // SSE comment interval; default 15s
	StreamWrite     time.Duration // deadline of each SSE write; default 30s
	BodyTimeout     time.Duration // time to send a request body; default 30s

	// RequestRate is how many requests per second one session may make,
	// with bursts of ten seconds' worth; 0 means no limit.
	RequestRate float64
	// MaxStreams is how many answer streams one session may have open at
	// once; 0 means no limit.
	MaxStreams int

	// SignIn says how people sign in; the zero value is anonymous browser
	// sessions. Once people sign in, conversations belong to them, not to
	// a browser.
	SignIn SignIn

	// Cluster, when set, connects this server to the other replicas that
	// share its store; nil for a single process.
	Cluster *Cluster

	// Metrics counts requests and open answer streams; nil counts nothing.
	Metrics *metrics.Metrics
	// ServeMetrics serves Metrics at GET /metrics, to anyone who reaches
	// the server, without a session; off when the metrics have a listener
	// of their own (-metrics-addr).
	ServeMetrics bool
}

// Server is hxchat's HTTP handler.
type Server struct {
	o        Options
	log      *slog.Logger
	tpl      *templates
	static   *staticFiles
	locales  *locales
	render   *fragments
	newChats *newChats // the empty chat page of browsers without a session
	limits   *limits
	handler  http.Handler
	// shutdown is done when CloseStreams is called.
	shutdown     context.Context
	closeStreams context.CancelFunc
	// moving is done when MoveStreams is called: this replica drains.
	moving      context.Context
	moveStreams context.CancelFunc
	// client makes the requests to other replicas.
	client *http.Client
	// feedClient opens feeds to other replicas, and feedControl makes
	// their subscriptions (feed.go).
	feedClient, feedControl *http.Client
	feedsOut                feedsOut // the feeds this replica serves
	feedsIn                 feedsIn  // the feeds this replica reads
	// draining is set by Drain: /readyz says 503 from then on.
	draining atomic.Bool
}

// New returns a server. Templates and static files are parsed and hashed here,
// once; an error means the binary was built with a broken template.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 32 << 10
	}
	if o.Keepalive <= 0 {
		o.Keepalive = 15 * time.Second
	}
	if o.StreamWrite <= 0 {
		o.StreamWrite = 30 * time.Second
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	static, tpl, err := loadAssets()
	if err != nil {
		return nil, err
	}
	locales, err := loadLocales()
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, log: o.Logger, tpl: tpl, static: static, locales: locales}
	s.shutdown, s.closeStreams = context.WithCancel(context.Background())
	s.moving, s.moveStreams = context.WithCancel(context.Background())
	if o.Cluster != nil {
		s.client = o.Cluster.Client
		s.feedClient, s.feedControl = s.client, s.client
		if s.client == nil {
			s.client = replicaClient()
			s.feedClient, s.feedControl = feedClients()
		}
		context.AfterFunc(s.shutdown, s.closeFeeds)
	}
	s.render = &fragments{tpl: tpl, md: markdown.New()}
	s.newChats = &newChats{tpl: tpl}
	s.limits = newLimits(o.RequestRate, o.MaxStreams)
	s.handler = s.routes()
	return s, nil
}

// loadAssets hashes the embedded static files and parses the templates.
func loadAssets() (*staticFiles, *templates, error) {
	static, err := newStaticFiles()
	if err != nil {
		return nil, nil, err
	}
	tpl, err := parseTemplates(static)
	return static, tpl, err
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// CloseStreams ends every open event stream, after the runner has finished or
// interrupted every answer. Called on shutdown, so that http.Server.Shutdown
// does not wait for streams that would otherwise stay open.
func (s *Server) CloseStreams() { s.closeStreams() }

// MoveStreams ends the readers' event streams without their final events,
// so that each reconnects, with its Last-Event-ID, and resumes on another
// replica, which relays the answer from this one; from then on a request
// for an event stream gets 503. The replicas' internal streams go on until
// their answers end. A replica calls it when it starts to drain.
func (s *Server) MoveStreams() { s.moveStreams() }

// getOnly refuses a method other than GET and HEAD on a path that has only
// those.
func getOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
}

// routes is the whole surface of the app.
func (s *Server) routes() http.Handler {
	app := http.NewServeMux()
	app.Handle("GET /{$}", s.handle(s.chatNew))
	app.Handle("GET /c/{id}", s.handle(s.chatShow))
	app.Handle("POST /c", s.handle(s.messageCreate))
	app.Handle("POST /c/{id}/messages", s.handle(s.messageCreate))
	app.Handle("GET /c/{id}/m/{mid}/events", s.handle(s.answerEvents))
	app.Handle("POST /c/{id}/m/{mid}/stop", s.handle(s.answerStop))
	app.Handle("POST /c/{id}/m/{mid}/retry", s.handle(s.answerRetry))
	app.Handle("GET /c/{id}/m/{mid}/source", s.handle(s.messageSource))
	app.Handle("GET /c/{id}/export/{format}", s.handle(s.conversationExport))
	app.Handle("POST /c/{id}/settings", s.handle(s.conversationSettings))
	app.Handle("GET /c/{id}/m/{mid}", s.handle(s.messageShow))
	app.Handle("GET /c/{id}/m/{mid}/edit", s.handle(s.messageEditForm))
	app.Handle("POST /c/{id}/m/{mid}/edit", s.handle(s.messageEdit))
	app.Handle("POST /c/{id}/m/{mid}/show", s.handle(s.versionShow))
	app.Handle("GET /conversations", s.handle(s.conversationList))
	app.Handle("GET /c/{id}/item", s.handle(s.conversationEntry("conv-item")))
	app.Handle("GET /c/{id}/rename", s.handle(s.conversationEntry("conv-rename")))
	app.Handle("POST /c/{id}/rename", s.handle(s.conversationRename))
	app.Handle("POST /c/{id}/delete", s.handle(s.conversationDelete))
	app.Handle("POST /lang", s.handle(s.langSet))

	// Static files, the health checks and the metrics need no session and
	// are not counted against a browser's budget.
	mux := http.NewServeMux()
	mux.Handle("GET /static/{hash}/{name}", s.static)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	// Other methods on those paths: 405, not the session routes' 404.
	mux.HandleFunc("/static/{hash}/{name}", getOnly)
	mux.HandleFunc("/healthz", getOnly)
	mux.HandleFunc("/readyz", getOnly)
	if s.o.ServeMetrics && s.o.Metrics != nil {
		mux.Handle("GET /metrics", s.o.Metrics.Handler())
		mux.HandleFunc("/metrics", getOnly)
	}
	s.authRoutes(mux)
	s.replicaRoutes(mux)
	mux.Handle("/", s.who(s.limitRequests(routed(app))))

	var h http.Handler = routed(mux)
	h = http.NewCrossOriginProtection().Handler(h)
	h = s.bodyDeadline(h)
	h = s.securityHeaders(h)
	h = s.recoverPanics(h)
	h = compress(h)      // outside recoverPanics, which answers a panic through it
	h = s.logRequests(h) // logs the size as sent
	return h
}

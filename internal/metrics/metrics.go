// Package metrics defines hxchat's metrics for Prometheus and serves them.
// One Metrics value holds them all in a registry of its own (never the
// global default one), with the Go runtime's and the process's.
//
// The parts record into it through its methods: web/ counts requests and
// open answer streams, live/ the generations of answers, Store times every
// call of the store, WatchPool reads a PostgreSQL pool, and LeaseTakeovers
// counts the answers this replica took from dead ones. Every method is safe
// on a nil *Metrics, which records nothing: a part built without metrics
// (in a test, say) needs no check.
//
// Label values are few and known in advance (route patterns, states, error
// codes, store operations), never raw paths or ids. What is recorded at
// every token resolves its series once, when the answer starts, and costs
// an atomic add.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hxchat/hxchat"
)

// Metrics holds hxchat's metrics. New makes it; the zero value is not usable,
// but a nil *Metrics is (it records nothing).
type Metrics struct {
	reg *prometheus.Registry

	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	streams        prometheus.Gauge

	running       prometheus.Gauge
	answers       *prometheus.CounterVec
	tokens        prometheus.Counter
	usagePrompt   prometheus.Counter
	usageAnswer   prometheus.Counter
	firstToken    prometheus.Histogram
	answerSeconds prometheus.Histogram
	retries       [numCauses]prometheus.Counter

	storeSeconds *prometheus.HistogramVec
	storeErrors  *prometheus.CounterVec

	takeovers prometheus.Counter
}

// The causes of a provider's retry, as the label cause says them.
const (
	cause429 = iota
	cause5xx
	causeNetwork
	causeOther
	numCauses
)

var causeNames = [numCauses]string{"429", "5xx", "network", "other"}

// New returns the metrics of one process, registered with the Go runtime's
// and the process's collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{
		reg: reg,
		requests: f.counterVec("hxchat_http_requests_total",
			"HTTP requests, by route (the pattern that served it: \"GET /c/{id}\"; \"unmatched\" when none did) and status code.",
			"route", "code"),
		requestSeconds: f.histogramVec("hxchat_http_request_duration_seconds",
			"Time to serve an HTTP request, from its headers to the end of its response, by route. An answer stream lasts as long as its reader follows it.",
			prometheus.DefBuckets, "route"),
		streams: f.gauge("hxchat_sse_streams_open",
			"Answer event streams open now (readers following an answer)."),
		running: f.gauge("hxchat_generations_running",
			"Answers this process is generating now."),
		answers: f.counterVec("hxchat_answers_total",
			"Answers that ended, by outcome (done, stopped, error, interrupted) and error code (empty unless the outcome is error or interrupted).",
			"outcome", "code"),
		tokens: f.counter("hxchat_tokens_total",
			"Pieces of answer text received from the model: chunks of the stream with text, counted as they come (OpenAI and Azure send about one token a chunk). hxchat_usage_tokens_total has the model's own count."),
		firstToken: f.histogram("hxchat_model_first_token_seconds",
			"Time from sending an answer's request to the model until its first text, waits to retry included.",
			[]float64{.1, .25, .5, 1, 2, 4, 8, 15, 30, 60}),
		answerSeconds: f.histogram("hxchat_answer_duration_seconds",
			"Time from the start of an answer's generation until its end is decided, whatever the outcome.",
			[]float64{.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 600}),
		storeSeconds: f.histogramVec("hxchat_store_duration_seconds",
			"Time of a call of the store (SQLite or PostgreSQL), by operation; the live runner's batched saves of growing answers are \"checkpoint\".",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}, "op"),
		storeErrors: f.counterVec("hxchat_store_errors_total",
			"Calls of the store that failed, by operation; a missing row or a refused change of state (not found, conflict) is an answer, not a failure, and is not counted.",
			"op"),
		takeovers: f.counter("hxchat_lease_takeovers_total",
			"Answers of other replicas that this one took over after their lease expired (their owner died), stored as interrupted."),
	}
	usage := f.counterVec("hxchat_usage_tokens_total",
		"Tokens as the model service reports them at the end of an answer (its usage; answers without it add nothing), by kind: prompt or completion.",
		"kind")
	m.usagePrompt, m.usageAnswer = usage.WithLabelValues("prompt"), usage.WithLabelValues("completion")
	retries := f.counterVec("hxchat_provider_retries_total",
		"Requests to the model service sent again before the answer started, by the failed attempt's cause: 429 (rate limit), 5xx (the service's error), network (no response: the connection failed or timed out), other (408, 409, or the service's x-should-retry).",
		"cause")
	for i, c := range causeNames {
		m.retries[i] = retries.WithLabelValues(c)
	}
	// Answers that end without an error have a series from the start, so
	// that a rate over them is 0, not missing.
	for _, s := range []hxchat.State{hxchat.StateDone, hxchat.StateStopped} {
		m.answers.WithLabelValues(string(s), "")
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format (gzipped for a
// scraper that accepts it). It needs no session and sets no cookie.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer returns the registry, for tests that read the metrics directly.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Request records a served HTTP request: the pattern of the route that
// served it (never the raw path: ids would make the series unbounded), its
// status and how long it took.
func (m *Metrics) Request(route string, status int, took time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, statusText(status)).Inc()
	m.requestSeconds.WithLabelValues(route).Observe(took.Seconds())
}

// statusCodes spells the status codes 100 to 599, so that counting a
// request allocates no string.
var statusCodes = func() (s [500]string) {
	for i := range s {
		s[i] = strconv.Itoa(100 + i)
	}
	return s
}()

func statusText(code int) string {
	if code >= 100 && code < 600 {
		return statusCodes[code-100]
	}
	return strconv.Itoa(code)
}

// StreamOpened records that a reader opened an answer's event stream;
// StreamClosed that it ended. Every StreamOpened is followed by one
// StreamClosed.
func (m *Metrics) StreamOpened() {
	if m != nil {
		m.streams.Inc()
	}
}

// StreamClosed records the end of a stream that StreamOpened recorded.
func (m *Metrics) StreamClosed() {
	if m != nil {
		m.streams.Dec()
	}
}

// LeaseTakeovers records that this replica took over n answers of replicas
// that died (their leases expired). Its signature fits the lease keeper's
// takeover hook: OnTakeover: metrics.LeaseTakeovers.
func (m *Metrics) LeaseTakeovers(n int) {
	if m != nil && n > 0 {
		m.takeovers.Add(float64(n))
	}
}

// Answer records the generation of one answer. StartAnswer begins it; its
// methods are called by the generation's goroutine only, in order, and End
// once, last. The zero Answer (from a nil *Metrics) records nothing.
type Answer struct {
	m       *Metrics
	start   time.Time
	started bool // the first text has come
}

// StartAnswer records that the generation of an answer begins, just before
// its request is sent to the model.
func (m *Metrics) StartAnswer() Answer {
	if m == nil {
		return Answer{}
	}
	m.running.Inc()
	return Answer{m: m, start: time.Now()}
}

// Retry records that the provider waits to send the request again, and why.
func (a *Answer) Retry(r hxchat.Retry) {
	if a.m == nil {
		return
	}
	c := causeOther
	switch {
	case r.Status == http.StatusTooManyRequests:
		c = cause429
	case r.Status >= 500:
		c = cause5xx
	case r.Status == 0:
		c = causeNetwork
	}
	a.m.retries[c].Inc()
}

// Text records a piece of the answer's text (a chunk with text) as it comes;
// the first one times the model's first token. It costs an atomic add: it is
// on the path of every token.
func (a *Answer) Text() {
	if a.m == nil {
		return
	}
	if !a.started {
		a.started = true
		a.m.firstToken.Observe(time.Since(a.start).Seconds())
	}
	a.m.tokens.Inc()
}

// End records how the answer ended (its final state and error code) and the
// model's usage, if it reported one.
func (a *Answer) End(state hxchat.State, code hxchat.ErrorCode, usage hxchat.Usage) {
	if a.m == nil {
		return
	}
	a.m.running.Dec()
	a.m.answerSeconds.Observe(time.Since(a.start).Seconds())
	a.m.answers.WithLabelValues(string(state), string(code)).Inc()
	if usage.PromptTokens > 0 {
		a.m.usagePrompt.Add(float64(usage.PromptTokens))
	}
	if usage.CompletionTokens > 0 {
		a.m.usageAnswer.Add(float64(usage.CompletionTokens))
	}
	a.m = nil // a second End records nothing
}

// factory makes metrics and registers them with reg.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

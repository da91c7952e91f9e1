package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// scrape fetches url as Prometheus does (no cookie) and parses it. It fails
// the test when the response sets a cookie.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	if c := res.Header.Get("Set-Cookie"); c != "" {
		t.Errorf("GET %s set a cookie: %s", url, c)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// metric returns the value of the series of family name whose labels are
// labels (name, value, ...; labels it does not name may have any value,
// and matching series are added up): a counter's or gauge's value, a
// histogram's count. -1 when no series matches.
func metric(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	sum, found := 0.0, false
next:
	for _, m := range fams[name].GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			ok := false
			for _, l := range m.GetLabel() {
				ok = ok || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}
			if !ok {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return sum
}

// TestMetrics: after real answers through the whole program (the fake model
// service behind it), /metrics on the app's listener shows them: requests
// by route pattern and status, answers by outcome and code, tokens as
// streamed and as the service counted them, one time to the first token per
// answer with text, retries by cause (a 429 and a 503 before the first
// answer, a reset connection before the second), the store's calls by
// operation with the answers' checkpoints, and open streams and running
// generations back at 0. No label holds a conversation's id.
func TestMetrics(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(
		llmtest.Reply{Status: 429, Headers: map[string]string{"retry-after-ms": "10"}},
		llmtest.Reply{Status: 503, Headers: map[string]string{"retry-after-ms": "10"}},
		// Slow enough for a checkpoint (once a second) to save it.
		llmtest.Reply{Tokens: answerTokens, Delay: 150 * time.Millisecond},
		llmtest.Reply{Reset: true},
		llmtest.Reply{Tokens: answerTokens},
		llmtest.Reply{Status: 401},
		llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 2},
	)
	m := startApp(t, testConfig(up, t.TempDir()))
	base := "http://" + m.Addr()
	b := newBrowser(t, m)

	var convs []string
	for _, q := range []string{"first", "second", "refused"} {
		conv, events := b.send("", q)
		b.stream(events, "", 0)
		convs = append(convs, conv)
	}
	conv, events := b.send("", "stopped")
	convs = append(convs, conv)
	waitFor(t, "two tokens", func() bool { return seqOf(m, answerID(events)) >= 2 })
	if res, _ := b.post(strings.TrimSuffix(events, "/events")+"/stop", nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("stop: %d", res.StatusCode)
	}
	b.stream(events, "", 0)
	close(gate)
	b.get("/c/" + convs[0])

	var fams map[string]*dto.MetricFamily
	waitFor(t, "streams and generations to end", func() bool {
		fams = scrape(t, base+"/metrics")
		return metric(fams, "hxchat_sse_streams_open") == 0 && metric(fams, "hxchat_generations_running") == 0
	})
	n := float64(len(answerTokens))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64 // -2: at least 1
	}{
		{"hxchat_http_requests_total", []string{"route", "POST /c", "code", "200"}, 4},
		{"hxchat_http_requests_total", []string{"route", "GET /c/{id}/m/{mid}/events", "code", "200"}, 4},
		{"hxchat_http_requests_total", []string{"route", "POST /c/{id}/m/{mid}/stop", "code", "204"}, 1},
		{"hxchat_http_requests_total", []string{"route", "GET /c/{id}", "code", "200"}, 1},
		{"hxchat_http_request_duration_seconds", []string{"route", "POST /c"}, 4},
		{"hxchat_answers_total", []string{"outcome", "done", "code", ""}, 2},
		{"hxchat_answers_total", []string{"outcome", "error", "code", "upstream_auth"}, 1},
		{"hxchat_answers_total", []string{"outcome", "stopped", "code", ""}, 1},
		{"hxchat_tokens_total", nil, 2*n + 2},
		{"hxchat_usage_tokens_total", []string{"kind", "completion"}, 2 * n}, // the stopped answer's usage never came
		{"hxchat_usage_tokens_total", []string{"kind", "prompt"}, -2},
		{"hxchat_model_first_token_seconds", nil, 3},
		{"hxchat_answer_duration_seconds", nil, 4},
		{"hxchat_provider_retries_total", []string{"cause", "429"}, 1},
		{"hxchat_provider_retries_total", []string{"cause", "5xx"}, 1},
		{"hxchat_provider_retries_total", []string{"cause", "network"}, 1},
		{"hxchat_provider_retries_total", []string{"cause", "other"}, 0},
		{"hxchat_store_duration_seconds", []string{"op", "start_turn"}, 4},
		{"hxchat_store_duration_seconds", []string{"op", "finish_answer"}, 4},
		{"hxchat_store_duration_seconds", []string{"op", "interrupt_streaming"}, 1},
		{"hxchat_store_duration_seconds", []string{"op", "checkpoint"}, -2},
		{"hxchat_store_errors_total", nil, 0},
		{"hxchat_lease_takeovers_total", nil, 0},
		{"go_goroutines", nil, -2},
	} {
		got := metric(fams, c.name, c.labels...)
		if c.want == -2 && got < 1 || c.want != -2 && got != c.want {
			t.Errorf("%s %v: %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				for _, id := range convs {
					if strings.Contains(l.GetValue(), id) {
						t.Errorf("%s has the label %s=%q", f.GetName(), l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	if fams["hxchat_db_pool_connections"] != nil {
		t.Error("pool metrics on SQLite")
	}
}

// TestMetricsAddr: with -metrics-addr, /metrics is served on that listener
// only (the app's answers it as a page it does not have), and the listener
// closes with the app.
func TestMetricsAddr(t *testing.T) {
	cfg := testConfig(nil, t.TempDir())
	cfg.MetricsAddr = "127.0.0.1:0"
	m := startApp(t, cfg)
	if m.MetricsAddr() == "" || m.MetricsAddr() == m.Addr() {
		t.Fatalf("metrics listen on %q, the app on %q", m.MetricsAddr(), m.Addr())
	}
	newBrowser(t, m).get("/")
	fams := scrape(t, "http://"+m.MetricsAddr()+"/metrics")
	if metric(fams, "hxchat_http_requests_total", "route", "GET /{$}") != 1 {
		t.Errorf("the app's request is not counted")
	}
	res, err := http.Get("http://" + m.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == 200 || strings.Contains(string(body), "hxchat_") {
		t.Errorf("the app's listener serves /metrics: %d", res.StatusCode)
	}
	if res, err := http.Get("http://" + m.MetricsAddr() + "/"); err != nil || res.StatusCode != 404 {
		t.Errorf("GET / on the metrics listener: %v %v", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := http.Get("http://" + m.MetricsAddr() + "/metrics"); err == nil {
		res.Body.Close()
		t.Error("the metrics listener still answers after Close")
	}
}

// TestReadyDraining: /readyz says ready on a running app; once Close
// begins, it says 503 draining at once, while an answer is still being
// written (the drain lets it finish), and the answer then ends done.
func TestReadyDraining(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 2})
	cfg := testConfig(up, t.TempDir())
	cfg.Drain = 10 * time.Second
	m := startApp(t, cfg)
	b := newBrowser(t, m)
	if code, body := b.get("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	_, events := b.send("", "hold on")
	waitFor(t, "two tokens", func() bool { return seqOf(m, answerID(events)) >= 2 })

	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	waitFor(t, "readyz to say draining", func() bool {
		w := httptest.NewRecorder()
		m.web.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code == 503 && w.Body.String() == "draining\n"
	})
	if n := m.runner.Running(); n != 1 {
		t.Errorf("%d answers running while draining, want 1", n)
	}
	close(gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := m.runner.Running(); n != 0 {
		t.Errorf("%d answers running after Close", n)
	}
}

// TestMetricsPostgres: on PostgreSQL the metrics have the pool's (its size,
// its connections, the acquires that the answer's calls made) and the
// store's calls; /readyz says ready while the database answers, and 503
// "store not answering" once the pool is closed.
func TestMetricsPostgres(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: answerTokens})
	cfg := testConfig(up, t.TempDir())
	cfg.DatabaseURL = config.Secret(pgtest.URL(t))
	m := startApp(t, cfg)
	b := newBrowser(t, m)
	_, events := b.send("", "On PostgreSQL?")
	b.stream(events, "", 0)
	if code, body := b.get("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}

	fams := scrape(t, "http://"+m.Addr()+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		least  float64
	}{
		{"hxchat_db_pool_max_connections", nil, 4},
		{"hxchat_db_pool_acquires_total", nil, 3},
		{"hxchat_db_pool_connections", []string{"state", "idle"}, 1},
		{"hxchat_store_duration_seconds", []string{"op", "start_turn"}, 1},
		{"hxchat_store_duration_seconds", []string{"op", "ping"}, 1},
		{"hxchat_answers_total", []string{"outcome", "done"}, 1},
	} {
		if got := metric(fams, c.name, c.labels...); got < c.least {
			t.Errorf("%s %v: %v, want at least %v", c.name, c.labels, got, c.least)
		}
	}

	m.store.Close()
	w := httptest.NewRecorder()
	m.web.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 503 || w.Body.String() != "store not answering\n" {
		t.Errorf("/readyz, pool closed: %d %q", w.Code, w.Body.String())
	}
}

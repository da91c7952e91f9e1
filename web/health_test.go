package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hxchat/hxchat/internal/metrics"
	"github.com/hxchat/hxchat/web"
)

// serve sends a GET without cookies and returns the response and its body.
func serve(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestReady: /readyz says ready while the store answers; 503 "draining" once
// Drain is called (the first step of a shutdown), and 503 "store not
// answering" when the store is closed. /healthz says alive meanwhile. Neither
// sets a session cookie.
func TestReady(t *testing.T) {
	var opts web.Options
	ts := newServer(t, 0, 0, func(o *web.Options) { opts = *o })
	s := ts.Config.Handler.(*web.Server)

	res, body := serve(t, s, "/readyz")
	if res.StatusCode != 200 || body != "ready\n" || res.Header.Get("Set-Cookie") != "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("/readyz: %d %q, cookie %q, cache %q", res.StatusCode, body, res.Header.Get("Set-Cookie"), res.Header.Get("Cache-Control"))
	}

	opts.Store.Close()
	if res, body := serve(t, s, "/readyz"); res.StatusCode != 503 || body != "store not answering\n" {
		t.Errorf("/readyz, store closed: %d %q", res.StatusCode, body)
	}
	s.Drain()
	if res, body := serve(t, s, "/readyz"); res.StatusCode != 503 || body != "draining\n" {
		t.Errorf("/readyz, draining: %d %q", res.StatusCode, body)
	}
	if res, body := serve(t, s, "/healthz"); res.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz while draining: %d %q", res.StatusCode, body)
	}
}

// TestMetricsRoute: with ServeMetrics, /metrics serves the metrics in
// Prometheus's text format, needs no session and sets no cookie, and counts
// requests by the pattern of their route: two conversation pages of
// different ids are one series, a path no route has is "unmatched", and
// no raw path is ever a label. Without ServeMetrics, /metrics is no route
// of its own.
func TestMetricsRoute(t *testing.T) {
	m := metrics.New()
	ts := newServer(t, 0, 0, func(o *web.Options) { o.Metrics, o.ServeMetrics = m, true })
	s := ts.Config.Handler.(*web.Server)

	for _, p := range []string{"/c/aaaaaaaaaaaaaaaaaaaaaaaaaa", "/c/bbbbbbbbbbbbbbbbbbbbbbbbbb", "/no/such/page", "/healthz"} {
		serve(t, s, p)
	}
	serve(t, s, "/metrics") // counted once it has been served: the next scrape shows it
	res, body := serve(t, s, "/metrics")
	if res.StatusCode != 200 || res.Header.Get("Set-Cookie") != "" {
		t.Fatalf("/metrics: %d, cookie %q", res.StatusCode, res.Header.Get("Set-Cookie"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	count := map[string]float64{}
	for _, mt := range fams["hxchat_http_requests_total"].GetMetric() {
		var route, code string
		for _, l := range mt.GetLabel() {
			switch l.GetName() {
			case "route":
				route = l.GetValue()
			case "code":
				code = l.GetValue()
			}
		}
		if strings.Contains(route, "aaaa") || strings.Contains(route, "/no/such") {
			t.Errorf("a raw path as a label: %q", route)
		}
		count[route+" "+code] += mt.GetCounter().GetValue()
	}
	for key, want := range map[string]float64{
		"GET /c/{id} 404":  2, // two ids, one series (neither is the session's)
		"unmatched 404":    1,
		"GET /healthz 200": 1,
		"GET /metrics 200": 1,
	} {
		if count[key] != want {
			t.Errorf("requests %q: %v, want %v (all: %v)", key, count[key], want, count)
		}
	}
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}

	plain := newServer(t, 0, 0, func(o *web.Options) { o.Metrics = m })
	if res, body := serve(t, plain.Config.Handler, "/metrics"); res.StatusCode == 200 && strings.Contains(body, "hxchat_") {
		t.Errorf("/metrics served without ServeMetrics: %d", res.StatusCode)
	}
}

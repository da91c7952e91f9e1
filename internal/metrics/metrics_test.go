package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/metrics/metricstest"
	"github.com/hxchat/hxchat/postgres"
	"github.com/hxchat/hxchat/postgres/pgtest"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/storetest"
)

// TestAnswer: an answer's retries count by cause, its texts as tokens with
// one time to the first token, its end by outcome and code with its
// duration and the model's usage; the running gauge goes up and back down.
// An answer that ends in an error counts under its code. A second End
// records nothing.
func TestAnswer(t *testing.T) {
	m := New()
	g := m.Gatherer()
	a := m.StartAnswer()
	if v := metricstest.Value(t, g, "hxchat_generations_running"); v != 1 {
		t.Errorf("running: %v, want 1", v)
	}
	for _, status := range []int{429, 503, 0, 408, 429} {
		a.Retry(hxchat.Retry{Status: status})
	}
	for range 5 {
		a.Text()
	}
	a.End(hxchat.StateDone, "", hxchat.Usage{PromptTokens: 12, CompletionTokens: 5})
	a.End(hxchat.StateDone, "", hxchat.Usage{PromptTokens: 12, CompletionTokens: 5})

	b := m.StartAnswer()
	b.End(hxchat.StateError, hxchat.ERateLimited, hxchat.Usage{})

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hxchat_provider_retries_total", []string{"cause", "429"}, 2},
		{"hxchat_provider_retries_total", []string{"cause", "5xx"}, 1},
		{"hxchat_provider_retries_total", []string{"cause", "network"}, 1},
		{"hxchat_provider_retries_total", []string{"cause", "other"}, 1},
		{"hxchat_tokens_total", nil, 5},
		{"hxchat_model_first_token_seconds", nil, 1},
		{"hxchat_answer_duration_seconds", nil, 2},
		{"hxchat_answers_total", []string{"outcome", "done", "code", ""}, 1},
		{"hxchat_answers_total", []string{"outcome", "stopped", "code", ""}, 0},
		{"hxchat_answers_total", []string{"outcome", "error", "code", "rate_limited"}, 1},
		{"hxchat_usage_tokens_total", []string{"kind", "prompt"}, 12},
		{"hxchat_usage_tokens_total", []string{"kind", "completion"}, 5},
		{"hxchat_generations_running", nil, 0},
	} {
		if v := metricstest.Value(t, g, c.name, c.labels...); v != c.want {
			t.Errorf("%s %v: %v, want %v", c.name, c.labels, v, c.want)
		}
	}
}

// TestNil: every method works on a nil *Metrics and records nothing; Store
// returns the store itself.
func TestNil(t *testing.T) {
	var m *Metrics
	m.Request("GET /", 200, time.Millisecond)
	m.StreamOpened()
	m.StreamClosed()
	m.LeaseTakeovers(3)
	m.WatchPool(nil)
	a := m.StartAnswer()
	a.Retry(hxchat.Retry{Status: 429})
	a.Text()
	a.End(hxchat.StateDone, "", hxchat.Usage{})
	s := openSQLite(t)
	if m.Store(s) != s {
		t.Error("a nil *Metrics wrapped the store")
	}
}

// TestCounters: requests by route and status, open streams, lease
// takeovers.
func TestCounters(t *testing.T) {
	m := New()
	g := m.Gatherer()
	m.Request("GET /c/{id}", 200, time.Millisecond)
	m.Request("GET /c/{id}", 200, 2*time.Millisecond)
	m.Request("GET /c/{id}", 404, time.Millisecond)
	m.Request("unmatched", 999, time.Millisecond)
	m.StreamOpened()
	m.StreamOpened()
	m.StreamClosed()
	m.LeaseTakeovers(3)
	m.LeaseTakeovers(0)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hxchat_http_requests_total", []string{"route", "GET /c/{id}", "code", "200"}, 2},
		{"hxchat_http_requests_total", []string{"route", "GET /c/{id}", "code", "404"}, 1},
		{"hxchat_http_requests_total", []string{"route", "unmatched", "code", "999"}, 1},
		{"hxchat_http_request_duration_seconds", []string{"route", "GET /c/{id}"}, 3},
		{"hxchat_sse_streams_open", nil, 1},
		{"hxchat_lease_takeovers_total", nil, 3},
	} {
		if v := metricstest.Value(t, g, c.name, c.labels...); v != c.want {
			t.Errorf("%s %v: %v, want %v", c.name, c.labels, v, c.want)
		}
	}
}

// TestHandler: the handler serves every family in the text format, the Go
// runtime's and the process's included, and a scraper can parse it.
func TestHandler(t *testing.T) {
	m := New()
	a := m.StartAnswer()
	a.Text()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Result().Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "hxchat_tokens_total",
		"hxchat_answers_total", "hxchat_provider_retries_total", "hxchat_generations_running"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if w.Header().Get("Set-Cookie") != "" {
		t.Error("a cookie")
	}
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hxchat.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStoreSuite: the timed store passes the store's whole behavioural
// suite, over SQLite: it changes nothing of what the store does.
func TestStoreSuite(t *testing.T) {
	m := New()
	storetest.Run(t, func(t *testing.T) hxchat.Store { return m.Store(openSQLite(t)) })
	if v := metricstest.Value(t, m.Gatherer(), "hxchat_store_duration_seconds", "op", "start_turn"); v <= 0 {
		t.Errorf("start_turn timed %v times", v)
	}
}

// TestStoreTimes: each call is timed under its operation, Checkpoint and
// Checkpoints both as "checkpoint"; a missing row is no failure, a closed
// store's calls are. Ping reaches the store underneath, and Unwrap returns
// it.
func TestStoreTimes(t *testing.T) {
	m := New()
	g := m.Gatherer()
	raw := openSQLite(t)
	s := m.Store(raw)
	ctx := context.Background()
	if err := s.CreateSession(ctx, hxchat.NewID()); err != nil {
		t.Fatal(err)
	}
	s.Checkpoint(ctx, 1, "a")
	s.Checkpoints(ctx, []hxchat.Partial{{ID: 1, Content: "ab"}})
	if _, err := s.Message(ctx, hxchat.NewID(), 1); hxchat.Code(err) != hxchat.ENotFound {
		t.Fatalf("Message: %v", err)
	}
	if err := s.(hxchat.Pinger).Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if s.(interface{ Unwrap() hxchat.Store }).Unwrap() != raw {
		t.Error("Unwrap is not the store underneath")
	}
	raw.Close()
	if _, err := s.Conversations(ctx, hxchat.NewID()); err == nil {
		t.Fatal("Conversations on a closed store: no error")
	}
	if err := s.(hxchat.Pinger).Ping(ctx); err == nil {
		t.Fatal("Ping on a closed store: no error")
	}
	for _, c := range []struct {
		name, op string
		want     float64
	}{
		{"hxchat_store_duration_seconds", "create_session", 1},
		{"hxchat_store_duration_seconds", "checkpoint", 2},
		{"hxchat_store_duration_seconds", "message", 1},
		{"hxchat_store_duration_seconds", "ping", 2},
		{"hxchat_store_errors_total", "message", 0},
		{"hxchat_store_errors_total", "conversations", 1},
		{"hxchat_store_errors_total", "ping", 1},
	} {
		if v := metricstest.Value(t, g, c.name, "op", c.op); v != c.want {
			t.Errorf("%s{op=%q}: %v, want %v", c.name, c.op, v, c.want)
		}
	}
}

// TestStoreTimesEveryMethod: every method of hxchat.Store but Close is
// written out on the timed store, not passed on untimed through the
// embedded interface (whose promoted methods the compiler generates): a
// method added to hxchat.Store fails here until it is timed.
func TestStoreTimesEveryMethod(t *testing.T) {
	ts := reflect.TypeOf(New().Store(openSQLite(t)))
	it := reflect.TypeFor[hxchat.Store]()
	for i := range it.NumMethod() {
		name := it.Method(i).Name
		if name == "Close" {
			continue
		}
		m, _ := ts.MethodByName(name)
		pc := m.Func.Pointer()
		file, _ := runtime.FuncForPC(pc).FileLine(pc)
		if filepath.Base(file) != "store.go" {
			t.Errorf("%s is not timed (it comes from %s)", name, file)
		}
	}
}

// TestPool: the pool's metrics come from a real PostgreSQL pool: its
// maximum, its connections by state, and the acquires that a query made.
func TestPool(t *testing.T) {
	pg, err := postgres.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	m := New()
	m.WatchPool(pg.PoolStat)
	g := m.Gatherer()
	if _, err := pg.Conversations(t.Context(), hxchat.NewID()); err != nil {
		t.Fatal(err)
	}
	if v := metricstest.Value(t, g, "hxchat_db_pool_max_connections"); v < 4 {
		t.Errorf("max connections %v, want at least 4 (the default)", v)
	}
	if v := metricstest.Value(t, g, "hxchat_db_pool_acquires_total"); v < 1 {
		t.Errorf("acquires %v after a query", v)
	}
	total := 0.0
	for _, state := range []string{"acquired", "idle", "constructing"} {
		v := metricstest.Value(t, g, "hxchat_db_pool_connections", "state", state)
		if v < 0 {
			t.Errorf("no series for %s connections", state)
		}
		total += v
	}
	if total < 1 {
		t.Errorf("%v connections in the pool after a query", total)
	}
	for _, name := range []string{"hxchat_db_pool_acquires_waited_total", "hxchat_db_pool_acquire_wait_seconds_total",
		"hxchat_db_pool_acquires_canceled_total", "hxchat_db_pool_connects_total"} {
		if metricstest.Value(t, g, name) < 0 {
			t.Errorf("no %s", name)
		}
	}
	if err := pg.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	pg.Close()
	if err := pg.Ping(t.Context()); err == nil {
		t.Error("Ping of a closed pool: no error")
	}
}

// TestTextAllocates: recording a token allocates nothing.
func TestTextAllocates(t *testing.T) {
	a := New().StartAnswer()
	if n := testing.AllocsPerRun(1000, a.Text); n != 0 {
		t.Errorf("Text allocates %v times", n)
	}
}

// BenchmarkText is the cost that metrics add to every token: one atomic
// add (go test -run '^$' -bench Text -benchmem ./internal/metrics). The
// first token's time is observed once, outside the loop.
func BenchmarkText(b *testing.B) {
	a := New().StartAnswer()
	a.Text()
	for b.Loop() {
		a.Text()
	}
}

// BenchmarkTextParallel: tokens of many answers at once, on one counter.
func BenchmarkTextParallel(b *testing.B) {
	m := New()
	b.RunParallel(func(pb *testing.PB) {
		a := m.StartAnswer()
		for pb.Next() {
			a.Text()
		}
	})
}

// BenchmarkAtomicAdd is the floor of BenchmarkText: the atomic add alone.
func BenchmarkAtomicAdd(b *testing.B) {
	var n atomic.Uint64
	for b.Loop() {
		n.Add(1)
	}
}

package live_test

import (
	"context"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/metrics"
	"github.com/hxchat/hxchat/internal/metrics/metricstest"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/sqlite"
)

// TestRunnerMetrics: the runner records its generations: running while they
// run, and by outcome when they end: one stopped by the user, one cut short
// by the end of a drain (interrupted, code shutdown); every piece of text as
// a token, whatever the outcome.
func TestRunnerMetrics(t *testing.T) {
	store, err := sqlite.Open(context.Background(), t.TempDir()+"/t.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m := metrics.New()
	p := &script{pieces: []string{"a", "b", "c"}, gate: make(chan struct{}), after: 1}
	r := live.NewRunner(live.RunnerOptions{Store: store, Provider: p, Hub: live.NewHub(0, 1<<20), Metrics: m})
	sid := hxchat.NewID()
	var answers []*hxchat.Message
	for range 2 {
		conv := &hxchat.Conversation{SessionID: sid}
		user := &hxchat.Message{Role: hxchat.RoleUser, Content: "q", State: hxchat.StateDone}
		answer := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
		if err := store.StartTurn(context.Background(), conv, user, answer); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(answer, sid, hxchat.ChatRequest{}, plainAnswer{}); err != nil {
			t.Fatal(err)
		}
		answers = append(answers, answer)
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricstest.Value(t, m.Gatherer(), "hxchat_tokens_total") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if v := metricstest.Value(t, m.Gatherer(), "hxchat_generations_running"); v != 2 {
		t.Errorf("running: %v, want 2", v)
	}
	r.StopWait(context.Background(), answers[0].ID)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time to drain: the other answer is interrupted
	r.Shutdown(ctx)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hxchat_generations_running", nil, 0},
		{"hxchat_tokens_total", nil, 2},
		{"hxchat_answers_total", []string{"code", "", "outcome", "stopped"}, 1},
		{"hxchat_answers_total", []string{"code", "shutdown", "outcome", "interrupted"}, 1},
		{"hxchat_answers_total", []string{"code", "", "outcome", "done"}, 0},
	} {
		if v := metricstest.Value(t, m.Gatherer(), c.name, c.labels...); v != c.want {
			t.Errorf("%s %v: %v, want %v", c.name, c.labels, v, c.want)
		}
	}
}

// BenchmarkRunnerTokenMetrics is BenchmarkRunnerToken with the metrics
// recording every answer and token: the difference between the two is what
// the metrics cost a token (go test -run '^$' -bench 'RunnerToken' -count 5
// ./live).
func BenchmarkRunnerTokenMetrics(b *testing.B) {
	const perAnswer = 1000
	data := tokenData(false)
	hub := live.NewHub(0, benchMaxLog)
	store := &nopStore{}
	m := metrics.New()
	b.ReportAllocs()
	for i, left := 0, b.N; left > 0; i, left = i+1, left-perAnswer {
		n := min(left, perAnswer)
		r := live.NewRunner(live.RunnerOptions{Store: store, Provider: tokens{n: n}, Hub: hub, Metrics: m})
		answer := &hxchat.Message{ID: benchMsg + int64(i), Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
		if err := r.Start(answer, "owner", hxchat.ChatRequest{}, fixedAnswer{data}); err != nil {
			b.Fatal(err)
		}
		if err := r.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	if got := metricstest.Value(b, m.Gatherer(), "hxchat_tokens_total"); got != float64(b.N) {
		b.Fatalf("%v tokens counted, want %d", got, b.N)
	}
}

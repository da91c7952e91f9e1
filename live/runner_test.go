package live_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/sqlite"
)

// script is a Provider that yields its pieces, waiting on gate (when set)
// before each piece from index after on, and ends with err or "stop".
type script struct {
	pieces []string
	gate   chan struct{}
	after  int
	err    error
}

func (s *script) Name() string  { return "script" }
func (s *script) Model() string { return "script-1" }
func (s *script) Stream(ctx context.Context, _ hxchat.ChatRequest) iter.Seq2[hxchat.Delta, error] {
	return func(yield func(hxchat.Delta, error) bool) {
		for i, p := range s.pieces {
			if s.gate != nil && i >= s.after {
				select {
				case <-s.gate:
				case <-ctx.Done():
					yield(hxchat.Delta{}, ctx.Err())
					return
				}
			}
			if !yield(hxchat.Delta{Text: p}, nil) {
				return
			}
		}
		if s.err != nil {
			yield(hxchat.Delta{}, s.err)
			return
		}
		yield(hxchat.Delta{FinishReason: "stop", Usage: &hxchat.Usage{PromptTokens: 3, CompletionTokens: int64(len(s.pieces))}}, nil)
	}
}

// plainAnswer renders events as the text itself, so tests can read them.
type plainAnswer struct{}

func (plainAnswer) Grow(text string) ([]byte, int) { return []byte(text), 0 }
func (plainAnswer) Final(m *hxchat.Message, _ error) []byte {
	return []byte("final:" + string(m.State))
}
func (plainAnswer) Wait(r hxchat.Retry) []byte { return []byte("wait:" + r.After.String()) }
func (plainAnswer) Finish(string) []byte       { return nil }

type fixture struct {
	store  *sqlite.Store
	hub    *live.Hub
	runner *live.Runner
	conv   *hxchat.Conversation
}

func newFixture(t *testing.T, p hxchat.Provider) *fixture {
	t.Helper()
	store, err := sqlite.Open(context.Background(), t.TempDir()+"/t.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hub := live.NewHub(time.Minute, 1<<20)
	r := live.NewRunner(live.RunnerOptions{Store: store, Provider: p, Hub: hub, Checkpoint: 10 * time.Millisecond})
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	sid := hxchat.NewID()
	if err := store.CreateSession(context.Background(), sid); err != nil {
		t.Fatal(err)
	}
	return &fixture{store: store, hub: hub, runner: r, conv: &hxchat.Conversation{SessionID: sid}}
}

// start stores a turn and starts its answer.
func (f *fixture) start(t *testing.T) *hxchat.Message {
	t.Helper()
	user := &hxchat.Message{Role: hxchat.RoleUser, Content: "q", State: hxchat.StateDone}
	answer := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
	if err := f.store.StartTurn(context.Background(), f.conv, user, answer); err != nil {
		t.Fatal(err)
	}
	req := hxchat.ChatRequest{Messages: []hxchat.Turn{{Role: hxchat.RoleUser, Content: "q"}}}
	if err := f.runner.Start(answer, f.conv.SessionID, req, plainAnswer{}); err != nil {
		t.Fatal(err)
	}
	return answer
}

// wait waits until the stored answer satisfies ok.
func (f *fixture) wait(t *testing.T, id int64, what string, ok func(*hxchat.Message) bool) *hxchat.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := f.store.Message(context.Background(), f.conv.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; answer is %+v", what, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func final(m *hxchat.Message) bool { return m.State.Final() }

func TestRunnerAnswers(t *testing.T) {
	f := newFixture(t, &script{pieces: []string{"a", "b", "c"}})
	a := f.start(t)
	m := f.wait(t, a.ID, "the end", final)
	if m.Content != "abc" || m.State != hxchat.StateDone || m.FinishReason != "stop" || m.Usage.CompletionTokens != 3 {
		t.Errorf("stored %+v", m)
	}
	st, ok := f.hub.Get(a.ID)
	if !ok {
		t.Fatal("stream gone at once")
	}
	frames, _, ended, _ := st.Follow(0, nil, make(chan struct{}, 1))
	if !ended || len(frames) != 5 { // 3 steps, the final bubble, the final event
		t.Fatalf("%d frames, ended %v", len(frames), ended)
	}
	if !strings.Contains(string(frames[4]), "event: done") || !strings.Contains(string(frames[3]), "final:done") {
		t.Errorf("last frames %q %q", frames[3], frames[4])
	}
}

// TestRunnerCheckpoints: a growing answer is saved while it grows, also when
// the model stalls, before it ends.
func TestRunnerCheckpoints(t *testing.T) {
	gate := make(chan struct{})
	f := newFixture(t, &script{pieces: []string{"first ", "second"}, gate: gate, after: 1})
	a := f.start(t)
	f.wait(t, a.ID, "a checkpoint during a stall", func(m *hxchat.Message) bool {
		return m.State == hxchat.StateStreaming && m.Content == "first "
	})
	close(gate)
	f.wait(t, a.ID, "the end", func(m *hxchat.Message) bool { return m.State == hxchat.StateDone && m.Content == "first second" })
}

func TestRunnerStop(t *testing.T) {
	gate := make(chan struct{})
	f := newFixture(t, &script{pieces: []string{"kept ", "never"}, gate: gate, after: 1})
	a := f.start(t)
	st, _ := f.hub.Get(a.ID)
	waitSeq(t, st, 1)
	if !f.runner.Stop(a.ID) {
		t.Fatal("Stop: not running")
	}
	m := f.wait(t, a.ID, "stopped", final)
	if m.State != hxchat.StateStopped || m.Content != "kept " {
		t.Errorf("stored %+v", m)
	}
	// The end is stored before the generation sends its final events and
	// lets go of the answer: wait for that, then it is no longer running.
	for deadline := time.Now().Add(5 * time.Second); f.runner.Running() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stopped answer's generation does not end")
		}
	}
	if f.runner.Stop(a.ID) {
		t.Error("Stop of a finished answer reported running")
	}
}

// TestRunnerStopWait: StopWait returns once the stopped answer is stored,
// so that the conversation takes its next message at once.
func TestRunnerStopWait(t *testing.T) {
	gate := make(chan struct{})
	f := newFixture(t, &script{pieces: []string{"kept ", "never"}, gate: gate, after: 1})
	a := f.start(t)
	st, _ := f.hub.Get(a.ID)
	waitSeq(t, st, 1)
	if !f.runner.StopWait(t.Context(), a.ID) {
		t.Fatal("StopWait: not running")
	}
	m, err := f.store.Message(t.Context(), f.conv.ID, a.ID)
	if err != nil || m.State != hxchat.StateStopped || m.Content != "kept " {
		t.Errorf("just after StopWait the store holds %+v (%v), want it stopped with its text", m, err)
	}
	if f.runner.StopWait(t.Context(), a.ID) {
		t.Error("StopWait of a finished answer reported running")
	}
}

func TestRunnerError(t *testing.T) {
	f := newFixture(t, &script{pieces: []string{"part"}, err: &hxchat.Error{Code: hxchat.ERateLimited, Message: "busy"}})
	a := f.start(t)
	m := f.wait(t, a.ID, "failed", final)
	if m.State != hxchat.StateError || m.ErrorCode != hxchat.ERateLimited || m.Content != "part" {
		t.Errorf("stored %+v", m)
	}
}

// TestRunnerShutdown: answers that end within the drain time end normally;
// the rest are stored interrupted with their text, and new ones are refused.
func TestRunnerShutdown(t *testing.T) {
	gate := make(chan struct{})
	f := newFixture(t, &script{pieces: []string{"so far", "never"}, gate: gate, after: 1})
	a := f.start(t)
	st, _ := f.hub.Get(a.ID)
	waitSeq(t, st, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.runner.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	m, _ := f.store.Message(context.Background(), f.conv.ID, a.ID)
	if m.State != hxchat.StateInterrupted || m.Content != "so far" {
		t.Errorf("stored %+v", m)
	}
	if !st.Snapshot().Ended {
		t.Error("stream of an interrupted answer not ended")
	}
	answer := &hxchat.Message{ID: 999}
	if err := f.runner.Start(answer, "", hxchat.ChatRequest{}, plainAnswer{}); hxchat.Code(err) != hxchat.EShutdown {
		t.Errorf("Start while draining: %v", err)
	}
}

func waitSeq(t *testing.T, st *live.Stream, seq int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st.Snapshot().Seq >= seq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream never reached %d", seq)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// slowStore is a store whose checkpoints take their time, counting how many
// run at once.
type slowStore struct {
	hxchat.Store
	mu        sync.Mutex
	now, most int
	calls     int
	widest    int // most answers in one call
}

func (s *slowStore) Checkpoints(ctx context.Context, parts []hxchat.Partial) error {
	s.mu.Lock()
	s.now++
	s.calls++
	s.most = max(s.most, s.now)
	s.widest = max(s.widest, len(parts))
	s.mu.Unlock()
	time.Sleep(30 * time.Millisecond) // slower than the checkpoint interval
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return s.Store.Checkpoints(ctx, parts)
}

// TestRunnerCheckpointsDoNotPileUp: when the store is slower than the
// checkpoint interval, saves still go one batch at a time, each with every
// running answer.
func TestRunnerCheckpointsDoNotPileUp(t *testing.T) {
	var pieces []string
	for range 200 {
		pieces = append(pieces, "x")
	}
	gate := make(chan struct{})
	f := newFixture(t, &script{pieces: pieces, gate: gate})
	slow := &slowStore{Store: f.store}
	f.runner = live.NewRunner(live.RunnerOptions{Store: slow, Provider: &script{pieces: pieces, gate: gate}, Hub: f.hub, Checkpoint: time.Millisecond})
	a := f.start(t)
	for range pieces {
		gate <- struct{}{}
		time.Sleep(time.Millisecond)
	}
	f.wait(t, a.ID, "the end", final)
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.most != 1 || slow.calls == 0 {
		t.Errorf("%d checkpoints at once (of %d), want 1", slow.most, slow.calls)
	}
}

// TestRunnerLimits: an owner may run MaxPerOwner answers at once, everybody
// MaxTotal; a finished answer frees its place.
func TestRunnerLimits(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	f := newFixture(t, &script{pieces: []string{"x"}, gate: gate})
	f.runner = live.NewRunner(live.RunnerOptions{Store: f.store, Provider: &script{pieces: []string{"x"}, gate: gate}, Hub: f.hub,
		MaxPerOwner: 2, MaxTotal: 3})
	t.Cleanup(func() { f.runner.Shutdown(context.Background()) })
	start := func(owner string) (*hxchat.Message, error) {
		user := &hxchat.Message{Role: hxchat.RoleUser, Content: "q", State: hxchat.StateDone}
		answer := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
		conv := &hxchat.Conversation{SessionID: f.conv.SessionID}
		if err := f.store.StartTurn(context.Background(), conv, user, answer); err != nil {
			t.Fatal(err)
		}
		return answer, f.runner.Start(answer, owner, hxchat.ChatRequest{}, plainAnswer{})
	}
	a1, err1 := start("a")
	_, err2 := start("a")
	_, err3 := start("a")
	if err1 != nil || err2 != nil || hxchat.Code(err3) != hxchat.ETooMany {
		t.Fatalf("owner a: %v, %v, %v; want the third refused", err1, err2, err3)
	}
	if hxchat.Code(f.runner.Admit("a")) != hxchat.ETooMany || f.runner.Admit("b") != nil {
		t.Error("Admit disagrees with Start")
	}
	if _, err := start("b"); err != nil {
		t.Fatalf("owner b: %v", err)
	}
	if _, err := start("c"); hxchat.Code(err) != hxchat.ETooMany {
		t.Fatalf("a fourth answer in all: %v, want refused", err)
	}
	f.runner.Stop(a1.ID)
	waitFor := time.Now().Add(10 * time.Second)
	for f.runner.Admit("a") != nil {
		if time.Now().After(waitFor) {
			t.Fatal("a stopped answer did not free its place")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRunnerCheckpointsBatch: the texts of all running answers are saved
// together while they stall, in slices of at most CheckpointSlice answers.
func TestRunnerCheckpointsBatch(t *testing.T) {
	gate := make(chan struct{})
	f := newFixture(t, &script{})
	slow := &slowStore{Store: f.store}
	f.runner = live.NewRunner(live.RunnerOptions{Store: slow, Provider: &script{pieces: []string{"so far", "rest"}, gate: gate, after: 1},
		Hub: f.hub, Checkpoint: 5 * time.Millisecond})
	var ids []int64
	for range 2*live.CheckpointSlice + 3 {
		ids = append(ids, f.start(t).ID)
	}
	for _, id := range ids {
		f.wait(t, id, "a checkpoint during the stall", func(m *hxchat.Message) bool { return m.Content == "so far" })
	}
	close(gate)
	for _, id := range ids {
		f.wait(t, id, "the end", final)
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.widest < 2 || slow.widest > live.CheckpointSlice || slow.most != 1 {
		t.Errorf("at most %d answers in one save and %d saves at once; want several in one (at most %d), one at a time",
			slow.widest, slow.most, live.CheckpointSlice)
	}
}

// failingStore fails its first Checkpoints call.
type failingStore struct {
	hxchat.Store
	mu     sync.Mutex
	failed bool
}

func (s *failingStore) Checkpoints(ctx context.Context, parts []hxchat.Partial) error {
	s.mu.Lock()
	first := !s.failed
	s.failed = true
	s.mu.Unlock()
	if first {
		return errors.New("database is locked")
	}
	return s.Store.Checkpoints(ctx, parts)
}

// TestRunnerCheckpointRetried: when a checkpoint fails, the next tick saves
// the text again, even though the answer stalls and its text did not grow.
func TestRunnerCheckpointRetried(t *testing.T) {
	gate := make(chan struct{})
	f := newFixture(t, &script{pieces: []string{"first ", "second"}, gate: gate, after: 1})
	failing := &failingStore{Store: f.store}
	f.runner = live.NewRunner(live.RunnerOptions{Store: failing, Provider: &script{pieces: []string{"first ", "second"}, gate: gate, after: 1},
		Hub: f.hub, Checkpoint: 10 * time.Millisecond})
	a := f.start(t)
	f.wait(t, a.ID, "the stalled text saved after a failed checkpoint", func(m *hxchat.Message) bool {
		return m.State == hxchat.StateStreaming && m.Content == "first "
	})
	if !failing.failed {
		t.Error("no checkpoint failed")
	}
	close(gate)
	f.wait(t, a.ID, "the end", func(m *hxchat.Message) bool { return m.State == hxchat.StateDone })
}

// panicky renders as plainAnswer does, but panics at its third step, or at
// the end.
type panicky struct {
	plainAnswer
	steps   *int
	atFinal bool
}

func (p panicky) Grow(text string) ([]byte, int) {
	if *p.steps++; *p.steps == 3 && !p.atFinal {
		panic("a bug in rendering")
	}
	return p.plainAnswer.Grow(text)
}

func (p panicky) Final(m *hxchat.Message, err error) []byte {
	if p.atFinal {
		panic("a bug in rendering the end")
	}
	return p.plainAnswer.Final(m, err)
}

// TestRunnerRenderPanic: a renderer that panics ends its answer, not the
// process: the answer is stored as failed with the text it had, and its
// stream gets its final events.
func TestRunnerRenderPanic(t *testing.T) {
	for _, atFinal := range []bool{false, true} {
		f := newFixture(t, &script{pieces: []string{"a", "b", "c", "d"}})
		user := &hxchat.Message{Role: hxchat.RoleUser, Content: "q", State: hxchat.StateDone}
		answer := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
		if err := f.store.StartTurn(context.Background(), f.conv, user, answer); err != nil {
			t.Fatal(err)
		}
		steps := 0
		req := hxchat.ChatRequest{Messages: []hxchat.Turn{{Role: hxchat.RoleUser, Content: "q"}}}
		if err := f.runner.Start(answer, f.conv.SessionID, req, panicky{steps: &steps, atFinal: atFinal}); err != nil {
			t.Fatal(err)
		}
		m := f.wait(t, answer.ID, "the end of the answer", final)
		switch {
		case !atFinal && (m.State != hxchat.StateError || m.ErrorCode != hxchat.EInternal || m.Content != "abc"):
			t.Errorf("after a panic in Grow: %s %s %q, want error internal \"abc\"", m.State, m.ErrorCode, m.Content)
		case atFinal && (m.State != hxchat.StateDone || m.Content != "abcd"):
			t.Errorf("after a panic in Final: %s %q", m.State, m.Content)
		}
		s, ok := f.hub.Get(answer.ID)
		if !ok {
			t.Fatal("the stream is gone")
		}
		// The end is stored before the stream closes: wait for the close.
		changed := make(chan struct{}, 1)
		frames, _, ended, _ := s.Follow(0, nil, changed)
		for !ended {
			select {
			case <-changed:
			case <-time.After(10 * time.Second):
				t.Fatal("the stream did not end")
			}
			frames, _, ended, _ = s.Follow(0, nil, changed)
		}
		if !strings.Contains(string(frames[len(frames)-1]), "event: "+live.FinalEvent) {
			t.Errorf("the stream did not end with its final event: %q", frames)
		}
	}
}

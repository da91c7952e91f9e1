package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hxchat/hxchat"
)

// TestGroupedWrites queues turns and ends of answers while the writer is
// held, so that they run as one group, and checks that the writes that fail
// fail alone, each with its own error, that a write whose caller gives up
// while it waits is not run, and that the rest are all stored.
func TestGroupedWrites(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "hxchat.db"))
	sid := hxchat.NewID()

	// What the group's writes run into: a conversation that exists, an
	// answer that has ended, one that streams.
	dup := &hxchat.Conversation{SessionID: sid, Title: "First"}
	ended := &hxchat.Message{Model: "m"}
	if err := s.StartTurn(ctx, dup, &hxchat.Message{Content: "Hello?"}, ended); err != nil {
		t.Fatal(err)
	}
	ended.State = hxchat.StateDone
	if err := s.FinishAnswer(ctx, ended); err != nil {
		t.Fatal(err)
	}
	streaming := &hxchat.Message{Model: "m"}
	if err := s.StartTurn(ctx, dup, &hxchat.Message{Content: "And?"}, streaming); err != nil {
		t.Fatal(err)
	}

	// Its time of update, which a turn moves, is one no turn writes.
	if _, err := s.w.ExecContext(ctx, "UPDATE conversations SET updated_at = 1000 WHERE id = ?", dup.ID); err != nil {
		t.Fatal(err)
	}

	// The writer's one connection is held: the first write leads a group
	// of its own, and waits for the writer; the others queue behind it.
	hold, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	queued := func(n int) {
		for {
			s.group.mu.Lock()
			running, q := s.group.running, len(s.group.queue)
			s.group.mu.Unlock()
			if running && q == n {
				return
			}
			runtime.Gosched()
		}
	}
	type result struct {
		name string
		err  error
	}
	results := make(chan result)
	turnAfter := func(name string, conv *hxchat.Conversation, parent int64, wctx context.Context) *hxchat.Message {
		a := &hxchat.Message{Model: "m"}
		go func() {
			results <- result{name, s.StartTurn(wctx, conv, &hxchat.Message{Content: name + "?", ParentID: parent}, a)}
		}()
		return a
	}
	turn := func(name string, conv *hxchat.Conversation, wctx context.Context) *hxchat.Message {
		return turnAfter(name, conv, 0, wctx)
	}
	finish := func(name string, m hxchat.Message) {
		go func() {
			m.State, m.Content = hxchat.StateDone, "Done."
			results <- result{name, s.FinishAnswer(ctx, &m)}
		}()
	}

	turn("leader", &hxchat.Conversation{SessionID: sid}, ctx)
	queued(0) // it has taken its group, of one
	a := turn("a", &hxchat.Conversation{SessionID: sid}, ctx)
	queued(1)
	turn("dup", &hxchat.Conversation{ID: dup.ID, SessionID: sid}, ctx)
	queued(2)
	finish("missing", hxchat.Message{ID: 1 << 40})
	queued(3)
	gaveUp, giveUp := context.WithCancel(ctx)
	turn("gave up", &hxchat.Conversation{SessionID: sid}, gaveUp)
	queued(4)
	finish("ended", *ended)
	queued(5)
	finish("streaming", *streaming)
	queued(6)
	// A turn that changes the conversation before it finds that its
	// question's parent is not there: what it changed is undone.
	next := *dup
	turnAfter("no parent", &next, 1<<40, ctx)
	queued(7)
	b := turn("b", &hxchat.Conversation{SessionID: sid}, ctx)
	queued(8)
	giveUp()
	if r := <-results; r.name != "gave up" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("%s returned %v first; want gave up with context.Canceled", r.name, r.err)
	}
	queued(7) // it left the queue
	hold.Close()

	want := map[string]hxchat.ErrorCode{"leader": "", "a": "", "b": "", "streaming": "",
		"dup": hxchat.EConflict, "missing": hxchat.ENotFound, "ended": hxchat.EConflict, "no parent": hxchat.ENotFound}
	for range want {
		r := <-results
		if code := want[r.name]; code == "" && r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
		} else if code != "" && hxchat.Code(r.err) != code {
			t.Errorf("%s: %v; want an error of code %s", r.name, r.err, code)
		}
	}

	for _, m := range []*hxchat.Message{a, b} {
		got, err := s.Message(ctx, m.ConversationID, m.ID)
		if err != nil || got.State != hxchat.StateStreaming || got.ParentID == 0 {
			t.Errorf("answer %d: %+v, %v; want it stored, streaming, after its question", m.ID, got, err)
		}
	}
	if got, err := s.Message(ctx, dup.ID, streaming.ID); err != nil || got.State != hxchat.StateDone || got.Content != "Done." {
		t.Errorf("the streaming answer: %+v, %v; want it done", got, err)
	}
	if got, err := s.Conversation(ctx, sid, dup.ID); err != nil || got.Title != "First" || got.CurrentID != streaming.ID || got.UpdatedAt.UnixMilli() != 1000 {
		t.Errorf("the conversation that existed: %+v, %v; want it unchanged by the refused turns", got, err)
	}
	convs, err := s.Conversations(ctx, sid)
	if err != nil || len(convs) != 4 { // dup, leader, a, b
		t.Errorf("%d conversations, %v; want 4 (not the one whose caller gave up)", len(convs), err)
	}
}

// TestGroupedPanic: a write that panics in a group fails alone, with an
// error, and the group's other writes are stored; so does one alone.
func TestGroupedPanic(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "hxchat.db"))
	sid := hxchat.NewID()
	boom := func(ctx context.Context, tx wtx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO sessions (id, created_at) VALUES ('boom', 1)"); err != nil {
			return err
		}
		panic("boom")
	}
	if err := s.grouped(ctx, "boom", boom); err == nil {
		t.Error("a write that panicked alone returned no error")
	}

	hold, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	go func() {
		errs <- s.StartTurn(ctx, &hxchat.Conversation{SessionID: sid}, &hxchat.Message{Content: "first?"}, &hxchat.Message{})
	}()
	for {
		s.group.mu.Lock()
		running, n := s.group.running, len(s.group.queue)
		s.group.mu.Unlock()
		if running && n == 0 {
			break
		}
		runtime.Gosched()
	}
	// queued waits until n writes wait for the next group.
	queued := func(n int) {
		for {
			s.group.mu.Lock()
			q := len(s.group.queue)
			s.group.mu.Unlock()
			if q == n {
				return
			}
			runtime.Gosched()
		}
	}
	go func() { errs <- s.grouped(ctx, "boom", boom) }()
	queued(1)
	go func() {
		errs <- s.StartTurn(ctx, &hxchat.Conversation{SessionID: sid}, &hxchat.Message{Content: "second?"}, &hxchat.Message{})
	}()
	queued(2)
	hold.Close()
	failed := 0
	for range 3 {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d writes failed; want 1, the one that panicked", failed)
	}
	if convs, err := s.Conversations(ctx, sid); err != nil || len(convs) != 2 {
		t.Errorf("%d conversations, %v; want both turns stored", len(convs), err)
	}
	if ok, err := s.SessionExists(ctx, "boom"); err != nil || ok {
		t.Errorf("the session the panicking write inserted: %v, %v; want it rolled back", ok, err)
	}
}

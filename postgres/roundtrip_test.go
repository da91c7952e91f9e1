package postgres

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// trips counts what a store sends to PostgreSQL, through pgx's tracer: the
// round trips (a statement, or a batch of them, each waits for its answer)
// and the transactions (BEGIN … COMMIT, a batch, or a statement outside
// both). Statements that pgx prepares on a connection's first use of them
// are one more round trip each, once per connection; the counts leave them
// out (they are not per answer).
type trips struct {
	mu    sync.Mutex
	inTx  map[*pgx.Conn]bool
	trips []string // each round trip: its statement's first words, or "batch of N"
	txs   int
}

var (
	_ pgx.QueryTracer = (*trips)(nil)
	_ pgx.BatchTracer = (*trips)(nil)
)

func (t *trips) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inTx == nil {
		t.inTx = make(map[*pgx.Conn]bool)
	}
	sql := strings.ToLower(strings.TrimSpace(d.SQL))
	switch {
	case strings.HasPrefix(sql, "begin"):
		t.inTx[c] = true
		t.txs++
	case sql == "commit" || sql == "rollback":
		delete(t.inTx, c)
	case !t.inTx[c]:
		t.txs++
	}
	t.trips = append(t.trips, words(sql, 4))
	return ctx
}

func (t *trips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (t *trips) TraceBatchStart(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.inTx[c] {
		t.txs++ // a batch outside a transaction is one, implicit
	}
	t.trips = append(t.trips, fmt.Sprintf("batch of %d", d.Batch.Len()))
	return ctx
}

func (t *trips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (t *trips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// words returns the first n words of sql.
func words(sql string, n int) string {
	f := strings.Fields(sql)
	return strings.Join(f[:min(n, len(f))], " ")
}

// count runs f and returns the round trips and transactions it made.
func (t *trips) count(f func()) (trips []string, txs int) {
	t.mu.Lock()
	t.trips, t.txs = nil, 0
	t.mu.Unlock()
	f()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trips, t.txs
}

// openTraced opens a store on a fresh schema whose round trips tr counts.
func openTraced(t *testing.T, tr *trips) *Store {
	t.Helper()
	s, err := open(t.Context(), pgtest.URL(t), tr)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRoundTripsPerAnswer counts what one answer asks of PostgreSQL, store
// method by store method, as the web layer calls them (see the report of
// the change that added it): under load every round trip holds a pooled
// connection while its goroutine waits to be run again, and every
// transaction is a commit in PostgreSQL. Each operation runs twice and the
// second run is counted: the first prepares its statements on the
// connection.
func TestRoundTripsPerAnswer(t *testing.T) {
	tr := &trips{}
	s := openTraced(t, tr)
	ctx := t.Context()
	if _, err := s.Join(ctx, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	sid := hxchat.NewID()
	var conv *hxchat.Conversation
	var answer *hxchat.Message
	start := func() {
		conv = &hxchat.Conversation{SessionID: sid, Title: "t"}
		answer = &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
		if err := s.StartTurn(ctx, conv, &hxchat.Message{Role: hxchat.RoleUser, Content: "q"}, answer); err != nil {
			t.Fatal(err)
		}
	}
	finish := func() {
		answer.State, answer.Content = hxchat.StateDone, "a"
		if err := s.FinishAnswer(ctx, answer); err != nil {
			t.Fatal(err)
		}
	}
	next := func() {
		answer = &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
		if err := s.StartTurn(ctx, conv, &hxchat.Message{Role: hxchat.RoleUser, Content: "q2"}, answer); err != nil {
			t.Fatal(err)
		}
	}
	type op struct {
		name      string
		before    func() // run, uncounted, before each run of f
		f         func()
		trips, tx int // what it may make at most
	}
	ops := []op{
		// The owner: the message's POST, the answer's end.
		{"StartTurn, a new conversation", nil, start, 1, 1},
		{"Checkpoints", nil, func() {
			if err := s.Checkpoints(ctx, []hxchat.Partial{{ID: answer.ID, Content: "a"}}); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		{"FinishAnswer", start, finish, 1, 1},
		// The relaying replica: the stream's request.
		{"SessionExists", nil, func() {
			if ok, err := s.SessionExists(ctx, sid); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}, 1, 1},
		{"OwnedMessage", nil, func() {
			if _, err := s.OwnedMessage(ctx, sid, conv.ID, answer.ID); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		{"Owner", nil, func() {
			if _, _, err := s.Owner(ctx, answer.ID, time.Minute); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		// What the relaying replica asks instead of OwnedMessage and Owner.
		{"OwnedAnswer", nil, func() {
			if _, _, _, err := s.OwnedAnswer(ctx, sid, conv.ID, answer.ID, time.Minute); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		// A later message of the conversation: the limit per session, the
		// thread it follows, the turn.
		{"StreamingAnswers", nil, func() {
			if _, err := s.StreamingAnswers(ctx, sid); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		{"Conversation", nil, func() {
			if _, err := s.Conversation(ctx, sid, conv.ID); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		{"Messages", nil, func() {
			if _, err := s.Messages(ctx, conv.ID); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		{"StartTurn, a next turn", func() {
			if answer.State == hxchat.StateStreaming {
				finish()
			}
		}, next, 1, 1},
	}
	for _, o := range ops {
		if o.before != nil {
			o.before()
		}
		o.f()
		if o.before != nil {
			o.before()
		}
		got, txs := tr.count(o.f)
		t.Logf("%-30s %d round trips, %d transactions: %s", o.name, len(got), txs, strings.Join(got, "; "))
		if len(got) > o.trips || txs > o.tx {
			t.Errorf("%s: %d round trips and %d transactions, want at most %d and %d", o.name, len(got), txs, o.trips, o.tx)
		}
	}
}

// TestFinishAnswerGrouped: answers that end at once are stored in fewer
// statements than answers (grouped), each caller gets its own outcome as
// it would alone (done, ErrNotFound for a message that does not exist,
// EConflict for an answer ended already, including one ended twice in
// the same wave), and each stored answer holds its own end.
func TestFinishAnswerGrouped(t *testing.T) {
	tr := &trips{}
	s := openTraced(t, tr)
	ctx := t.Context()
	sid := hxchat.NewID()
	const n = 64
	answers := make([]*hxchat.Message, n)
	for i := range answers {
		conv := &hxchat.Conversation{SessionID: sid}
		a := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "m"}
		if err := s.StartTurn(ctx, conv, &hxchat.Message{Role: hxchat.RoleUser, Content: "q"}, a); err != nil {
			t.Fatal(err)
		}
		answers[i] = a
	}
	ended := answers[n-1] // ended before the wave: EConflict
	ended.State = hxchat.StateDone
	if err := s.FinishAnswer(ctx, ended); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n+2)
	ms := make([]*hxchat.Message, n+2)
	for i := range n - 1 {
		a := answers[i]
		ms[i] = &hxchat.Message{ID: a.ID, State: hxchat.StateDone, Content: fmt.Sprintf("answer %d", i),
			FinishReason: "stop", Usage: hxchat.Usage{PromptTokens: int64(i), CompletionTokens: 2}, RequestID: fmt.Sprint("req", i)}
		if i%2 == 1 {
			ms[i].State, ms[i].ErrorCode = hxchat.StateError, hxchat.EUpstream
			ms[i].RetryAt = time.Now().Add(time.Minute)
		}
	}
	ms[n-1] = &hxchat.Message{ID: ended.ID, State: hxchat.StateStopped}
	ms[n] = &hxchat.Message{ID: 1 << 40, State: hxchat.StateDone}                           // no such message
	ms[n+1] = &hxchat.Message{ID: answers[0].ID, State: hxchat.StateDone, Content: "twice"} // a second end of answer 0
	got, _ := tr.count(func() {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range ms {
			wg.Go(func() {
				<-start
				errs[i] = s.FinishAnswer(ctx, ms[i])
			})
		}
		close(start)
		wg.Wait()
	})
	updates := 0
	for _, g := range got {
		if strings.HasPrefix(g, "update messages") {
			updates++
		}
	}
	t.Logf("%d ends in %d statements", len(ms), updates)
	if updates >= len(ms)-2 {
		t.Errorf("%d ends at once took %d statements: not grouped", len(ms), updates)
	}
	// Of the two ends of answer 0, one stored it and the other found it
	// ended.
	if (errs[0] == nil) == (errs[n+1] == nil) || hxchat.Code(cmp.Or(errs[0], errs[n+1])) != hxchat.EConflict {
		t.Errorf("two ends of one answer: %v and %v; want one nil, one EConflict", errs[0], errs[n+1])
	}
	if hxchat.Code(errs[n-1]) != hxchat.EConflict {
		t.Errorf("the end of an answer ended already: %v, want EConflict", errs[n-1])
	}
	if hxchat.Code(errs[n]) != hxchat.ENotFound {
		t.Errorf("the end of no message: %v, want ENotFound", errs[n])
	}
	for i := 1; i < n-1; i++ {
		if errs[i] != nil {
			t.Errorf("answer %d: %v", i, errs[i])
			continue
		}
		a := answers[i]
		if ms[i].ConversationID != a.ConversationID || ms[i].Role != hxchat.RoleAssistant || ms[i].Model != "m" || !ms[i].CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("answer %d: FinishAnswer left %+v", i, ms[i])
		}
		m, err := s.Message(ctx, a.ConversationID, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := ms[i]
		if m.State != want.State || m.Content != want.Content || m.FinishReason != "stop" || m.ErrorCode != want.ErrorCode ||
			m.Usage != want.Usage || m.RequestID != want.RequestID || m.Model != "m" ||
			!m.RetryAt.Equal(want.RetryAt.UTC().Truncate(time.Millisecond)) || !m.UpdatedAt.Equal(want.UpdatedAt) {
			t.Errorf("answer %d stored as %+v, want the end %+v", i, m, want)
		}
	}
}

// TestCheckpointsSkipHeldRows: a batch of checkpoints does not wait for a
// row that another transaction holds (an answer ending, in a group of
// ends that locks many rows): it saves the others and leaves that one to
// its holder. Waiting could deadlock with a group of ends, which locks its
// rows in another order; PostgreSQL then aborted one of the two.
func TestCheckpointsSkipHeldRows(t *testing.T) {
	s := openTraced(t, &trips{})
	ctx := t.Context()
	sid := hxchat.NewID()
	var answers [2]*hxchat.Message
	for i := range answers {
		conv := &hxchat.Conversation{SessionID: sid}
		answers[i] = &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "m"}
		if err := s.StartTurn(ctx, conv, &hxchat.Message{Role: hxchat.RoleUser, Content: "q"}, answers[i]); err != nil {
			t.Fatal(err)
		}
	}
	held, free := answers[0], answers[1]
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM messages WHERE id = $1 FOR UPDATE", held.ID); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Checkpoints(wait, []hxchat.Partial{{ID: held.ID, Content: "held"}, {ID: free.ID, Content: "free"}}); err != nil {
		t.Fatalf("Checkpoints with a row held elsewhere: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m    *hxchat.Message
		want string
	}{{held, ""}, {free, "free"}} {
		got, err := s.Message(ctx, c.m.ConversationID, c.m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Content != c.want {
			t.Errorf("answer %d: content %q, want %q", c.m.ID, got.Content, c.want)
		}
	}
}

package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/fold"
)

// The ends of answers, grouped.
//
// An answer's end is one UPDATE of its row, and under load hundreds end
// each second (the load benchmark's answers end at about 333 a second).
// Each statement costs PostgreSQL its own round of parse, plan, commit
// and WAL flush, and the ends that run at once contend for the pending
// list of the trigram index that each final answer enters (every insert
// locks its metapage). In an experiment, ending answers 16 to a statement
// took the server 0.9–1.0 ms of CPU an answer, one to a statement, 16 at
// a time, 2.4–2.5 ms (without the index 0.25–0.30 against 0.5–0.7); with
// this grouping BenchmarkFinishAnswer went from 1.97–2.01 ms to 0.99–1.02
// (0.45–0.53 to 0.27–0.29 without the index), and its slowest end from
// 0.7–1.4 s to 0.11–0.14 s. So, as sqlite's group commit does, the ends that come while
// others run wait and go together, in one statement: at most endLanes
// statements run at once, each of up to maxEnds answers. An end that finds
// a lane free runs at once, alone, with the one-row statement, as before:
// only ends that would have queued are grouped. Two lanes, not one: now
// and then an end merges the trigram index's pending list into the index,
// which takes seconds under load, and the ends queued meanwhile take the
// other lane.
//
// There is no goroutine of its own: the caller that finds a lane free
// leads it, and hands the lead to the first end queued meanwhile when its
// statement is done.
const (
	endLanes = 2
	maxEnds  = 128
)

// ends is the queue of FinishAnswer calls waiting for a lane.
type ends struct {
	mu      sync.Mutex
	running int    // lanes led by a caller
	queue   []*end // oldest first
}

// end is one FinishAnswer call: its answer and, once done, its outcome.
type end struct {
	ctx  context.Context
	m    *hxchat.Message
	done chan error // the outcome, or errLead
	lead bool       // the caller leads the next group (set under ends.mu)
}

// errLead tells a queued caller that it leads the next group.
var errLead = errors.New("postgres: lead the next group of ends")

// finish stores the end of m, grouped with the ends of other callers that
// wait for a lane at the same time.
func (e *ends) finish(ctx context.Context, s *Store, m *hxchat.Message) error {
	w := &end{ctx: ctx, m: m, done: make(chan error, 1)}
	e.mu.Lock()
	e.queue = append(e.queue, w)
	if e.running < endLanes {
		e.running++
		e.mu.Unlock()
		e.lead(s, w)
		return <-w.done
	}
	e.mu.Unlock()
	var err error
	select {
	case err = <-w.done:
	case <-ctx.Done():
		e.mu.Lock()
		if i := slices.Index(e.queue, w); i >= 0 && !w.lead {
			e.queue = slices.Delete(e.queue, i, i+1)
			e.mu.Unlock()
			return ctx.Err()
		}
		e.mu.Unlock()
		err = <-w.done // it runs already, or leads: wait for it
	}
	if err == errLead {
		e.lead(s, w)
		err = <-w.done
	}
	return err
}

// lead runs self's end with the ends queued now as one group, then hands
// the lane to the first end queued meanwhile, or frees it. An end already
// handed the lead of another lane is left to lead it.
func (e *ends) lead(s *Store, self *end) {
	e.mu.Lock()
	// An answer appears once in a group (a second end of it waits for
	// the next, where it finds the answer ended, as it would alone).
	if i := slices.Index(e.queue, self); i >= 0 {
		e.queue = slices.Delete(e.queue, i, i+1)
	}
	batch := []*end{self}
	ids := map[int64]bool{self.m.ID: true}
	for i := 0; i < len(e.queue) && len(batch) < maxEnds; {
		if w := e.queue[i]; !w.lead && !ids[w.m.ID] {
			ids[w.m.ID] = true
			batch = append(batch, w)
			e.queue = slices.Delete(e.queue, i, i+1)
			continue
		}
		i++
	}
	e.mu.Unlock()

	s.finishGroup(batch)

	e.mu.Lock()
	defer e.mu.Unlock()
	for _, next := range e.queue {
		if !next.lead {
			next.lead = true
			next.done <- errLead
			return
		}
	}
	// Nobody waits for this lane: the ends still queued lead others.
	e.running--
}

// finishGroup stores the ends of ws, different answers, in one statement,
// and sends each its outcome. An answer the statement did not end (gone,
// or ended already) gets the error it would get alone; should the
// statement fail, each end runs again alone, with its caller's ctx.
func (s *Store) finishGroup(ws []*end) {
	var run []*end
	for _, w := range ws {
		if err := w.ctx.Err(); err != nil {
			w.done <- err // its caller gave up before it ran
			continue
		}
		run = append(run, w)
	}
	if len(run) <= 1 {
		for _, w := range run {
			w.done <- s.finishOne(w.ctx, w.m)
		}
		return
	}
	// Rows are locked in the order of their ids, as Checkpoints locks
	// them: two groups, or a group and a batch of checkpoints, never wait
	// for each other in a cycle.
	slices.SortFunc(run, func(a, b *end) int { return cmp.Compare(a.m.ID, b.m.ID) })
	n := len(run)
	ids, contents, folded := make([]int64, n), make([]string, n), make([]string, n)
	states, reasons, codes, models, reqs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	prompt, completion := make([]int64, n), make([]int64, n)
	retry := make([]*time.Time, n)
	for i, w := range run {
		m := w.m
		ids[i], contents[i] = m.ID, text(m.Content)
		folded[i] = fold.String(contents[i])
		states[i], reasons[i], codes[i], models[i], reqs[i] = string(m.State), text(m.FinishReason), string(m.ErrorCode), text(m.Model), text(m.RequestID)
		prompt[i], completion[i] = m.Usage.PromptTokens, m.Usage.CompletionTokens
		retry[i] = nullTime(m.RetryAt.UTC().Truncate(time.Millisecond))
	}
	t := now()
	// Not cancelled with any one caller's context: the statement is all
	// of theirs.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type ended struct {
		conv, role, model string
		created           time.Time
	}
	got := make(map[int64]ended, n)
	rows, err := s.pool.Query(ctx, finishGroupSQL, t, ids, contents, folded, states, reasons, codes, models, prompt, completion, retry, reqs)
	if err == nil {
		for rows.Next() {
			var id int64
			var e ended
			if err = rows.Scan(&id, &e.conv, &e.role, &e.model, &e.created); err != nil {
				break
			}
			got[id] = e
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		// Nothing of the statement is stored: each end runs alone.
		for _, w := range run {
			w.done <- s.finishOne(w.ctx, w.m)
		}
		return
	}
	for _, w := range run {
		e, ok := got[w.m.ID]
		if !ok {
			w.done <- s.notEnded(w.ctx, w.m.ID)
			continue
		}
		w.m.ConversationID, w.m.Role, w.m.Model = e.conv, hxchat.Role(e.role), e.model
		w.m.CreatedAt, w.m.UpdatedAt = e.created.UTC(), t
		w.done <- nil
	}
}

// finishGroupSQL ends several answers, the arrays $2… joined as rows, as
// finishOne's statement ends one.
const finishGroupSQL = "UPDATE messages m SET content = p.content, content_folded = p.folded, state = p.state, " +
	"finish_reason = p.reason, error_code = p.code, model = coalesce(nullif(p.model, ''), m.model), " +
	"prompt_tokens = p.prompt, completion_tokens = p.completion, updated_at = $1, retry_at = p.retry, request_id = p.req " +
	"FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], " +
	"$9::bigint[], $10::bigint[], $11::timestamptz[], $12::text[]) " +
	"AS p (id, content, folded, state, reason, code, model, prompt, completion, retry, req) " +
	"WHERE m.id = p.id AND m.state = 'streaming' RETURNING m.id, m.conversation_id, m.role, m.model, m.created_at"

// finishOne stores the end of one answer, in a statement of its own.
func (s *Store) finishOne(ctx context.Context, m *hxchat.Message) error {
	t := now()
	content := text(m.Content)
	var convID, role, model string
	var created time.Time
	err := s.pool.QueryRow(ctx, "UPDATE messages SET "+
		"content = $1, content_folded = $2, state = $3, finish_reason = $4, error_code = $5, model = coalesce(nullif($6, ''), model), "+
		"prompt_tokens = $7, completion_tokens = $8, updated_at = $9, retry_at = $10, request_id = $11 "+
		"WHERE id = $12 AND state = 'streaming' RETURNING conversation_id, role, model, created_at",
		content, fold.String(content), string(m.State), text(m.FinishReason), string(m.ErrorCode), text(m.Model),
		m.Usage.PromptTokens, m.Usage.CompletionTokens, t, nullTime(m.RetryAt.UTC().Truncate(time.Millisecond)),
		text(m.RequestID), m.ID).Scan(&convID, &role, &model, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.notEnded(ctx, m.ID)
	}
	if err != nil {
		return wrap("finish answer", err)
	}
	m.ConversationID, m.Role, m.Model = convID, hxchat.Role(role), model
	m.CreatedAt, m.UpdatedAt = created.UTC(), t
	return nil
}

// notEnded is the error of an end that changed nothing: hxchat.ErrNotFound
// when there is no message id, else an EConflict error (it had ended).
func (s *Store) notEnded(ctx context.Context, id int64) error {
	if err := s.exists(ctx, "finish answer", id); err != nil {
		return err
	}
	return hxchat.Errorf(hxchat.EConflict, "The answer has ended already.")
}

package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/metrics"
)

// AnswerRenderer turns the steps of one answer into the data of SSE events.
// The web layer implements it with its templates, so that each step is
// rendered once, in the generation, and every reader only copies bytes. Its
// methods are called from the answer's generation goroutine only, in order.
type AnswerRenderer interface {
	// Grow renders the event for an answer whose text is now text (the whole
	// text so far; it only ever grows), and returns the end of the text's
	// finished part: the part the renderer will not render again, which a
	// snapshot renders apart from the rest. data needs to stay valid only
	// until the next call: the runner copies it into the event at once.
	Grow(text string) (data []byte, mark int)
	// Finish renders the event that completes the answer's text once it
	// is all there is (text is the last Grow's): what a finished text
	// shows differently from a growing one, like a link that the text
	// ends in; nil when nothing does. Its data is valid as Grow's is.
	Finish(text string) []byte
	// Wait renders the event that says the provider waits to try again,
	// before the answer's first text; its data is valid as Grow's is.
	Wait(retry hxchat.Retry) []byte
	// Final renders the event that shows the finished answer (its state,
	// error, usage) and removes the element that opened the stream. err is
	// the provider's error, if the answer failed with one.
	Final(answer *hxchat.Message, err error) []byte
}

// RunnerOptions configures a Runner.
type RunnerOptions struct {
	Store      hxchat.Store
	Provider   hxchat.Provider
	Hub        *Hub
	Logger     *slog.Logger
	Checkpoint time.Duration // how often a growing answer is saved; default 1s
	// MaxPerOwner limits the answers one owner (a session) may have running
	// at once, MaxTotal those of everybody; 0 means no limit.
	MaxPerOwner, MaxTotal int
	// Metrics records the generations (running, outcomes, tokens, time to
	// the first token, retries); nil records nothing.
	Metrics *metrics.Metrics
}

// Runner starts and stops the generations of answers. Each generation runs on
// its own goroutine, independent of any HTTP request, until the model ends the
// answer, the user stops it, or the runner shuts down.
type Runner struct {
	o      RunnerOptions
	ctx    context.Context // parent of every generation; cancelled at the end of Shutdown
	cancel context.CancelCauseFunc

	saves *checkpoints

	mu       sync.Mutex
	running  map[int64]running
	owners   map[string]int // running answers per owner
	draining bool
	wg       sync.WaitGroup
}

// errStopped and errShutdown are the causes with which a generation is
// cancelled by the user and by the end of a drain.
var (
	errStopped  = errors.New("stopped by the user")
	errShutdown = errors.New("server shut down")
	errFenced   = errors.New("lease lost")
)

// running is an answer being generated.
type running struct {
	cancel context.CancelCauseFunc
	owner  string
	done   chan struct{} // closed once the answer's end is stored
}

// ErrTooMany is returned by Admit and Start when a limit of concurrent
// answers is reached.
var ErrTooMany = &hxchat.Error{Code: hxchat.ETooMany, Message: "Too many answers are being written at once. Wait for one to finish."}

// ErrDraining is returned by Start while the runner shuts down.
var ErrDraining = &hxchat.Error{Code: hxchat.EShutdown, Message: "The server is restarting. Please send your message again in a moment."}

// NewRunner returns a runner. Its options must name a store, a provider and
// a hub.
func NewRunner(o RunnerOptions) *Runner {
	if o.Checkpoint <= 0 {
		o.Checkpoint = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	saves := &checkpoints{store: o.Store, every: o.Checkpoint, log: o.Logger, answers: make(map[int64]*partial)}
	return &Runner{o: o, ctx: ctx, cancel: cancel, saves: saves, running: make(map[int64]running), owners: make(map[string]int)}
}

// Admit reports whether owner may start an answer now: ErrTooMany over a
// limit, ErrDraining while shutting down. Start checks the same; Admit lets
// a caller refuse before it stores anything.
func (r *Runner) Admit(owner string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.admit(owner)
}

func (r *Runner) admit(owner string) error {
	switch {
	case r.draining:
		return ErrDraining
	case r.o.MaxTotal > 0 && len(r.running) >= r.o.MaxTotal,
		r.o.MaxPerOwner > 0 && r.owners[owner] >= r.o.MaxPerOwner:
		return ErrTooMany
	}
	return nil
}

// Start opens the answer's stream in the hub and starts generating it for
// req (the system prompt and the conversation so far, ending with the user's
// question), its steps rendered by render. The answer must be stored already,
// in state streaming. owner (the session) counts against MaxPerOwner.
func (r *Runner) Start(answer *hxchat.Message, owner string, req hxchat.ChatRequest, render AnswerRenderer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.admit(owner); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(r.ctx)
	r.running[answer.ID] = running{cancel: cancel, owner: owner, done: make(chan struct{})}
	r.owners[owner]++
	stream := r.o.Hub.OpenAnswer(*answer, owner)
	r.wg.Add(1)
	// The generation gets a copy of its own, by pointer: the goroutine's
	// first frame, which holds its arguments for its whole life, stays
	// small (see generate).
	a := *answer
	go r.generate(ctx, stream, &a, req, render)
	return nil
}

// Stop ends the running answer id; what it has so far is kept and it is
// marked stopped. It reports whether the answer was running here.
func (r *Runner) Stop(id int64) bool {
	r.mu.Lock()
	run, ok := r.running[id]
	r.mu.Unlock()
	if ok {
		run.cancel(errStopped)
	}
	return ok
}

// StopWait stops the generation of answer id, as Stop does, and waits until
// its end is stored (stopped, with its text so far), or ctx is done: the
// conversation can then take its next message at once. It reports whether
// the answer was being generated.
func (r *Runner) StopWait(ctx context.Context, id int64) bool {
	r.mu.Lock()
	run, ok := r.running[id]
	r.mu.Unlock()
	if !ok {
		return false
	}
	run.cancel(errStopped)
	select {
	case <-run.done:
	case <-ctx.Done():
	}
	return true
}

// Running returns how many answers are being generated.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// Fence ends every running answer at once, as interrupted with its text so
// far, and returns how many there were. A replica calls it when it could
// not renew its leases for nearly their TTL: another replica is about to
// take its answers, and it must not go on writing them as if it owned them.
// New answers are still admitted (they hold a fresh lease).
func (r *Runner) Fence() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, run := range r.running {
		run.cancel(errFenced)
	}
	return len(r.running)
}

// Shutdown refuses new answers and waits for the running ones to finish until
// ctx is done; it then ends the rest, which are stored as interrupted with
// their text so far and whose streams get their final events. It returns when
// every generation has stored its end.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.draining = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	n := r.Running()
	r.cancel(errShutdown)
	<-done
	r.o.Logger.Warn("drain timeout: running answers stored as interrupted", "answers", n)
	return ctx.Err()
}

func (r *Runner) generate(ctx context.Context, stream *Stream, answer *hxchat.Message, req hxchat.ChatRequest, render AnswerRenderer) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		if run, ok := r.running[answer.ID]; ok {
			delete(r.running, answer.ID)
			if r.owners[run.owner]--; r.owners[run.owner] <= 0 {
				delete(r.owners, run.owner)
			}
			close(run.done)
		}
		r.mu.Unlock()
	}()
	log := r.o.Logger.With("answer", answer.ID)
	if answer.RequestID != "" {
		log = log.With("req", answer.RequestID) // the id the page shows
	}
	r.saves.add(answer.ID)
	defer r.saves.remove(answer.ID)

	// The answer's goroutine spends its life in follow, waiting for the
	// next chunk; what comes before and after it are functions of their
	// own, so that their locals are not on the stack while it waits (see
	// llm's Stream): the less a waiting stack holds, the smaller the
	// garbage collector shrinks it.
	measure := r.o.Metrics.StartAnswer()
	text, finish, usage, err := r.follow(ctx, stream, answer.ID, req, render, log, &measure)
	r.end(ctx, stream, answer, text, finish, usage, err, render, log, &measure)
}

// follow runs the provider's stream of an answer and publishes its steps.
// It returns the answer's text, finish reason and usage, and the error that
// ended it, if any.
func (r *Runner) follow(ctx context.Context, stream *Stream, answerID int64, req hxchat.ChatRequest, render AnswerRenderer, log *slog.Logger, measure *metrics.Answer) (text, finish string, usage hxchat.Usage, err error) {
	var b strings.Builder
	for d, e := range r.o.Provider.Stream(ctx, req) {
		if e != nil {
			err = e
			break
		}
		if d.Retry != nil {
			log.Info("answer waits to retry", "wait", d.Retry.After, "attempt", d.Retry.Attempt, "err", d.Retry.Err)
			measure.Retry(*d.Retry)
			var data []byte
			if err = safely(func() { data = render.Wait(*d.Retry) }); err != nil {
				break
			}
			stream.Wait(*d.Retry, func(id string) []byte { return AppendEvent(nil, "", id, data) })
			continue
		}
		if d.Text != "" {
			measure.Text()
			b.WriteString(d.Text)
			t := b.String()
			var data []byte
			var mark int
			if err = safely(func() { data, mark = render.Grow(t) }); err != nil {
				// The text is kept (and stored below); its readers get
				// the final events, which show it whole.
				break
			}
			stream.Publish(t, mark, func(id string) []byte { return AppendEvent(nil, "", id, data) })
			r.saves.update(answerID, t)
		}
		if d.FinishReason != "" {
			finish = d.FinishReason
		}
		if d.Usage != nil {
			usage = *d.Usage
		}
	}
	return b.String(), finish, usage, err
}

// end completes the answer once its stream from the provider has ended
// (with text, finish and usage, and err if one ended it): the text's last
// event, the answer's end in the store, and the stream's final events.
func (r *Runner) end(ctx context.Context, stream *Stream, answer *hxchat.Message, text, finish string, usage hxchat.Usage, err error, render AnswerRenderer, log *slog.Logger, measure *metrics.Answer) {
	if text != "" && !errors.Is(err, errRender) {
		// The text is all there is: it shows as finished before the
		// final event, which keeps it. Nothing of it is still to come.
		var data []byte
		if ferr := safely(func() { data = render.Finish(text) }); ferr != nil {
			err = ferr
		} else if len(data) > 0 {
			stream.Publish(text, len(text), func(id string) []byte { return AppendEvent(nil, "", id, data) })
		}
	}
	answer.Content = text
	answer.FinishReason = finish
	answer.Usage = usage
	answer.State, answer.ErrorCode = outcome(ctx, finish, err)
	measure.End(answer.State, answer.ErrorCode, usage)
	if e, ok := errors.AsType[*hxchat.Error](err); ok && answer.State == hxchat.StateError && e.RetryAfter > 0 {
		answer.RetryAt = time.Now().Add(e.RetryAfter) // stored: a reload says the same
	}
	switch answer.State {
	case hxchat.StateError:
		log.Warn("answer failed", "code", answer.ErrorCode, "err", err, "finish_reason", finish)
	case hxchat.StateInterrupted:
		log.Warn("answer interrupted", "cause", context.Cause(ctx), "chars", len(answer.Content))
	}
	r.saves.remove(answer.ID) // its end is stored next
	// The answer's end must be stored even when ctx was cancelled.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.o.Store.FinishAnswer(sctx, answer); err != nil {
		log.Error("store the end of an answer", "err", err)
	}
	var final []byte
	if rerr := safely(func() { final = render.Final(answer, err) }); rerr != nil {
		// Readers still get the end of the stream; a reload shows the
		// answer as stored.
		log.Error("render the end of an answer", "err", rerr)
	}
	c := Closing(final, answer.State)
	stream.Close(c[0], c[1])
}

// errRender is the error of an answer whose rendering failed: a bug, which
// ends that answer (its text kept) and not the process.
var errRender = &hxchat.Error{Code: hxchat.EInternal, Message: "The answer could not be shown. Its text is kept."}

// safely calls f and turns a panic in it into an error wrapping errRender,
// with the panic's value and stack for the log.
func safely(f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: panic: %v\n%s", errRender, v, debug.Stack())
		}
	}()
	f()
	return nil
}

// outcome decides how an answer ended.
func outcome(ctx context.Context, finish string, err error) (hxchat.State, hxchat.ErrorCode) {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errStopped):
		return hxchat.StateStopped, ""
	case errors.Is(cause, errShutdown):
		return hxchat.StateInterrupted, hxchat.EShutdown
	case errors.Is(cause, errFenced):
		return hxchat.StateInterrupted, ""
	}
	switch {
	case err != nil:
		return hxchat.StateError, hxchat.Code(err)
	case finish == hxchat.FinishContentFilter:
		return hxchat.StateError, hxchat.EFilteredReply
	case finish == "":
		return hxchat.StateError, hxchat.EUpstream
	}
	return hxchat.StateDone, ""
}

// checkpoints saves the growing answers of a runner: once per interval (or
// less often when a batch is slow), in one transaction for all of them,
// whatever changed since the last save. One goroutine does it, while any
// answer is running, so a crash loses about an interval of text, a stalled
// answer still gets its text saved, and a slow store gets one batch at a
// time however many answers there are.
type checkpoints struct {
	store hxchat.Store
	every time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	answers map[int64]*partial
	wake    chan struct{} // closed when the last answer ends: the saver exits

	// saving is held while a batch is written: a saver that is still
	// writing when the next one starts (the last answer ended, a new one
	// began) does not run beside it.
	saving sync.Mutex
}

// partial is the text of one running answer and how much of it is saved.
type partial struct {
	text  string
	saved int
}

// add starts saving answer id, and the saver if it is not running.
func (c *checkpoints) add(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers[id] = &partial{}
	if c.wake == nil {
		c.wake = make(chan struct{})
		go c.saver(c.wake)
	}
}

// update records the answer's text so far.
func (c *checkpoints) update(id int64, text string) {
	c.mu.Lock()
	if p := c.answers[id]; p != nil {
		p.text = text
	}
	c.mu.Unlock()
}

// remove stops saving answer id (its end is stored by the generation).
func (c *checkpoints) remove(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.answers, id)
	if len(c.answers) == 0 && c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

// retry marks the answers of a batch that could not be saved as unsaved,
// so that the next tick saves them even if their text has not grown since.
func (c *checkpoints) retry(batch []hxchat.Partial) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range batch {
		if p := c.answers[b.ID]; p != nil && p.saved == len(b.Content) {
			p.saved = -1
		}
	}
}

// checkpointSlice is how many answers one checkpoint transaction writes.
const checkpointSlice = 128

func (c *checkpoints) saver(done <-chan struct{}) {
	t := time.NewTimer(c.every)
	defer t.Stop()
	var batch []hxchat.Partial
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		batch = batch[:0]
		c.mu.Lock()
		for id, p := range c.answers {
			if len(p.text) != p.saved {
				batch = append(batch, hxchat.Partial{ID: id, Content: p.text})
				p.saved = len(p.text)
			}
		}
		c.mu.Unlock()
		if len(batch) == 0 {
			t.Reset(c.every)
			continue
		}
		c.saving.Lock()
		start := time.Now()
		// A batch is written in slices of a transaction each: a transaction
		// of thousands of answers costs more per answer than one of a hundred
		// (it outgrows SQLite's page cache; BenchmarkCheckpoints), and holds
		// the writer, and a core, for long enough that users' turns and
		// tokens queue behind it.
		for part := range slices.Chunk(batch, checkpointSlice) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := c.store.Checkpoints(ctx, part); err != nil {
				c.log.Error("checkpoint answers", "answers", len(part), "err", err)
				c.retry(part)
			}
			cancel()
		}
		c.saving.Unlock()
		// Under load a batch takes long, and holds the store's writer while
		// it does: wait at least ten times as long before the next, so that
		// checkpoints never take more than a tenth of the writer from the
		// users' own writes (a crash then loses a little more text).
		t.Reset(max(c.every, 10*time.Since(start)))
	}
}

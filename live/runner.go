package live

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hxchat/hxchat"
)

// AnswerRenderer turns the steps of one answer into the data of SSE events.
// The web layer implements it with its templates, so that each step is
// rendered once, in the generation, and every reader only copies bytes. Its
// methods are called from the answer's generation goroutine only, in order.
type AnswerRenderer interface {
	// Grow renders the event for an answer whose text is now text (the whole
	// text so far; it only ever grows), and returns the end of the text's
	// finished part: the part the renderer will not render again, which a
	// snapshot renders apart from the rest.
	Grow(text string) (data []byte, mark int)
	// Final renders the event that shows the finished answer (its state,
	// error, usage) and removes the element that opened the stream.
	Final(answer *hxchat.Message) []byte
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
}

// Runner starts and stops the generations of answers. Each generation runs on
// its own goroutine, independent of any HTTP request, until the model ends the
// answer, the user stops it, or the runner shuts down.
type Runner struct {
	o      RunnerOptions
	ctx    context.Context // parent of every generation; cancelled at the end of Shutdown
	cancel context.CancelCauseFunc

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
)

// running is an answer being generated.
type running struct {
	cancel context.CancelCauseFunc
	owner  string
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
	return &Runner{o: o, ctx: ctx, cancel: cancel, running: make(map[int64]running), owners: make(map[string]int)}
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
	r.running[answer.ID] = running{cancel: cancel, owner: owner}
	r.owners[owner]++
	stream := r.o.Hub.Open(answer.ID)
	r.wg.Add(1)
	go r.generate(ctx, stream, *answer, req, render)
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

// Running returns how many answers are being generated.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
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

func (r *Runner) generate(ctx context.Context, stream *Stream, answer hxchat.Message, req hxchat.ChatRequest, render AnswerRenderer) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		if run, ok := r.running[answer.ID]; ok {
			delete(r.running, answer.ID)
			if r.owners[run.owner]--; r.owners[run.owner] <= 0 {
				delete(r.owners, run.owner)
			}
		}
		r.mu.Unlock()
	}()
	log := r.o.Logger.With("answer", answer.ID)
	cp := newCheckpointer(r.o.Store, answer.ID, r.o.Checkpoint, log)
	defer cp.stop()

	var (
		text   strings.Builder
		finish string
		usage  hxchat.Usage
		err    error
	)
	for d, e := range r.o.Provider.Stream(ctx, req) {
		if e != nil {
			err = e
			break
		}
		if d.Text != "" {
			text.WriteString(d.Text)
			t := text.String()
			data, mark := render.Grow(t)
			stream.Publish(t, mark, func(id string) []byte { return AppendEvent(nil, "", id, data) })
			cp.update(t)
		}
		if d.FinishReason != "" {
			finish = d.FinishReason
		}
		if d.Usage != nil {
			usage = *d.Usage
		}
	}

	answer.Content = text.String()
	answer.FinishReason = finish
	answer.Usage = usage
	answer.State, answer.ErrorCode = outcome(ctx, finish, err)
	switch answer.State {
	case hxchat.StateError:
		log.Warn("answer failed", "code", answer.ErrorCode, "err", err, "finish_reason", finish)
	case hxchat.StateInterrupted:
		log.Warn("answer interrupted by shutdown", "chars", len(answer.Content))
	}
	cp.stop()
	// The answer's end must be stored even when ctx was cancelled.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.o.Store.FinishAnswer(sctx, &answer); err != nil {
		log.Error("store the end of an answer", "err", err)
	}
	final := render.Final(&answer)
	stream.Close(
		func(id string) []byte { return AppendEvent(nil, "", id, final) },
		func(id string) []byte { return AppendEvent(nil, FinalEvent, id, []byte(answer.State)) },
	)
}

// outcome decides how an answer ended.
func outcome(ctx context.Context, finish string, err error) (hxchat.State, hxchat.ErrorCode) {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errStopped):
		return hxchat.StateStopped, ""
	case errors.Is(cause, errShutdown):
		return hxchat.StateInterrupted, hxchat.EShutdown
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

// checkpointer saves a growing answer at most once per interval, and at the
// latest one interval after it grew, so a crash loses about a second of text
// at most, and a stalled stream still gets its text saved.
type checkpointer struct {
	store hxchat.Store
	id    int64
	every time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	text    string
	saved   int // length of the text saved last
	timer   *time.Timer
	stopped bool
}

func newCheckpointer(store hxchat.Store, id int64, every time.Duration, log *slog.Logger) *checkpointer {
	return &checkpointer{store: store, id: id, every: every, log: log}
}

func (c *checkpointer) update(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.text = text
	if c.timer == nil && !c.stopped {
		c.timer = time.AfterFunc(c.every, c.save)
	}
}

// save writes the text. The timer stays set until the write is done, so an
// answer has at most one save pending however slow the store is; a text
// that grew meanwhile is saved one interval later.
func (c *checkpointer) save() {
	c.mu.Lock()
	if c.stopped || len(c.text) == c.saved {
		c.timer = nil
		c.mu.Unlock()
		return
	}
	text := c.text
	c.saved = len(text)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.store.Checkpoint(ctx, c.id, text); err != nil {
		c.log.Error("checkpoint an answer", "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = nil
	if !c.stopped && len(c.text) != c.saved {
		c.timer = time.AfterFunc(c.every, c.save)
	}
}

func (c *checkpointer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

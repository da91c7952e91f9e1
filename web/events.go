package web

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
)

// answerEvents streams an answer as Server-Sent Events. A request with a
// Last-Event-ID of this answer resumes right after that event; one without
// first gets a snapshot of the text so far. An answer that is no longer
// running gets its final events at once. Every event has an id; the named
// final event ends the stream. An answer that another replica generates is
// relayed from it (see relayAnswer).
func (s *Server) answerEvents(w http.ResponseWriter, r *http.Request) error {
	m, owner, err := s.followedAnswer(r)
	if err != nil {
		return err
	}
	if s.moving.Err() != nil {
		// This replica drains: the reader is to follow the answer on
		// another one, which the load balancer picks.
		return live.ErrDraining
	}
	release, ok := s.limits.openStream(sessionID(r))
	if !ok {
		return userError(hxchat.ETooMany, "error.too_many_streams")
	}
	defer release()
	s.o.Metrics.StreamOpened()
	defer s.o.Metrics.StreamClosed()
	l := s.locales.pick(r)
	// The stream ends when the client goes, the server shuts down, or this
	// replica drains (without its final event: the reader reconnects
	// elsewhere and resumes there).
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.shutdown, cancel)()
	defer context.AfterFunc(s.moving, cancel)()
	if _, ok := s.o.Hub.Get(m.ID); !ok && m.State == hxchat.StateStreaming && s.o.Cluster != nil {
		return s.relayAnswer(ctx, w, r, m, owner, l)
	}
	s.streamAnswer(ctx, newEventWriter(w, s.o.StreamWrite), r, m, l)
	return nil
}

// followedAnswer returns the answer in the path if the request's session
// owns it. An answer this process generates comes from its stream in the
// hub, which knows its conversation and the session it was started for
// (live.Stream.Answer): every browser opens its answer's stream right after
// its message, and this spares each of them two reads of the store. Any
// other answer, or a stream that does not let the reader in, is read from
// the store (ownedMessage); in a cluster, with the replica that generates
// it (Cluster.OwnedAnswer), which a relay would ask next: one query, not
// two, for every stream that another replica relays. owner is nil when
// the store was not asked.
func (s *Server) followedAnswer(r *http.Request) (*hxchat.Message, *owner, error) {
	sid := sessionID(r)
	mid, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if sid != "" && err == nil {
		if st, ok := s.o.Hub.Get(mid); ok {
			if m, ok := st.Answer(sid, r.PathValue("id")); ok {
				return &m, nil, nil
			}
		}
	}
	c := s.o.Cluster
	if c == nil {
		m, err := s.ownedMessage(r)
		return m, nil, err
	}
	id := r.PathValue("id")
	if sid == "" || !hxchat.ValidID(id) || err != nil || mid <= 0 {
		return nil, nil, hxchat.ErrNotFound
	}
	m, rep, ok, err := c.Store.OwnedAnswer(r.Context(), sid, id, mid, c.TTL)
	if err != nil {
		return nil, nil, err
	}
	return m, &owner{rep, ok}, nil
}

// owner is what Cluster.Owner returned for an answer.
type owner struct {
	hxchat.Replica
	ok bool
}

// eventWriter writes the frames of one event stream, each write flushed and
// bounded by a deadline.
type eventWriter struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	deadline time.Time
}

// newEventWriter sends the headers of an event stream and returns its
// writer; every write must end within timeout.
func newEventWriter(w http.ResponseWriter, timeout time.Duration) *eventWriter {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc.Flush() // the browser sees the stream open before the first token
	return &eventWriter{w: w, rc: rc, timeout: timeout}
}

// write writes frames and flushes them; false means that the reader is gone.
// Every write must end within the timeout, so that a reader that stops
// reading cannot hold the stream. Moving the deadline is not free (a timer
// in the poller), so it moves only when half of it has passed: each write
// then has at least half of the timeout.
func (e *eventWriter) write(frames ...[]byte) bool {
	if now := time.Now(); e.deadline.Sub(now) < e.timeout/2 {
		e.deadline = now.Add(e.timeout)
		e.rc.SetWriteDeadline(e.deadline)
	}
	for _, f := range frames {
		if _, err := e.w.Write(f); err != nil {
			return false
		}
	}
	return e.rc.Flush() == nil
}

// keepalive is the comment that keeps an idle stream open.
var keepalive = []byte(": keepalive\n\n")

// finalFrames returns the final events of answer m as stored, after
// position seq: the final bubble at seq+1 and the final event at seq+2, as
// the runner's Close numbers them, so that no two events of a stream share
// an id. It reads the answer's versions from the store.
func (s *Server) finalFrames(ctx context.Context, m hxchat.Message, l *locale, seq int64) [][]byte {
	c := live.Closing(s.render.finalView(s.versioned(ctx, m, l), 0), m.State)
	return [][]byte{c[0](live.EventID(m.ID, seq+1)), c[1](live.EventID(m.ID, seq+2))}
}

// finish writes the final events of answer m as stored, after position seq
// (finalFrames).
func (s *Server) finish(ctx context.Context, e *eventWriter, m hxchat.Message, l *locale, seq int64) {
	e.write(s.finalFrames(ctx, m, l, seq)...)
}

// follower is one reader's way through an answer's events, as a browser
// gets them: a snapshot on first connect (or when the hub no longer holds
// the events after the reader's position), the events from its
// Last-Event-ID on, and the stored final events when the hub does not hold
// the answer or no longer holds its end. streamAnswer drives one for a
// browser (or a replica's per-stream relay); a feed to another replica
// drives many from one goroutine (feed.go). Both take the same steps, so
// both send the same events.
type follower struct {
	s      *Server
	m      *hxchat.Message
	l      *locale
	stream *live.Stream // nil: the hub does not hold the answer
	pos    int64        // the reader's position; -1: it needs a snapshot
	buf    [][]byte     // Follow's frames, reused
	out    [][]byte     // a step's frames when it has a snapshot, reused
	// finalAt is the position the stored final events follow, once
	// next has said followStored.
	finalAt int64
}

// What a follower's step leaves to do.
type followState int

const (
	followMore   followState = iota // wait for the waker, then step again
	followEnded                     // the final event has been given
	followStored                    // the final events are to be read from the store (stored)
)

// newFollower starts following answer m from lastID, a Last-Event-ID ("" or
// another answer's: a snapshot first).
func (s *Server) newFollower(m *hxchat.Message, l *locale, lastID string) *follower {
	f := &follower{s: s, m: m, l: l, pos: -1}
	f.stream, _ = s.o.Hub.Get(m.ID)
	if mid, seq, ok := live.ParseEventID(lastID); ok && mid == m.ID {
		f.pos = seq
	}
	return f
}

// next takes a step: it returns the frames the reader gets now (valid
// until the next step) and what is left to do. With followMore, wake is
// woken at the stream's next change. It never blocks on the store.
func (f *follower) next(wake live.Waker) ([][]byte, followState) {
	if f.stream == nil {
		// Not running here: show it as stored (done, failed, or cut
		// short).
		f.finalAt = 0
		return nil, followStored
	}
	f.out = f.out[:0]
	for {
		frames, last, ended, ok := f.stream.FollowWaker(f.pos, f.buf, wake)
		if !ok {
			snap := f.stream.Snapshot()
			if snap.Ended {
				// Ended, and its last events are no longer held: the
				// store has them. Its last two events, the final
				// ones, are sent again under their own ids.
				f.finalAt = max(snap.Seq-2, 0)
				return f.out, followStored
			}
			f.out = append(f.out, live.AppendEvent(nil, "", live.EventID(f.m.ID, snap.Seq), f.s.render.snapshot(*f.m, f.l, snap)))
			f.pos = snap.Seq
			continue
		}
		f.buf = frames
		f.pos = last
		if len(f.out) > 0 {
			frames = append(f.out, frames...)
			f.out = frames
		}
		if ended {
			return frames, followEnded
		}
		return frames, followMore
	}
}

// stored returns the stored final events, after next said followStored. A
// message that was streaming when it was read (or not read: replicaEvents)
// is read again, for its end. It blocks on the store; false: the store
// failed, and the reader gets no final event (it will retry).
func (f *follower) stored(ctx context.Context) ([][]byte, bool) {
	m := f.m
	if f.stream != nil || m.State == hxchat.StateStreaming {
		fm, err := f.s.o.Store.Message(ctx, m.ConversationID, m.ID)
		if err != nil {
			return nil, false
		}
		m = fm
	}
	return f.s.finalFrames(ctx, *m, f.l, f.finalAt), true
}

// streamAnswer writes the events of answer m from this process's hub, from
// the request's Last-Event-ID, until the final event or until ctx ends; an
// answer the hub does not hold gets its stored final events.
func (s *Server) streamAnswer(ctx context.Context, e *eventWriter, r *http.Request, m *hxchat.Message, l *locale) {
	f := s.newFollower(m, l, r.Header.Get("Last-Event-ID"))
	changed := make(chan struct{}, 1) // a value at each event (see live.Stream.Follow)
	wake := live.WakeChan(changed)
	// The keepalive wakes the loop as an event does, through changed: a
	// ticker's channel in the select would be put into the runtime's
	// timers and taken out again at every token.
	var due atomic.Bool
	alive := time.AfterFunc(s.o.Keepalive, func() {
		due.Store(true)
		wake.Wake()
	})
	defer alive.Stop()
	for {
		frames, state := f.next(wake)
		if len(frames) > 0 && !e.write(frames...) {
			return
		}
		switch state {
		case followEnded:
			return
		case followStored:
			// The response has started: when the store fails, the
			// client will retry.
			if frames, ok := f.stored(r.Context()); ok {
				e.write(frames...)
			}
			return
		}
		if due.Swap(false) {
			if !e.write(keepalive) {
				return
			}
			alive.Reset(s.o.Keepalive)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			select {
			case <-changed:
				// The stream moved on as it was cut (on shutdown: it
				// ended): send its last events before hanging up.
				continue
			default:
				return
			}
		}
	}
}

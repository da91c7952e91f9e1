// Package live runs the generations of answers and fans their steps out to
// readers. A generation runs on its own goroutine, tied to no HTTP request;
// each step is rendered once into a Server-Sent Event frame and appended to the
// answer's Stream; readers copy frames from the stream, from any position the
// stream still holds, so a reconnecting browser gets exactly what it missed.
package live

import (
	"sync"
	"time"

	"github.com/hxchat/hxchat"
)

// FinalEvent is the name of the last event of every stream. The element that
// opened the stream names it in hx-sse:close, so the browser stops there.
const FinalEvent = "done"

// Hub holds the streams of the answers this process generates.
type Hub struct {
	linger time.Duration
	maxLog int

	mu      sync.Mutex
	streams map[int64]*Stream
}

// NewHub returns a hub that keeps each stream's events for replay up to
// maxLog bytes (older events are dropped; their readers get a snapshot
// instead) and keeps a finished stream for linger, so that a reader that
// reconnects just after the end still gets the exact rest.
func NewHub(linger time.Duration, maxLog int) *Hub {
	return &Hub{linger: linger, maxLog: maxLog, streams: make(map[int64]*Stream)}
}

// Open creates the stream of answer id and returns it. Opening an id that is
// already open replaces the old stream, which ends for its readers.
func (h *Hub) Open(id int64) *Stream {
	return h.OpenAnswer(hxchat.Message{ID: id}, "")
}

// OpenAnswer is Open for answer m (its id m.ID), started for owner (a
// session): the stream keeps both, as they were when it opened, for the
// readers that Stream.Answer lets in without a look at the store.
func (h *Hub) OpenAnswer(m hxchat.Message, owner string) *Stream {
	s := &Stream{id: m.ID, hub: h, answer: m, owner: owner}
	id := m.ID
	h.mu.Lock()
	old := h.streams[id]
	h.streams[id] = s
	h.mu.Unlock()
	if old != nil {
		old.end()
	}
	return s
}

// Get returns the stream of answer id if this process holds it.
func (h *Hub) Get(id int64) (*Stream, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.streams[id]
	return s, ok
}

// Len returns how many streams the hub holds, running or lingering.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

func (h *Hub) remove(s *Stream) {
	h.mu.Lock()
	if h.streams[s.id] == s {
		delete(h.streams, s.id)
	}
	h.mu.Unlock()
}

// Stream is the numbered sequence of events of one answer. Position 0 is the
// empty answer before any event; event n moves the answer to position n.
type Stream struct {
	id  int64
	hub *Hub
	// answer and owner are the answer as its generation started and the
	// session it was started for (OpenAnswer); they do not change.
	answer hxchat.Message
	owner  string

	mu    sync.Mutex
	seq   int64         // position of the newest event
	first int64         // position of log[0]
	log   [][]byte      // SSE frames of events first..seq
	size  int           // bytes in log
	text  string        // the answer's text at position seq
	mark  int           // where text's finished part ends (AnswerRenderer.Grow)
	wait  *hxchat.Retry // the provider's wait to retry, until the next text
	until time.Time     // when that wait ends
	ended bool
	// waiting are the readers that Follow left caught up: each is woken at
	// the next change, and the list is emptied.
	waiting []Waker
}

// A Waker is told of the next change of a stream it follows (FollowWaker).
// Wake is called with the stream's lock held: it must be quick and must
// not call the stream back; it may be called when nothing new is there.
type Waker interface{ Wake() }

// WakeChan is the Waker of a reader that waits on its own channel: Wake
// sends it a value unless one is already waiting. A channel is a pointer,
// so wrapping it in the interface costs no allocation, and two Wakers of
// the same channel compare equal.
type WakeChan chan<- struct{}

func (c WakeChan) Wake() {
	select {
	case c <- struct{}{}:
	default: // a value is already waiting for its reader
	}
}

// ID returns the id of the answer the stream belongs to.
func (s *Stream) ID() int64 { return s.id }

// Answer returns the answer as its generation started it (as stored then:
// streaming, with no text) if the stream was opened for owner, a session,
// by OpenAnswer, and the answer belongs to conversation convID; else false.
// A conversation is its session's for good, so a reader of that session
// may follow the stream without the store being asked whose it is.
func (s *Stream) Answer(owner, convID string) (hxchat.Message, bool) {
	if s.owner == "" || s.owner != owner || s.answer.ConversationID != convID {
		return hxchat.Message{}, false
	}
	return s.answer, true
}

// Publish appends the next event. frame builds its SSE bytes from the event's
// id (so the id is part of the frame, rendered once); text is the whole answer
// after this event and mark the end of its finished part, kept for snapshots.
func (s *Stream) Publish(text string, mark int, frame func(id string) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.text, s.mark, s.wait = text, mark, nil
	s.append(frame)
	s.trim(1)
	s.notify()
}

// Wait appends the event that says the provider waits to retry; snapshots
// show the wait until the next Publish.
func (s *Stream) Wait(r hxchat.Retry, frame func(id string) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.wait, s.until = &r, time.Now().Add(r.After)
	s.append(frame)
	s.trim(1)
	s.notify()
}

// Close appends the last events (each built by a frame func, in order), ends
// the stream and lets it linger in the hub for late readers.
func (s *Stream) Close(frames ...func(id string) []byte) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	for _, f := range frames {
		s.append(f)
	}
	s.trim(len(frames))
	s.ended = true
	s.notify()
	s.mu.Unlock()
	if s.hub.linger > 0 {
		time.AfterFunc(s.hub.linger, func() { s.hub.remove(s) })
	} else {
		s.hub.remove(s)
	}
}

// end stops a stream that was replaced, without further events.
func (s *Stream) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended = true
		s.notify()
	}
}

func (s *Stream) append(frame func(id string) []byte) {
	s.seq++
	b := frame(EventID(s.id, s.seq))
	if len(s.log) == 0 {
		s.first = s.seq
	}
	s.log = append(s.log, b)
	s.size += len(b)
}

// trim drops the oldest frames while the log is over its size, but keeps the
// newest keep frames, appended together: a reader that waits at the position
// before them gets them all (the final bubble and the final event, say), not a
// snapshot.
func (s *Stream) trim(keep int) {
	for s.size > s.hub.maxLog && len(s.log) > keep {
		s.size -= len(s.log[0])
		s.log[0] = nil
		s.log = s.log[1:]
		s.first++
	}
}

func (s *Stream) notify() {
	for i, w := range s.waiting {
		w.Wake()
		s.waiting[i] = nil
	}
	s.waiting = s.waiting[:0]
}

// Snap is where an answer stands at one position of its stream.
type Snap struct {
	Text  string // the answer so far
	Mark  int    // the end of Text's finished part, as the renderer split it
	Seq   int64  // the position
	Ended bool   // no event follows
	// Wait, when set, is the provider's wait to retry before the first
	// text, with After counting what is left of it.
	Wait *hxchat.Retry
}

// Snapshot returns where the answer stands at the newest position.
func (s *Stream) Snapshot() Snap {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snap{Text: s.text, Mark: s.mark, Seq: s.seq, Ended: s.ended}
	if s.wait != nil && !s.ended {
		w := *s.wait
		w.After = max(time.Until(s.until), 0)
		snap.Wait = &w
	}
	return snap
}

// Follow returns the frames of the events after position seq and the
// position of the last of them; ended is true when no event will follow the
// ones returned. ok is false when the stream no longer holds the events
// right after seq (or never had seq): the reader then needs a snapshot. The
// returned slice is only valid until the next call. wake is the reader's
// own channel, made once with a buffer of one and passed to every call:
// when the reader is caught up and the stream has not ended, wake gets a
// value at the next event (or when the stream ends), so that waiting costs
// no new channel per event. A value may also come when nothing new is there
// (one sent for an earlier call); the reader then just waits again.
func (s *Stream) Follow(seq int64, buf [][]byte, wake chan<- struct{}) (frames [][]byte, last int64, ended, ok bool) {
	return s.FollowWaker(seq, buf, WakeChan(wake))
}

// FollowWaker is Follow for a reader that is woken by a call rather than on
// a channel: one goroutine that serves many streams (a feed to another
// replica, see web) learns which of them changed without asking each.
func (s *Stream) FollowWaker(seq int64, buf [][]byte, wake Waker) (frames [][]byte, last int64, ended, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	frames, last, ok = s.since(seq, buf)
	// A reader that asks again before the next event (after a keepalive)
	// is most often the last to have asked; one that is listed twice gets
	// no more than one value anyway.
	if n := len(s.waiting); ok && !s.ended && (n == 0 || s.waiting[n-1] != wake) {
		s.waiting = append(s.waiting, wake)
	}
	return frames, last, s.ended, ok
}

// since is Follow's reading of the log, with s.mu held.
func (s *Stream) since(seq int64, buf [][]byte) (frames [][]byte, last int64, ok bool) {
	if seq > s.seq || (seq < s.seq && seq+1 < s.first) {
		return nil, seq, false
	}
	if seq < s.seq {
		buf = append(buf[:0], s.log[seq+1-s.first:]...)
	} else {
		buf = buf[:0]
	}
	return buf, s.seq, true
}

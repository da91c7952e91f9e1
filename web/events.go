package web

import (
	"context"
	"net/http"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
)

// answerEvents streams an answer as Server-Sent Events. A request with a
// Last-Event-ID of this answer resumes right after that event; one without
// first gets a snapshot of the text so far. An answer that is no longer
// running gets its final events at once. Every event has an id; the named
// final event ends the stream.
func (s *Server) answerEvents(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.ownedMessage(r)
	if err != nil {
		return err
	}
	release, ok := s.limits.openStream(sessionID(r))
	if !ok {
		return userError(hxchat.ETooMany, "error.too_many_streams")
	}
	defer release()
	l := s.locales.pick(r)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc.Flush() // the browser sees the stream open before the first token

	// Every write must end within StreamWrite, so that a reader that stops
	// reading cannot hold the stream. Moving the deadline is not free (a
	// timer in the poller), so it moves only when half of it has passed:
	// each write then has at least half of StreamWrite.
	var deadline time.Time
	write := func(frames ...[]byte) bool {
		if now := time.Now(); deadline.Sub(now) < s.o.StreamWrite/2 {
			deadline = now.Add(s.o.StreamWrite)
			rc.SetWriteDeadline(deadline)
		}
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	finish := func(m hxchat.Message, seq int64) {
		id := live.EventID(m.ID, seq)
		c := live.Closing(s.render.finalView(s.versioned(r, m, l), 0), m.State)
		write(c[0](id), c[1](id))
	}

	stream, ok := s.o.Hub.Get(m.ID)
	if !ok {
		// Not running here: show it as stored (done, failed, or cut short).
		finish(*m, 0)
		return nil
	}
	pos := int64(-1) // -1: the reader needs a snapshot
	if mid, seq, ok := live.ParseEventID(r.Header.Get("Last-Event-ID")); ok && mid == m.ID {
		pos = seq
	}
	// The stream ends when the client goes or the server shuts down; one
	// context for both keeps the wait at each token to three cases.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.shutdown, cancel)()
	keepalive := time.NewTicker(s.o.Keepalive)
	defer keepalive.Stop()
	var buf [][]byte
	for {
		frames, last, changed, ended, ok := stream.Since(pos, buf)
		if !ok {
			snap := stream.Snapshot()
			if snap.Ended {
				// Ended, and its last events are no longer held: the store has them.
				fm, err := s.o.Store.Message(r.Context(), m.ConversationID, m.ID)
				if err != nil {
					return nil // the response has started; the client will retry
				}
				finish(*fm, snap.Seq)
				return nil
			}
			if !write(live.AppendEvent(nil, "", live.EventID(m.ID, snap.Seq), s.render.snapshot(*m, l, snap))) {
				return nil
			}
			pos = snap.Seq
			continue
		}
		buf = frames
		if len(frames) > 0 && !write(frames...) {
			return nil
		}
		pos = last
		if ended {
			return nil
		}
		select {
		case <-changed:
		case <-keepalive.C:
			if !write([]byte(": keepalive\n\n")) {
				return nil
			}
		case <-ctx.Done():
			select {
			case <-changed:
				// The stream moved on as it was cut (on shutdown: it
				// ended): send its last events before hanging up.
				continue
			default:
				return nil
			}
		}
	}
}

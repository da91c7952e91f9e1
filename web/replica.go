package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
)

// Cluster connects a server to the other replicas of hxchat that share its
// store (PostgreSQL). An answer runs on the replica that took its message;
// a stream request for it that lands on another replica is relayed from the
// owner, found through the answer's lease, over internal routes under
// /_replica/ that only requests carrying the cluster's secret may use.
type Cluster struct {
	// Store is the shared store's side of the cluster.
	Store hxchat.Cluster
	// Self is this replica's id (hxchat.Cluster.Join), and URL where the
	// others reach it.
	Self, URL string
	// Secret authenticates the replicas' requests to each other.
	Secret []byte
	// TTL is the leases' time to live (live.LeaseOptions.TTL).
	TTL time.Duration
	// MaxPerSession is the limit of running answers of one session, counted
	// on every replica (the runner counts those of this one); 0: none.
	MaxPerSession int
	// Client makes the requests to other replicas; nil: one made for them.
	Client *http.Client
	// PerStreamRelay relays each stream over a request of its own, as
	// the versions before the feeds did (feed.go): this replica serves no
	// feed and opens none. For the tests of a rolling deploy and the
	// benchmarks, and a way back should the feeds misbehave.
	PerStreamRelay bool
}

// replicaPrefix is the path of the replicas' internal routes.
const replicaPrefix = "/_replica/"

// Headers of the internal requests.
const (
	headerLang = "X-Hxchat-Lang" // the reader's language: the owner renders in it
)

// replicaClient returns the client for requests to other replicas: no
// timeout over a whole request (it carries streams), but bounded dials and
// headers.
func replicaClient() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true, // frames are copied as they come
	}}
}

// feedClients returns the clients of the feeds (feed.go): one that opens
// them, with a large read buffer (a feed's reads are big), and one for
// the subscriptions' requests, which are short: a burst of new relayed
// streams queues for a few connections rather than open one each, so that
// a pair of replicas keeps a handful of connections, not one per stream.
func feedClients() (feeds, control *http.Client) {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}
	feeds = &http.Client{Transport: &http.Transport{
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: 10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ReadBufferSize:        64 << 10,
	}}
	control = &http.Client{Transport: &http.Transport{
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxConnsPerHost:       4,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
	}}
	return feeds, control
}

// replicaRoutes adds the internal routes, which need the cluster's secret
// and no session.
func (s *Server) replicaRoutes(mux *http.ServeMux) {
	if s.o.Cluster == nil {
		return
	}
	mux.Handle("GET "+replicaPrefix+"c/{id}/m/{mid}/events", s.replicaOnly(s.replicaEvents))
	mux.Handle("POST "+replicaPrefix+"c/{id}/m/{mid}/stop", s.replicaOnly(s.replicaStop))
	if !s.o.Cluster.PerStreamRelay {
		mux.Handle("GET "+replicaPrefix+"feed", s.replicaOnly(s.replicaFeed))
		mux.Handle("POST "+replicaPrefix+"feed/{feed}/sub/{sub}/c/{id}/m/{mid}", s.replicaOnly(s.replicaSubscribe))
		mux.Handle("POST "+replicaPrefix+"feed/{feed}/unsub/{sub}", s.replicaOnly(s.replicaUnsubscribe))
	}
	mux.Handle(replicaPrefix, http.NotFoundHandler())
}

// replicaOnly serves h only to requests that carry the cluster's secret
// (Authorization: Bearer, in hex); others get 404, as if nothing were here.
func (s *Server) replicaOnly(h handlerFunc) http.Handler {
	want := []byte("Bearer " + hex.EncodeToString(s.o.Cluster.Secret))
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			return hxchat.ErrNotFound
		}
		return h(w, r)
	})
}

// replicaPath returns the conversation's and the message's ids in an
// internal request's path; ok is false when they are not ids.
func replicaPath(r *http.Request) (convID string, mid int64, ok bool) {
	mid, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if err != nil || mid <= 0 || !hxchat.ValidID(r.PathValue("id")) {
		return "", 0, false
	}
	return r.PathValue("id"), mid, true
}

// replicaMessage loads the message in an internal request's path.
func (s *Server) replicaMessage(r *http.Request) (*hxchat.Message, error) {
	convID, mid, ok := replicaPath(r)
	if !ok {
		return nil, hxchat.ErrNotFound
	}
	return s.o.Store.Message(r.Context(), convID, mid)
}

// replicaEvents serves the event stream of an answer this replica
// generates to another replica, which checked that its reader owns the
// answer and relays the frames as they are. It is the stream a browser
// gets here, in the reader's language, from the reader's Last-Event-ID;
// it does not end when this replica drains (the relaying one's reader
// stays), only when the answer does or the server shuts down.
func (s *Server) replicaEvents(w http.ResponseWriter, r *http.Request) error {
	convID, mid, ok := replicaPath(r)
	if !ok {
		return hxchat.ErrNotFound
	}
	m, err := s.relayedAnswer(r, convID, mid)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.shutdown, cancel)()
	s.streamAnswer(ctx, newEventWriter(w, s.o.StreamWrite), r, m, s.locales.get(r.Header.Get(headerLang)))
	return nil
}

// relayedAnswer returns the answer that another replica relays (from
// replicaEvents or a feed's subscription): ErrNotFound for one that is
// streaming but does not run here.
func (s *Server) relayedAnswer(r *http.Request, convID string, mid int64) (*hxchat.Message, error) {
	var m *hxchat.Message
	if _, ok := s.o.Hub.Get(mid); ok {
		// It runs here (or has just ended): its stream holds what the
		// reader gets, which needs of the message only its ids, and
		// the relaying replica has read the message to check that its
		// reader owns it. The store is read only should the stream be
		// gone by the time it is followed (streamAnswer).
		m = &hxchat.Message{ID: mid, ConversationID: convID, Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
	} else {
		var err error
		if m, err = s.o.Store.Message(r.Context(), convID, mid); err != nil {
			return nil, err
		}
		if m.State == hxchat.StateStreaming {
			// Its lease names this replica, but it does not run here
			// (its end could not be stored): the relaying replica
			// waits for it to be taken, rather than get its stored
			// state as final.
			return nil, hxchat.ErrNotFound
		}
	}
	return m, nil
}

// replicaStop stops an answer this replica generates, for another replica
// where its reader pressed Stop, and answers once the stopped answer is
// stored (at most 5 s).
func (s *Server) replicaStop(w http.ResponseWriter, r *http.Request) error {
	m, err := s.replicaMessage(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if !s.o.Runner.StopWait(ctx, m.ID) {
		return hxchat.ErrNotFound
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// replicaRequest makes an internal request to replica at for answer m.
func (s *Server) replicaRequest(ctx context.Context, method string, at hxchat.Replica, m *hxchat.Message, action string) *http.Request {
	u := fmt.Sprintf("%s%sc/%s/m/%d/%s", at.URL, replicaPrefix, m.ConversationID, m.ID, action)
	req, _ := http.NewRequestWithContext(ctx, method, u, nil)
	req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(s.o.Cluster.Secret))
	return req
}

// stopElsewhere stops answer m on the replica that generates it, and waits
// until that replica has stored it stopped (or ctx ends). It reports
// whether a replica did.
func (s *Server) stopElsewhere(ctx context.Context, m *hxchat.Message) bool {
	c := s.o.Cluster
	owner, ok, err := c.Store.Owner(ctx, m.ID, c.TTL)
	if err != nil || !ok || owner.ID == c.Self {
		return false
	}
	resp, err := s.client.Do(s.replicaRequest(ctx, http.MethodPost, owner, m, "stop"))
	if err != nil {
		s.log.Warn("stop an answer on its replica", "answer", m.ID, "replica", owner.URL, "err", err)
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}

// admitHere checks the limit of running answers of the request's session
// across the replicas, after the runner has checked it on this one. A
// session that the request has just made (newSession) runs no answer on any
// replica, so the store is not asked.
func (s *Server) admitHere(r *http.Request, newSession bool) error {
	if err := s.o.Runner.Admit(sessionID(r)); err != nil {
		return err
	}
	c := s.o.Cluster
	if c == nil || c.MaxPerSession <= 0 || newSession {
		return nil
	}
	n, err := c.Store.StreamingAnswers(r.Context(), sessionID(r))
	if err != nil {
		return err
	}
	if n >= c.MaxPerSession {
		return live.ErrTooMany
	}
	return nil
}

// relayRetry is how long a relay waits before it asks again who generates
// an answer, when the replica that did cannot be reached.
const relayRetry = 500 * time.Millisecond

// relayAnswer streams an answer that another replica generates: it finds
// that replica through the answer's lease and copies its frames of the
// answer's stream to the reader as they come, complete events only, so the
// reader gets the same ids, the same snapshot on first connect and the same
// final event as from the owner. When the owner cannot be reached (it died,
// or drains and has gone), the reader's stream stays open, with
// keepalives, until the answer is final in the store (taken as interrupted
// within the leases' TTL, or ended by its replica), then gets the final
// events of the stored answer. known is the answer's owner when the
// request has just read it with the message (followedAnswer), nil if not:
// the first lookup is then not asked again.
func (s *Server) relayAnswer(ctx context.Context, w http.ResponseWriter, r *http.Request, m *hxchat.Message, known *owner, l *locale) error {
	c := s.o.Cluster
	e := newEventWriter(w, s.o.StreamWrite)
	lastID := ""
	if mid, _, ok := live.ParseEventID(r.Header.Get("Last-Event-ID")); ok && mid == m.ID {
		lastID = r.Header.Get("Last-Event-ID")
	}
	lastKeepalive := time.Now()
	failed := false // the owner failed once: later failures are logged at debug level
	for {
		var owner hxchat.Replica
		var ok bool
		var err error
		if known != nil {
			owner, ok, known = known.Replica, known.ok, nil
		} else {
			owner, ok, err = c.Store.Owner(ctx, m.ID, c.TTL)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("find the replica of an answer", "answer", m.ID, "err", err)
		case ok && owner.ID != c.Self:
			ended, last, wrote, gone, err := s.relayFrom(ctx, e, owner, m, l, lastID)
			if ended || gone {
				return nil
			}
			if err != nil && ctx.Err() == nil {
				level := slog.LevelInfo
				if failed {
					level = slog.LevelDebug
				}
				s.log.Log(ctx, level, "relay an answer: its replica does not answer; waiting for it, or for its takeover",
					"answer", m.ID, "replica", owner.URL, "err", err)
				failed = true
			}
			if last != "" {
				lastID = last
			}
			if wrote {
				lastKeepalive = time.Now()
			}
		case !ok:
			// Final, or its lease has expired and a sweep is about to
			// take it: the store says which.
			fm, err := s.o.Store.Message(ctx, m.ConversationID, m.ID)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("read a relayed answer", "answer", m.ID, "err", err)
				}
				return nil // the client reconnects
			}
			if fm.State.Final() {
				_, seq, _ := live.ParseEventID(lastID)
				s.finish(r.Context(), e, *fm, l, seq)
				return nil
			}
		}
		// The owner cannot be reached (or is this replica, whose hub no
		// longer holds the answer): wait, keeping the reader's stream open.
		if time.Since(lastKeepalive) >= s.o.Keepalive {
			if !e.write(keepalive) {
				return nil
			}
			lastKeepalive = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(relayRetry):
		}
	}
}

// finalLine is how the final event's first line starts a frame, and
// finalAfter how it follows another event.
var (
	finalLine  = []byte("event: " + live.FinalEvent + "\n")
	finalAfter = []byte("\n\nevent: " + live.FinalEvent + "\n")
)

// relayFrom copies the frames of answer m's stream on replica owner to e,
// over the feed to owner (relayFeed, feed.go), or over a request of its own
// when owner has no feed route (a replica of the previous version, during a
// rolling deploy) or Cluster.PerStreamRelay is set;
// from lastID ("" for a snapshot first), until the final event (ended),
// until the owner's stream breaks (err), or until ctx ends. It returns the
// id of the last event copied (last), whether it wrote anything (wrote), and
// gone when the reader is gone. Only whole events are written: a break in the
// middle of one leaves nothing half-sent, so what follows (the rest from
// the owner, or the stored final events) continues a valid stream.
func (s *Server) relayFrom(ctx context.Context, e *eventWriter, owner hxchat.Replica, m *hxchat.Message, l *locale, lastID string) (ended bool, last string, wrote, gone bool, err error) {
	if !s.o.Cluster.PerStreamRelay {
		fd, err := s.feed(ctx, owner)
		if err == nil {
			return s.relayFeed(ctx, e, fd, m, l, lastID)
		}
		if err != errNoFeed {
			return false, "", false, false, err
		}
		// A replica of the previous version: stream by stream.
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := s.replicaRequest(ctx, http.MethodGet, owner, m, "events")
	req.Header.Set(headerLang, l.Lang)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return false, "", false, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, "", false, false, fmt.Errorf("status %d", resp.StatusCode)
	}
	// The owner writes a keepalive at least every Keepalive; silence for
	// two of them is a replica that is gone without closing the
	// connection (a lost network).
	silent := 2*s.o.Keepalive + time.Second
	watchdog := time.AfterFunc(silent, cancel)
	defer watchdog.Stop()
	buf := make([]byte, 0, 4<<10) // a token's event is far smaller; a snapshot may grow it
	// The id of the last event copied is kept in lastBuf, made a string
	// only on return: every token's event has one.
	var lastBuf []byte
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // a longer event than the buffer: grow it
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n > 0 {
			watchdog.Reset(silent)
			if i := bytes.LastIndex(buf, []byte("\n\n")); i >= 0 {
				whole := buf[:i+2]
				if !e.write(whole) {
					return false, string(lastBuf), wrote, true, nil
				}
				wrote = true
				if id := lastEventID(whole); len(id) > 0 {
					lastBuf = append(lastBuf[:0], id...)
				}
				if bytes.HasPrefix(whole, finalLine) || bytes.Contains(whole, finalAfter) {
					return true, string(lastBuf), wrote, false, nil
				}
				buf = append(buf[:0], buf[i+2:]...)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the stream ended before the answer")
			}
			return false, string(lastBuf), wrote, false, err
		}
	}
}

// lastEventID returns the id of the last event in frames (whole events)
// that has one, nil when none has. An id line starts a line, and no line of
// data does (each starts with "data:"), so it is found by its prefix.
func lastEventID(frames []byte) []byte {
	i := bytes.LastIndex(frames, []byte("\nid: "))
	start := i + 1
	if i < 0 {
		if !bytes.HasPrefix(frames, []byte("id: ")) {
			return nil
		}
		start = 0
	}
	line := frames[start+len("id: "):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return line
}

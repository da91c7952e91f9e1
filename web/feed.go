package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hxchat/hxchat"
)

// A feed carries the relayed streams of one pair of replicas: replica B,
// where readers follow answers that replica A generates, keeps at most one
// long-lived request open to A (GET /_replica/feed), and A writes on it the
// events of every answer that B's readers follow. A relayed token then
// costs a share of one write on A and of one read on B, where a request per
// stream (replicaEvents) cost a write(2) and a goroutine's wake-up on each
// side per token per stream.
//
// The feed's response is a sequence of records, each a header of 9 bytes,
// a kind, a subscription's id (uint32, big endian) and the payload's length
// (uint32, big endian), then the payload:
//
//	'd' data: whole SSE events of the subscription, as streamAnswer writes
//	    them to a browser (several events in one record)
//	'e' end: A has dropped the subscription; after its final event, or
//	    without it when A could not give it (the store failed): B's reader
//	    then goes on as after a broken per-stream relay
//	'k' keepalive (subscription 0, no payload), at least every Keepalive
//
// B subscribes with a small request naming the feed and an id of B's
// choosing (POST /_replica/feed/{feed}/sub/{sub}/c/{id}/m/{mid}, with the
// reader's language and Last-Event-ID as headers), and unsubscribes a
// reader that left before its answer's end (POST .../unsub/{sub}). Those
// are requests of their own rather than messages on a request body that B
// would write as A answers: Go's HTTP/1 client buffers a streamed request
// body, and a request's status tells B at once whether A took the
// subscription (404 as replicaEvents gives it: an answer A does not run),
// with no protocol of acknowledgements on the feed. They cost one short
// request per relayed stream, not per token.
//
// On A, one goroutine per feed (feedOut.run) writes for all its
// subscriptions: each subscription is a live.Waker, so an event puts the
// subscriptions it concerns on the feed's list of changed ones, and the
// writer steps only those (a follower each, as streamAnswer does for a
// browser), writes all their events in one write, and then waits at least
// feedBatch before the next, so that under load a write carries many
// tokens. On B, one goroutine per feed (feedIn.read) reads big chunks,
// splits the records and appends each subscription's events to its queue,
// waking the reader's handler (relayFeed), which writes them to its
// browser. A queue is bounded (feedQueueMax): a browser that does not keep
// up loses its subscription, not the feed, and resubscribes from its last
// event.
//
// A replica of the previous version has no feed route: B's request gets
// 404, and B relays stream by stream from it (relayFrom) for a while
// (feedRetry) before it tries again.

// The feed's knobs. Variables, not constants, so that tests can make a
// queue overflow or a feed go idle soon; those that tests change while
// goroutines of an earlier test may still read them are atomic.
var (
	// feedBatch is the least time between two writes of a feed on A:
	// the latency it may add to a token, and what makes a write carry
	// the tokens of many streams when they come fast.
	feedBatch = time.Millisecond
	// feedQueueMax bounds the events a subscription holds on B that its
	// reader's handler has not yet written to the browser (256 KiB).
	feedQueueMax atomic.Int64
	// feedIdle is how long B keeps a feed without subscriptions open.
	feedIdle = 30 * time.Second
	// feedRetry is how long B relays stream by stream from a replica that
	// has no feed route before it asks again.
	feedRetry = time.Minute
	// relayPause, when set (by tests), is called before a relayed
	// reader's every write: a browser that reads slowly.
	relayPause atomic.Pointer[func()]
)

func init() { feedQueueMax.Store(256 << 10) }

// Record kinds.
const (
	feedData      = 'd'
	feedEnd       = 'e'
	feedKeepalive = 'k'
	feedHeader    = 9
	// feedRecordMax bounds a record: an answer's snapshot or final bubble
	// is far smaller; more is a broken feed.
	feedRecordMax = 64 << 20
)

// headerFeed names the feed in the response that opens it.
const headerFeed = "X-Hxchat-Feed"

// appendRecord appends a record's header and payload to out.
func appendRecord(out []byte, kind byte, sub uint32, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	out = append(out, kind)
	out = binary.BigEndian.AppendUint32(out, sub)
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	for _, p := range payload {
		out = append(out, p...)
	}
	return out
}

// ---- A: the replica that generates the answers.

// feedsOut are the feeds this replica serves, by id.
type feedsOut struct {
	mu sync.Mutex
	by map[string]*feedOut
}

func (fs *feedsOut) get(id string) *feedOut {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.by[id]
}

// feedOut is a feed this replica writes to another one.
type feedOut struct {
	s    *Server
	id   string
	kick chan struct{} // a value when changed or pending has something

	mu      sync.Mutex
	subs    map[uint32]*feedSubscription
	changed []*feedSubscription // woken since the writer last looked
	pending []byte              // records made off the writer (stored final events)
	closed  bool
}

// feedSubscription is one relayed reader's answer on a feed.
type feedSubscription struct {
	feed *feedOut
	id   uint32
	f    *follower // stepped by the feed's writer only
	// queued (in feed.changed) and gone (dropped) are the feed's, under
	// its lock.
	queued, gone bool
}

// Wake puts the subscription on its feed's list of changed ones and wakes
// the writer. The stream calls it with its lock held; the writer never
// holds the feed's lock while it follows a stream, so the two locks are
// always taken in that order.
func (x *feedSubscription) Wake() {
	fd := x.feed
	fd.mu.Lock()
	if !x.queued && !x.gone && !fd.closed {
		x.queued = true
		fd.changed = append(fd.changed, x)
	}
	fd.mu.Unlock()
	fd.signal()
}

func (fd *feedOut) signal() {
	select {
	case fd.kick <- struct{}{}:
	default:
	}
}

// drop ends subscription x on the feed.
func (fd *feedOut) drop(x *feedSubscription) {
	fd.mu.Lock()
	x.gone = true
	if fd.subs[x.id] == x {
		delete(fd.subs, x.id)
	}
	fd.mu.Unlock()
}

// replicaFeed serves a feed to another replica, until that replica closes
// it or this server shuts down; not when this replica drains: the other
// one's readers stay, and their answers run here to their end.
func (s *Server) replicaFeed(w http.ResponseWriter, r *http.Request) error {
	var b [16]byte
	rand.Read(b[:])
	fd := &feedOut{s: s, id: hex.EncodeToString(b[:]), kick: make(chan struct{}, 1), subs: make(map[uint32]*feedSubscription)}
	s.feedsOut.mu.Lock()
	if s.feedsOut.by == nil {
		s.feedsOut.by = make(map[string]*feedOut)
	}
	s.feedsOut.by[fd.id] = fd
	s.feedsOut.mu.Unlock()
	defer func() {
		s.feedsOut.mu.Lock()
		delete(s.feedsOut.by, fd.id)
		s.feedsOut.mu.Unlock()
		fd.mu.Lock()
		fd.closed = true
		for _, x := range fd.subs {
			x.gone = true
		}
		fd.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.shutdown, cancel)()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerFeed, fd.id)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	fd.run(ctx, &eventWriter{w: w, rc: rc, timeout: s.o.StreamWrite})
	return nil
}

// run is the feed's writer: at each wake it steps the subscriptions whose
// streams changed and writes what they give in one write, at most one
// write per feedBatch.
func (fd *feedOut) run(ctx context.Context, e *eventWriter) {
	s := fd.s
	var (
		batch, spare []*feedSubscription
		out          []byte
		last         time.Time // the last write
		due          = make(chan struct{}, 1)
	)
	alive := time.AfterFunc(s.o.Keepalive, func() {
		select {
		case due <- struct{}{}:
		default:
		}
		fd.signal()
	})
	defer alive.Stop()
	for stopping := false; !stopping; {
		select {
		case <-fd.kick:
		case <-ctx.Done():
			// One last pass: on shutdown the answers have ended, and
			// their final events go out before the feed closes.
			stopping = true
		}
		if d := time.Since(last); d < feedBatch && !stopping {
			time.Sleep(feedBatch - d)
		}
		fd.mu.Lock()
		batch, spare = fd.changed, batch[:0]
		fd.changed = spare
		n := 0
		for _, x := range batch {
			x.queued = false
			if !x.gone {
				batch[n] = x
				n++
			}
		}
		clear(batch[n:])
		batch = batch[:n]
		out = append(out[:0], fd.pending...)
		fd.pending = fd.pending[:0]
		fd.mu.Unlock()

		for _, x := range batch {
			frames, state := x.f.next(x)
			if len(frames) > 0 {
				out = appendRecord(out, feedData, x.id, frames...)
			}
			switch state {
			case followEnded:
				out = appendRecord(out, feedEnd, x.id)
				fd.drop(x)
			case followStored:
				// A read of the store, rare (an answer that
				// ended long ago, or whose log was trimmed): on a
				// goroutine of its own, not to hold the others.
				fd.drop(x)
				go fd.stored(ctx, x)
			}
		}
		select {
		case <-due:
			if len(out) == 0 {
				out = appendRecord(out, feedKeepalive, 0)
			}
			alive.Reset(s.o.Keepalive)
		default:
		}
		if len(out) > 0 {
			if !e.write(out) {
				return
			}
			last = time.Now()
		}
		if cap(out) > 1<<20 {
			out = nil // a burst of snapshots: do not keep its buffer
		}
	}
}

// stored gives subscription x its stored final events, read off the
// writer, and ends it.
func (fd *feedOut) stored(ctx context.Context, x *feedSubscription) {
	frames, _ := x.f.stored(ctx) // none when the store fails: B retries
	fd.mu.Lock()
	if len(frames) > 0 {
		fd.pending = appendRecord(fd.pending, feedData, x.id, frames...)
	}
	fd.pending = appendRecord(fd.pending, feedEnd, x.id)
	fd.mu.Unlock()
	fd.signal()
}

// feedSubID returns the id of a feed's subscription in an internal request's
// path.
func feedSubID(r *http.Request) (uint32, bool) {
	id, err := strconv.ParseUint(r.PathValue("sub"), 10, 32)
	return uint32(id), err == nil && id > 0
}

// replicaSubscribe subscribes another replica's reader to an answer on a
// feed: 204 once taken, 404 for an answer that replicaEvents would refuse,
// 410 for a feed that is not (or no longer) here.
func (s *Server) replicaSubscribe(w http.ResponseWriter, r *http.Request) error {
	convID, mid, ok := replicaPath(r)
	id, ok2 := feedSubID(r)
	if !ok || !ok2 {
		return hxchat.ErrNotFound
	}
	fd := s.feedsOut.get(r.PathValue("feed"))
	if fd == nil {
		w.WriteHeader(http.StatusGone)
		return nil
	}
	m, err := s.relayedAnswer(r, convID, mid)
	if err != nil {
		return err
	}
	x := &feedSubscription{feed: fd, id: id, f: s.newFollower(m, s.locales.get(r.Header.Get(headerLang)), r.Header.Get("Last-Event-ID"))}
	fd.mu.Lock()
	closed := fd.closed
	if !closed {
		if old := fd.subs[id]; old != nil {
			old.gone = true
		}
		fd.subs[id] = x
	}
	fd.mu.Unlock()
	if closed {
		w.WriteHeader(http.StatusGone)
		return nil
	}
	x.Wake() // its first step: a snapshot, the events after Last-Event-ID, or the end
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// replicaUnsubscribe drops a subscription whose reader left.
func (s *Server) replicaUnsubscribe(w http.ResponseWriter, r *http.Request) error {
	id, ok := feedSubID(r)
	if !ok {
		return hxchat.ErrNotFound
	}
	if fd := s.feedsOut.get(r.PathValue("feed")); fd != nil {
		fd.mu.Lock()
		x := fd.subs[id]
		fd.mu.Unlock()
		if x != nil {
			fd.drop(x)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- B: the replica that relays them.

// errNoFeed is the answer of a replica that has no feed route (a previous
// version): relay stream by stream.
var errNoFeed = errors.New("the replica serves no feed")

// errOverflow ends a subscription whose reader fell too far behind.
var errOverflow = errors.New("the relayed stream's queue overflowed")

// feedsIn are the feeds this replica reads, one per owner.
type feedsIn struct {
	mu     sync.Mutex
	by     map[string]*feedIn   // by the owner's URL
	noFeed map[string]time.Time // owners without a feed route, until when
	closed bool                 // the server shuts down
}

// feedIn is a feed this replica reads from another one.
type feedIn struct {
	s      *Server
	url    string
	ready  chan struct{} // closed once the feed is open (or failed to)
	id     string        // A's name of it, once ready
	cancel context.CancelFunc

	mu   sync.Mutex
	subs map[uint32]*feedSub
	next uint32
	err  error       // why it broke; set once
	idle *time.Timer // closes it when it has had no subscription for feedIdle
}

// feedSub is a relayed reader's subscription on a feed: its queue of
// events, filled by the feed's reader and emptied by the reader's handler.
type feedSub struct {
	id   uint32
	wake chan struct{} // a value when q, end or err changed
	// Under the feed's lock:
	q, spare []byte
	end      bool  // A dropped the subscription
	err      error // the feed broke, or q overflowed
}

// feed returns the open feed to owner, opening it if need be; errNoFeed
// when owner has none.
func (s *Server) feed(ctx context.Context, owner hxchat.Replica) (*feedIn, error) {
	fs := &s.feedsIn
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return nil, context.Canceled
	}
	if until, ok := fs.noFeed[owner.URL]; ok {
		if time.Now().Before(until) {
			fs.mu.Unlock()
			return nil, errNoFeed
		}
		delete(fs.noFeed, owner.URL)
	}
	fd := fs.by[owner.URL]
	if fd == nil {
		if fs.by == nil {
			fs.by = make(map[string]*feedIn)
			fs.noFeed = make(map[string]time.Time)
		}
		fd = &feedIn{s: s, url: owner.URL, ready: make(chan struct{}), subs: make(map[uint32]*feedSub)}
		fs.by[owner.URL] = fd
		fs.mu.Unlock()
		go fd.open()
	} else {
		fs.mu.Unlock()
	}
	select {
	case <-fd.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fd.mu.Lock()
	err := fd.err
	fd.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return fd, nil
}

// open opens the feed and reads it until it breaks or is closed.
func (fd *feedIn) open() {
	s := fd.s
	ctx, cancel := context.WithCancel(context.Background())
	fd.cancel = cancel
	stop := context.AfterFunc(s.shutdown, cancel)
	defer stop()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fd.url+replicaPrefix+"feed", nil)
	req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(s.o.Cluster.Secret))
	resp, err := s.feedClient.Do(req)
	if err == nil && resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			err = errNoFeed
			fs := &s.feedsIn
			fs.mu.Lock()
			fs.noFeed[fd.url] = time.Now().Add(feedRetry)
			fs.mu.Unlock()
		} else {
			err = fmt.Errorf("feed: status %d", resp.StatusCode)
		}
	}
	if err == nil {
		fd.id = resp.Header.Get(headerFeed)
		if fd.id == "" {
			resp.Body.Close()
			err = errors.New("feed: no id")
		}
	}
	if err != nil {
		fd.fail(err)
		close(fd.ready)
		return
	}
	fd.mu.Lock()
	if len(fd.subs) == 0 {
		fd.idle = time.AfterFunc(feedIdle, fd.closeIdle)
	}
	fd.mu.Unlock()
	close(fd.ready)
	defer resp.Body.Close()
	err = fd.read(ctx, cancel, resp.Body)
	fd.mu.Lock()
	closed := fd.err != nil // closed here: when idle, or on shutdown
	fd.mu.Unlock()
	if !closed {
		s.log.Info("a feed from another replica broke; its relayed streams go on over a new one", "replica", fd.url, "err", err)
	}
	fd.fail(err)
}

// read reads the feed's records and hands them to their subscriptions,
// until the feed breaks.
func (fd *feedIn) read(ctx context.Context, cancel context.CancelFunc, body io.Reader) error {
	// A writes at least every Keepalive; silence for two of them is a
	// replica that is gone without closing the connection (a lost
	// network).
	silent := 2*fd.s.o.Keepalive + time.Second
	var timedOut bool
	var tmu sync.Mutex
	watchdog := time.AfterFunc(silent, func() {
		tmu.Lock()
		timedOut = true
		tmu.Unlock()
		cancel()
	})
	defer watchdog.Stop()
	buf := make([]byte, 64<<10)
	have := 0
	for {
		n, err := body.Read(buf[have:])
		have += n
		if n > 0 {
			watchdog.Reset(silent)
			used, need, perr := fd.deliver(buf[:have])
			if perr != nil {
				return perr
			}
			have = copy(buf, buf[used:have])
			if need > len(buf) {
				buf = append(buf[:have], make([]byte, need-have)...)
				buf = buf[:cap(buf)]
			}
		}
		if err != nil {
			tmu.Lock()
			t := timedOut
			tmu.Unlock()
			switch {
			case t:
				return errors.New("feed: the owner has been silent too long")
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, io.EOF):
				return errors.New("feed: the owner closed it")
			}
			return err
		}
	}
}

// deliver appends the whole records in p to their subscriptions' queues
// and wakes their handlers. It returns how many bytes it used, and how
// many the next record needs when it is not whole yet.
func (fd *feedIn) deliver(p []byte) (used, need int, err error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	max := int(feedQueueMax.Load())
	for len(p)-used >= feedHeader {
		h := p[used:]
		kind, id, n := h[0], binary.BigEndian.Uint32(h[1:5]), int(binary.BigEndian.Uint32(h[5:9]))
		if n > feedRecordMax {
			return used, 0, fmt.Errorf("feed: a record of %d bytes", n)
		}
		if len(h) < feedHeader+n {
			return used, feedHeader + n, nil
		}
		payload := h[feedHeader : feedHeader+n]
		used += feedHeader + n
		switch kind {
		case feedData:
			x := fd.subs[id]
			if x == nil {
				continue // a subscription that B has left
			}
			// A record alone is always taken (a snapshot may be
			// bigger than the bound), else a subscription could
			// never get past it.
			if len(x.q) > 0 && len(x.q)+len(payload) > max {
				// Its reader does not keep up: it gets what it has
				// and subscribes again from its last event, while
				// the others go on.
				x.err = errOverflow
				delete(fd.subs, id)
			} else {
				x.q = append(x.q, payload...)
			}
			x.signal()
		case feedEnd:
			if x := fd.subs[id]; x != nil {
				x.end = true
				delete(fd.subs, id)
				x.signal()
			}
		case feedKeepalive:
		default:
			return used, 0, fmt.Errorf("feed: a record of kind %q", kind)
		}
	}
	return used, 0, nil
}

func (x *feedSub) signal() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// fail breaks the feed: every subscription gets err, and the next relay
// to its owner opens a new one.
func (fd *feedIn) fail(err error) {
	fs := &fd.s.feedsIn
	fs.mu.Lock()
	if fs.by[fd.url] == fd {
		delete(fs.by, fd.url)
	}
	fs.mu.Unlock()
	fd.mu.Lock()
	if fd.err == nil {
		fd.err = err
	}
	for id, x := range fd.subs {
		x.err = fd.err
		x.signal()
		delete(fd.subs, id)
	}
	if fd.idle != nil {
		fd.idle.Stop()
	}
	fd.mu.Unlock()
	if fd.cancel != nil {
		fd.cancel()
	}
}

// closeIdle closes the feed if it still has no subscription.
func (fd *feedIn) closeIdle() {
	fd.mu.Lock()
	idle := len(fd.subs) == 0 && fd.err == nil
	fd.mu.Unlock()
	if idle {
		fd.fail(errors.New("feed: closed when idle"))
	}
}

// closeFeeds closes every feed this replica reads; on shutdown.
func (s *Server) closeFeeds() {
	fs := &s.feedsIn
	fs.mu.Lock()
	fs.closed = true
	var all []*feedIn
	for _, fd := range fs.by {
		all = append(all, fd)
	}
	fs.mu.Unlock()
	for _, fd := range all {
		go func() {
			<-fd.ready
			fd.fail(context.Canceled)
		}()
	}
}

// subscribe subscribes a reader to answer m on the feed, from lastID; wake
// gets a value when the subscription has something for the reader.
func (fd *feedIn) subscribe(ctx context.Context, m *hxchat.Message, l *locale, lastID string, wake chan struct{}) (*feedSub, error) {
	s := fd.s
	fd.mu.Lock()
	if fd.err != nil {
		err := fd.err
		fd.mu.Unlock()
		return nil, err
	}
	fd.next++
	if fd.next == 0 {
		fd.next = 1 // 0 is the feed's own (keepalives)
	}
	x := &feedSub{id: fd.next, wake: wake}
	fd.subs[x.id] = x
	if fd.idle != nil {
		fd.idle.Stop()
	}
	fd.mu.Unlock()
	u := fmt.Sprintf("%s%sfeed/%s/sub/%d/c/%s/m/%d", fd.url, replicaPrefix, fd.id, x.id, m.ConversationID, m.ID)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(s.o.Cluster.Secret))
	req.Header.Set(headerLang, l.Lang)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := s.feedControl.Do(req)
	if err != nil {
		// A may have taken it before the request broke: drop it there.
		fd.leave(x, true)
		return nil, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return x, nil
	case http.StatusGone:
		// A no longer knows the feed (it restarted at the same
		// address): open a new one.
		fd.fail(errors.New("feed: the owner does not know it"))
	}
	fd.leave(x, false)
	return nil, fmt.Errorf("subscribe: status %d", resp.StatusCode)
}

// leave drops subscription x on B and, when unsubscribe is set and A may
// still serve it, on A too (without waiting).
func (fd *feedIn) leave(x *feedSub, unsubscribe bool) {
	fd.mu.Lock()
	if fd.subs[x.id] == x {
		delete(fd.subs, x.id)
	}
	unsubscribe = unsubscribe && !x.end && fd.err == nil
	if len(fd.subs) == 0 && fd.err == nil && fd.idle != nil {
		fd.idle.Reset(feedIdle)
	}
	fd.mu.Unlock()
	if !unsubscribe {
		return
	}
	s := fd.s
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		u := fmt.Sprintf("%s%sfeed/%s/unsub/%d", fd.url, replicaPrefix, fd.id, x.id)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
		req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(s.o.Cluster.Secret))
		if resp, err := s.feedControl.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
}

// relayFeed is relayFrom over the feed fd: the same events, the same
// results. A reader whose queue overflowed subscribes again from its last
// event, on the same feed, without going back to relayAnswer (which would
// wait relayRetry).
func (s *Server) relayFeed(ctx context.Context, e *eventWriter, fd *feedIn, m *hxchat.Message, l *locale, lastID string) (ended bool, last string, wrote, gone bool, err error) {
	r := feedRelay{e: e, wake: make(chan struct{}, 1)}
	// The owner sends no keepalive per stream on a feed: the reader's is
	// written here, as streamAnswer does, through the handler's wake.
	r.alive = time.AfterFunc(s.o.Keepalive, func() {
		r.due.Store(true)
		select {
		case r.wake <- struct{}{}:
		default:
		}
	})
	defer r.alive.Stop()
	for {
		x, err := fd.subscribe(ctx, m, l, lastID, r.wake)
		if err != nil {
			return false, string(r.last), r.wrote, false, err
		}
		ended, gone, err := s.relaySub(ctx, fd, x, &r)
		fd.leave(x, !ended)
		if err == errOverflow {
			if len(r.last) > 0 {
				lastID = string(r.last)
			}
			continue
		}
		return ended, string(r.last), r.wrote, gone, err
	}
}

// feedRelay is the state of one relayed reader across its subscriptions.
type feedRelay struct {
	e     *eventWriter
	wake  chan struct{} // the subscription's, and the keepalive's
	due   atomic.Bool   // a keepalive is due
	alive *time.Timer
	// last is the id of the last event copied, made a string only on
	// return: every token's event has one.
	last  []byte
	wrote bool
}

// relaySub copies subscription x's events to the reader until its final
// event (ended), the reader leaves (gone), or the subscription fails (err:
// the feed broke, A dropped it without its end, or errOverflow).
func (s *Server) relaySub(ctx context.Context, fd *feedIn, x *feedSub, r *feedRelay) (ended, gone bool, err error) {
	for {
		select {
		case <-r.wake:
		case <-ctx.Done():
			return false, false, ctx.Err()
		}
		fd.mu.Lock()
		data := x.q
		x.q, x.spare = x.spare, nil
		end, xerr := x.end, x.err
		fd.mu.Unlock()
		if len(data) > 0 {
			if pause := relayPause.Load(); pause != nil {
				(*pause)()
			}
			// Whole events only: A's records carry whole events.
			if !r.e.write(data) {
				return false, true, nil
			}
			r.wrote = true
			if id := lastEventID(data); len(id) > 0 {
				r.last = append(r.last[:0], id...)
			}
			if bytes.HasPrefix(data, finalLine) || bytes.Contains(data, finalAfter) {
				return true, false, nil
			}
			fd.mu.Lock()
			if x.spare == nil {
				x.spare = data[:0]
			}
			fd.mu.Unlock()
		}
		switch {
		case xerr != nil:
			return false, false, xerr
		case end:
			return false, false, errors.New("the owner ended the stream before the answer")
		}
		if r.due.Swap(false) {
			if !r.e.write(keepalive) {
				return false, true, nil
			}
			r.alive.Reset(s.o.Keepalive)
		}
	}
}

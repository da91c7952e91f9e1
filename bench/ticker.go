package main

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The fake upstream's write side over plain HTTP/1.1: one goroutine, the
// ticker, writes every stream's tokens. The handler of a chat completion
// hijacks the connection, writes the response head and hands the stream to
// the ticker, which keeps the streams in a heap by the time their next
// token is due, sleeps until the first one is, and then writes every token
// due with one write(2) each, straight to the socket (chunked by hand,
// exactly the bytes net/http would send), its stamp taken just before.
// A stream that ended goes back to the HTTP server, which reads the
// connection's next request (keep-alive, as before).
//
// Per token this is one write(2) and a heap fix; the goroutine wakes once
// for all the tokens due at that moment, not once per token and stream.
// Over TLS (HTTP/2) the handler keeps its own loop (upstream.chat).

// tickGrain is how often at most the ticker wakes: every token due within
// one grain goes out at its end, one after the other (its stamp taken then,
// so hxchat's latency is measured as before; the upstream's lag behind its
// schedule grows by up to the grain). Go's own timers, asleep in epoll_wait
// with a timeout in milliseconds, are about that coarse anyway when the host
// is idle; a burst of writes wakes hxchat's threads once, not once a token.
var tickGrain = time.Millisecond

// tstream is one answer being streamed by the ticker.
type tstream struct {
	conn  net.Conn
	fd    int
	s     *script
	usage bool
	pt    int           // prompt tokens (for the usage chunk)
	start time.Duration // when the request came
	p     streamParams
	i     int           // the next token
	due   time.Duration // when it is due
	buf   []byte

	lagMax, lagSum time.Duration
}

// streamHeap orders the streams by their next token's time: a binary
// min-heap, written out for *tstream (container/heap's interface calls
// were 3 % of the harness's CPU).
type streamHeap []*tstream

// push adds s.
func (h *streamHeap) push(s *tstream) {
	*h = append(*h, s)
	a := *h
	i := len(a) - 1
	for i > 0 {
		up := (i - 1) / 2
		if a[up].due <= a[i].due {
			break
		}
		a[up], a[i] = a[i], a[up]
		i = up
	}
}

// pop removes the first stream.
func (h *streamHeap) pop() *tstream {
	a := *h
	s := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = nil
	*h = a[:n]
	h.down()
	return s
}

// down restores the order after the first stream's time grew.
func (h streamHeap) down() {
	i, n := 0, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].due < h[l].due {
			m = r
		}
		if h[i].due <= h[m].due {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// ticker writes the tokens of many streams from one goroutine.
type ticker struct {
	u    *upstream
	back func(net.Conn) // hands a finished stream's connection back to the server

	mu       sync.Mutex
	incoming []*tstream
	wake     chan struct{}
	exited   chan struct{}

	h     streamHeap    // the ticker goroutine's own
	grain time.Duration // the ticker wakes at multiples of this (>0)
}

func newTicker(u *upstream, back func(net.Conn)) *ticker {
	t := &ticker{u: u, back: back, wake: make(chan struct{}, 1), exited: make(chan struct{}), grain: tickGrain}
	go t.loop()
	return t
}

// add hands a stream to the ticker.
func (t *ticker) add(s *tstream) {
	t.mu.Lock()
	t.incoming = append(t.incoming, s)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (t *ticker) loop() {
	defer close(t.exited)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var in []*tstream
	for {
		t.mu.Lock()
		in, t.incoming = t.incoming, in[:0]
		t.mu.Unlock()
		for _, s := range in {
			s.due = s.start + s.p.Delay
			t.h.push(s)
		}
		clear(in)
		t.tick()
		if len(t.h) > 0 {
			// Wake at the next multiple of the grain at or after the first
			// token due: the tokens due meanwhile go out together.
			next := (t.h[0].due + t.grain - 1) / t.grain * t.grain
			timer.Reset(max(next-t.u.clk.now(), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-timer.C:
		case <-t.wake:
		case <-t.u.done:
			for _, s := range t.h {
				s.conn.Close()
			}
			t.mu.Lock()
			for _, s := range t.incoming {
				s.conn.Close()
			}
			t.mu.Unlock()
			return
		}
	}
}

// tick writes every token due by now.
func (t *ticker) tick() {
	for len(t.h) > 0 {
		s := t.h[0]
		now := t.u.clk.now()
		if s.due > now {
			return
		}
		if t.step(s, now) {
			t.h.down()
		} else {
			t.h.pop()
		}
	}
}

// step writes the next token of s and reports whether more are to come.
func (t *ticker) step(s *tstream, now time.Duration) bool {
	sc := s.s
	i := s.i
	// One chunk of the HTTP body: the role chunk before the first token,
	// then the token's event, its stamp the time of this write.
	size := len(sc.tokens[i])
	if i == 0 {
		size += len(sc.first)
	}
	b := strconv.AppendInt(s.buf[:0], int64(size), 16)
	b = append(b, "\r\n"...)
	if i == 0 {
		b = append(b, sc.first...)
	}
	off := len(b) + sc.stampOff[i]
	b = append(b, sc.tokens[i]...)
	b = append(b, "\r\n"...)
	putStamp(b[off:off+stampDigits], now)
	s.buf = b
	if !t.write(s, b) {
		t.drop(s)
		return false
	}
	t.u.sent.Add(1)
	lag := now - s.due
	s.lagSum += lag
	s.lagMax = max(s.lagMax, lag)
	s.i++
	if s.i < len(sc.tokens) {
		s.due = s.start + s.p.Delay + time.Duration(s.i)*s.p.Every
		return true
	}
	// The end: the finish chunk (and usage), [DONE], the body's last chunk.
	body := append([]byte(nil), sc.finish...)
	if s.usage {
		body = appendUsage(body, len(sc.tokens), s.pt)
	}
	body = append(body, sc.done...)
	b = strconv.AppendInt(s.buf[:0], int64(len(body)), 16)
	b = append(b, "\r\n"...)
	b = append(b, body...)
	b = append(b, "\r\n0\r\n\r\n"...)
	if !t.write(s, b) {
		t.drop(s)
		return false
	}
	t.u.noteLag(s.lagSum, s.lagMax)
	t.back(s.conn)
	return false
}

// drop ends a stream whose connection failed.
func (t *ticker) drop(s *tstream) {
	t.u.noteLag(s.lagSum, s.lagMax)
	s.conn.Close()
}

// write writes b to the stream's socket: one write(2), straight to the
// non-blocking socket (a raw system call: it cannot block). Should the
// socket be full (hxchat not reading: a token takes some 300 bytes of a
// buffer of at least 128 KiB, so it does not happen in a rung), it falls
// back to net's blocking write, bounded by a deadline: every stream then
// waits, which shows as the upstream's lag, and is counted (stalls).
func (t *ticker) write(s *tstream, b []byte) bool {
	n, err := rawWrite(s.fd, b)
	if err == nil && n == len(b) {
		return true
	}
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		return false
	}
	n = max(n, 0)
	t.u.stalls.Add(1)
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = s.conn.Write(b[n:])
	s.conn.SetWriteDeadline(time.Time{})
	return err == nil
}

// keepListener is the upstream's listener: it accepts new connections and
// takes back those the ticker is done with, so that the server reads
// their next request as it would have without the hijack.
type keepListener struct {
	net.Listener
	back   chan net.Conn
	accept chan acceptResult
	once   sync.Once
	closed chan struct{}
	cOnce  sync.Once
}

type acceptResult struct {
	c   net.Conn
	err error
}

func newKeepListener(ln net.Listener) *keepListener {
	return &keepListener{Listener: ln, back: make(chan net.Conn, 64), accept: make(chan acceptResult), closed: make(chan struct{})}
}

func (l *keepListener) Accept() (net.Conn, error) {
	l.once.Do(func() {
		go func() {
			for {
				c, err := l.Listener.Accept()
				select {
				case l.accept <- acceptResult{c, err}:
				case <-l.closed:
					if c != nil {
						c.Close()
					}
					return
				}
				if err != nil {
					return
				}
			}
		}()
	})
	select {
	case c := <-l.back:
		return c, nil
	case a := <-l.accept:
		return a.c, a.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// giveBack returns a connection to the server; it is closed if the
// listener is.
func (l *keepListener) giveBack(c net.Conn) {
	select {
	case l.back <- c:
	case <-l.closed:
		c.Close()
	default:
		go func() { // the server is slow to accept: do not hold the ticker
			select {
			case l.back <- c:
			case <-l.closed:
				c.Close()
			}
		}()
	}
}

func (l *keepListener) Close() error {
	l.cOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

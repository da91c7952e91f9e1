package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// The load generator: N browsers, each with its own cookies, doing what a
// person does in hxchat's page with htmx 4: load the page, send a message
// (POST /c, as the composer form does), follow the answer's event stream as
// the hx-sse extension does (same URL, same headers, same parsing, the same
// reconnects with Last-Event-ID), and swap the fragments into the page.

// Reconnect policy of the hx-sse extension (htmx 4.0.1 defaults): the delay
// doubles from 500 ms up to 60 s, ±30 % jitter, attempts unlimited. Here the
// attempts are bounded.
const (
	reconnectDelay    = 500 * time.Millisecond
	reconnectMaxDelay = 60 * time.Second
	reconnectJitter   = 0.3
	maxConnects       = 12 // event stream requests per answer, reconnects included
)

// loadGen holds what the browsers of one rung share.
type loadGen struct {
	base string // hxchat's URL (of its first replica)
	// replicas are the hxchat processes of the rung: one, or several on one
	// PostgreSQL (-replicas). A browser posts to one and may follow the
	// answer's stream on another.
	replicas []*replica
	clk      clock
	params   streamParams
	tr       *http.Transport
	t0       time.Duration // start of the measured phase (clock time)

	perSecond []atomic.Int64 // tokens delivered in each second since t0
	open      atomic.Int64   // event streams open now
	maxOpen   atomic.Int64
	trace     bool // keep each answer's token order (for tests)

	// The epoll client (-client epoll): the event streams on pollers.
	client  string // clientEpoll or clientNetHTTP
	pollers []*poller
	next    atomic.Int64 // round robin over the pollers
	answers atomic.Int64 // answers begun (to sample the page checks)
}

// The browsers' event stream clients (-client).
const (
	clientEpoll   = "epoll"   // all streams on a few epoll sets (epoll_linux.go)
	clientNetHTTP = "nethttp" // net/http, a goroutine per stream
)

// replica is one hxchat process the browsers reach.
type replica struct {
	base string                 // its URL, like http://127.0.0.1:43121
	sa   *syscall.SockaddrInet4 // its address, for the epoll client
	host string                 // and its Host header
}

// setReplicas sets the hxchat processes of the rung, by their base URLs.
func (g *loadGen) setReplicas(bases ...string) error {
	g.base = bases[0]
	g.replicas = nil
	for _, b := range bases {
		r := &replica{base: b}
		if g.client == clientEpoll {
			var err error
			if r.sa, r.host, err = sockaddr(b); err != nil {
				return err
			}
		}
		g.replicas = append(g.replicas, r)
	}
	return nil
}

// startPollers readies the epoll client: n pollers.
func (g *loadGen) startPollers(n int) error {
	for range max(n, 1) {
		p, err := newPoller()
		if err != nil {
			g.stopPollers()
			return err
		}
		g.pollers = append(g.pollers, p)
	}
	return nil
}

// stopPollers ends the pollers and any stream still on them.
func (g *loadGen) stopPollers() {
	for _, p := range g.pollers {
		p.stop()
	}
	g.pollers = nil
}

func newTransport(streams int) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          streams + 64,
		MaxIdleConnsPerHost:   streams + 64,
		MaxConnsPerHost:       0, // no limit: every browser its own stream
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// answerResult is what one browser measured of one answer.
type answerResult struct {
	lat         []time.Duration // added latency of each token, in the order they came
	at          []time.Duration // when each came, since the start of the measured phase
	order       []int           // sequence numbers of new tokens, in order (trace only)
	ttft        time.Duration   // added latency of token 1; -1 if it never came
	postToFirst time.Duration   // from sending the message to seeing token 1, minus the model's delay; -1 if never
	reconnects  int
	relayed     bool     // followed on a replica other than the one that generated it
	wire        int64    // bytes of its event streams (bodies, uncompressed)
	notes       []string // non-fatal troubles (each reconnect's cause)
	fail        string   // the kind of failure; "" when the answer arrived whole
	detail      string   // what exactly failed (for the log)
}

// browser is one user with its own cookie jar. It loads the page and posts
// to one replica and follows its answers' streams on another, or the same
// (the session cookie is the host's, whatever the port: every replica gets it).
type browser struct {
	g          *loadGen
	c          *http.Client
	post, read *replica
}

// newBrowser returns browser i of the rung. With several replicas, browser
// i posts to replica i mod n and, in every other pair of browsers, follows
// its answers on the next replica: half of the readers are on a replica
// that does not generate the answer (for two replicas: 0→0, 1→1, 0→1, 1→0).
func (g *loadGen) newBrowser(i int) *browser {
	jar, _ := cookiejar.New(nil)
	n := len(g.replicas)
	post := i % n
	read := (post + (i/n)%2) % n
	return &browser{g: g, c: &http.Client{Transport: g.tr, Jar: jar}, post: g.replicas[post], read: g.replicas[read]}
}

// relayed reports whether the browser follows its answers on a replica
// other than the one that generates them.
func (b *browser) relayed() bool { return b.post != b.read }

// failure is an error of a known kind.
type failure struct{ kind, detail string }

func (f *failure) Error() string { return f.kind + ": " + f.detail }

func fail(kind, format string, a ...any) *failure {
	return &failure{kind: kind, detail: fmt.Sprintf(format, a...)}
}

// classify names the kind of a transport error.
func classify(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EMFILE):
		return "connect"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return "connect"
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return "reset"
	}
	return "io"
}

func (b *browser) header(req *http.Request) {
	h := req.Header
	h.Set("User-Agent", "hxchat-bench")
	h.Set("Accept-Language", "en-US,en;q=0.9")
}

// page loads the chat page, as a browser opening hxchat does (the static
// files are cached by then: their URLs carry their hash).
func (b *browser) page(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", b.post.base+"/", nil)
	b.header(req)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	resp, err := b.c.Do(req)
	if err != nil {
		return fail(classify(ctx, err), "GET /: %v", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<20)); err != nil {
		return fail(classify(ctx, err), "GET / body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Sprintf("http %d", resp.StatusCode), "GET /: %s", resp.Status)
	}
	return nil
}

// send posts the message as the composer form does with htmx and returns
// the event stream's path from the hx-sse:connect attribute of the answer.
func (b *browser) send(ctx context.Context, text string) (string, error) {
	form := url.Values{"message": {text}}.Encode()
	req, _ := http.NewRequestWithContext(ctx, "POST", b.post.base+"/c", strings.NewReader(form))
	b.header(req)
	h := req.Header
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Accept", "text/html")
	h.Set("HX-Request", "true")
	h.Set("HX-Request-Type", "partial")
	h.Set("HX-Source", "form#composer")
	h.Set("HX-Target", "#log")
	h.Set("HX-Current-URL", b.post.base+"/")
	h.Set("Origin", b.post.base)
	h.Set("Sec-Fetch-Site", "same-origin")
	h.Set("Sec-Fetch-Mode", "cors")
	resp, err := b.c.Do(req)
	if err != nil {
		return "", fail(classify(ctx, err), "POST /c: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fail(classify(ctx, err), "POST /c body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fail(fmt.Sprintf("http %d", resp.StatusCode), "POST /c: %s: %.200s", resp.Status, body)
	}
	const key = `hx-sse:connect="`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return "", fail("protocol", "POST /c: no hx-sse:connect in the answer: %.300s", body)
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", fail("protocol", "POST /c: unterminated hx-sse:connect")
	}
	path := html.UnescapeString(string(rest[:j]))
	if !strings.HasPrefix(path, "/") {
		return "", fail("protocol", "POST /c: stream URL %q is not a local path", path)
	}
	return path, nil
}

// answerDOMID returns the DOM id of the answer whose stream is path:
// /c/{id}/m/{mid}/events → "m{mid}".
func answerDOMID(path string) (string, bool) {
	i := strings.Index(path, "/m/")
	if i < 0 || !strings.HasSuffix(path, "/events") {
		return "", false
	}
	mid := path[i+3 : len(path)-len("/events")]
	if mid == "" || strings.Trim(mid, "0123456789") != "" {
		return "", false
	}
	return "m" + mid, true
}

// answer does one turn: sends the message and follows the answer to its end.
func (b *browser) answer(ctx context.Context) *answerResult {
	res := &answerResult{ttft: -1, postToFirst: -1}
	if err := b.turn(ctx, res); err != nil {
		f, ok := err.(*failure)
		if !ok {
			f = fail("io", "%v", err)
		}
		res.fail, res.detail = f.kind, f.detail
	}
	return res
}

func (b *browser) turn(ctx context.Context, res *answerResult) error {
	g := b.g
	p := g.params
	posted := g.clk.now()
	path, err := b.send(ctx, p.message())
	if err != nil {
		return err
	}
	_, ok := answerDOMID(path)
	if !ok {
		return fail("protocol", "unexpected stream URL %q", path)
	}
	dom := &answerDOM{}
	res.lat = make([]time.Duration, 0, p.Tokens)
	res.at = make([]time.Duration, 0, p.Tokens)
	maxSeq, gaps := 0, 0
	var now time.Duration
	onToken := func(seq int, stampUS int64) {
		if seq <= maxSeq {
			return // shown already (the open line is sent again at every step)
		}
		if seq != maxSeq+1 {
			gaps++
		}
		maxSeq = seq
		lat := max(now-time.Duration(stampUS)*time.Microsecond, 0)
		res.lat = append(res.lat, lat)
		res.at = append(res.at, now-g.t0)
		if g.trace {
			res.order = append(res.order, seq)
		}
		if seq == 1 {
			res.ttft = lat
			res.postToFirst = now - posted - p.Delay
		}
		if s := int((now - g.t0) / time.Second); s >= 0 && s < len(g.perSecond) {
			g.perSecond[s].Add(1)
		}
	}
	scan := func(content []byte) { scanTokens(content, onToken) }
	liveOK := true
	onFinal := func() {
		// What the page showed just before the final bubble replaced it:
		// every token exactly once, in order (when all had come).
		if maxSeq == p.Tokens && !inOrder(tokenSeqs(dom.shown()), p.Tokens) {
			liveOK = false
		}
	}
	// The full check of the page (every fragment swapped into a model of
	// it) costs more than the rest of the browser; the epoll client does it
	// for a sample of the answers, and only scans the others' fragments for
	// tokens. Either way every token is counted once, in order.
	if g.client == clientEpoll && !g.trace && g.answers.Add(1)%domSample != 1 {
		dom = nil
	}
	var text []byte // the epoll client's scratch for a fragment's text
	var state string
	events := 0
	tooMany := false
	// onEvent handles one event; true ends the stream (the final event,
	// or too many events). The epoll client calls it on its poller's
	// goroutine while the browser waits.
	onEvent := func(name, data []byte, hasData bool) bool {
		now = g.clk.now()
		if events++; events > 4*p.Tokens+64 {
			tooMany = true
			return true
		}
		switch {
		case len(name) == 0 && hasData:
			if dom != nil {
				dom.apply(data, onFinal, scan)
			} else {
				text = scanPartials(data, text, scan)
			}
		case string(name) == "done":
			state = string(data)
			return true
		}
		return false
	}

	lastID := ""
	attempt := 0 // htmx's reconnect counter: reset by every successful connect
	for connects := 0; ; connects++ {
		if connects > 0 {
			attempt++
			res.reconnects++
			if connects >= maxConnects {
				return fail("ended early", "stream still unfinished after %d connects (last: %s)", connects, strings.Join(res.notes[max(len(res.notes)-1, 0):], ""))
			}
			d := min(reconnectDelay<<(attempt-1), reconnectMaxDelay)
			d += time.Duration((2*rand.Float64() - 1) * reconnectJitter * float64(d))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return fail("timeout", "waiting to reconnect after: %s", strings.Join(res.notes, "; "))
			}
		}
		sendID := "" // htmx sends the last id it saw on reconnects only
		if connects > 0 {
			sendID = lastID
		}
		var c connectResult
		if g.client == clientEpoll {
			c = b.eventsEpoll(ctx, path, sendID, onEvent)
		} else {
			c = b.eventsNetHTTP(ctx, path, sendID, onEvent)
		}
		if c.err != nil {
			kind := classify(ctx, c.err)
			if connects == 0 || kind == "timeout" {
				return fail(kind, "GET events: %v", c.err)
			}
			res.notes = append(res.notes, kind)
			continue
		}
		if c.status != http.StatusOK {
			kind := fmt.Sprintf("http %d", c.status)
			if connects == 0 {
				return fail(kind, "GET events: %d", c.status)
			}
			res.notes = append(res.notes, kind)
			continue
		}
		if !strings.HasPrefix(c.ctype, "text/event-stream") {
			return fail("protocol", "GET events: Content-Type %q", c.ctype)
		}
		attempt = 0
		if c.lastID != "" {
			lastID = c.lastID
		}
		res.wire += c.wire
		rerr := c.rerr
		if state != "" {
			break
		}
		switch {
		case ctx.Err() != nil:
			return fail("timeout", "stream unfinished at the deadline (%d of %d tokens)", maxSeq, p.Tokens)
		case tooMany:
			return fail("protocol", "more than %d events without the final one", 4*p.Tokens+64)
		case errors.Is(rerr, errEventTooBig):
			return fail("protocol", "%v", rerr)
		case errors.Is(rerr, io.EOF):
			res.notes = append(res.notes, "ended early")
		default:
			res.notes = append(res.notes, "ended early ("+classify(ctx, rerr)+")")
		}
	}

	switch {
	case state != "done":
		return fail("state "+state, "the answer ended %s", state)
	case maxSeq < p.Tokens:
		return fail("tokens missing", "%d of %d tokens arrived", maxSeq, p.Tokens)
	case gaps > 0:
		return fail("tokens out of order", "%d tokens came before one before them", gaps)
	case dom == nil:
		return nil // not sampled: the page's checks below are skipped
	case !liveOK:
		return fail("tokens twice", "the page showed a token twice or out of order: %v", tokenSeqs(dom.shown()))
	case dom.final == nil:
		return fail("protocol", "no final bubble before the final event")
	case !inOrder(tokenSeqs(dom.final), p.Tokens):
		return fail("tokens final", "the final bubble does not hold tokens 1..%d in order", p.Tokens)
	case dom.unknown() > 0:
		return fail("protocol", "%d fragments aimed at unknown targets", dom.unknown())
	}
	return nil
}

// connectResult is what one request of the event stream got.
type connectResult struct {
	err    error  // no response: the connection failed
	status int    // the response's status
	ctype  string // its Content-Type
	rerr   error  // what ended the body before the final event: io.EOF when it just ended
	lastID string // the last event id seen, "" if none
	wire   int64  // body bytes read
}

// eventsHeader sets what htmx's hx-sse sends with the stream's request.
func eventsHeader(h http.Header, base, lastID string) {
	h.Set("User-Agent", "hxchat-bench")
	h.Set("Accept-Language", "en-US,en;q=0.9")
	h.Set("Accept", "text/html, text/event-stream")
	h.Set("HX-Request", "true")
	h.Set("HX-Current-URL", base+"/")
	h.Set("Sec-Fetch-Site", "same-origin")
	if lastID != "" {
		h.Set("Last-Event-ID", lastID)
	}
}

// eventsNetHTTP follows the event stream with net/http (-client nethttp):
// a goroutine blocked in the body's read per stream.
func (b *browser) eventsNetHTTP(ctx context.Context, path, lastID string, onEvent func(name, data []byte, hasData bool) bool) connectResult {
	g := b.g
	req, _ := http.NewRequestWithContext(ctx, "GET", b.read.base+path, nil)
	eventsHeader(req.Header, b.read.base, lastID)
	resp, err := b.c.Do(req)
	if err != nil {
		return connectResult{err: err}
	}
	defer resp.Body.Close()
	c := connectResult{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type")}
	if c.status != http.StatusOK || !strings.HasPrefix(c.ctype, "text/event-stream") {
		return c
	}
	g.noteOpen(1)
	defer g.noteOpen(-1)
	r := newSSEReader(resp.Body)
	r.lastID = lastID
	for {
		ev, err := r.next()
		if err != nil {
			c.rerr = err
			break
		}
		if onEvent([]byte(ev.name), ev.data, ev.hasData) {
			break
		}
	}
	c.lastID, c.wire = r.lastID, r.read
	return c
}

// eventsEpoll follows the event stream on one of the load generator's
// pollers (-client epoll): the request is written and the response parsed
// there, and onEvent called on the poller's goroutine; this goroutine
// sleeps until the stream ends.
func (b *browser) eventsEpoll(ctx context.Context, path, lastID string, onEvent func(name, data []byte, hasData bool) bool) connectResult {
	g := b.g
	// The request, as net/http would write it for eventsNetHTTP.
	h := http.Header{}
	eventsHeader(h, b.read.base, lastID)
	if u, err := url.Parse(b.read.base + path); err == nil {
		var cs []string
		for _, ck := range b.c.Jar.Cookies(u) {
			cs = append(cs, ck.Name+"="+ck.Value)
		}
		if len(cs) > 0 {
			h.Set("Cookie", strings.Join(cs, "; "))
		}
	}
	var req bytes.Buffer
	req.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + b.read.host + "\r\n")
	h.Write(&req)
	req.WriteString("\r\n")

	s := &estream{req: req.Bytes()}
	s.p.onEvent = onEvent
	s.p.LastID = append(s.p.LastID, lastID...)
	pl := g.pollers[int(g.next.Add(1))%len(g.pollers)]
	if err := pl.open(b.read.sa, s); err != nil {
		return connectResult{err: os.NewSyscallError("connect", err)}
	}
	g.noteOpen(1) // connecting or open
	defer g.noteOpen(-1)
	select {
	case <-s.done:
	case <-ctx.Done():
		pl.cancel(s)
		<-s.done
	}
	if s.p.Status == 0 { // no response head
		err := s.err
		if err == errCanceled || err == nil {
			err = ctx.Err()
		}
		if errno, ok := err.(syscall.Errno); ok {
			err = os.NewSyscallError("connect", errno)
		}
		return connectResult{err: err}
	}
	c := connectResult{status: s.p.Status, ctype: s.p.CType, lastID: string(s.p.LastID), wire: s.p.Body}
	if s.p.OK() {
		c.rerr = s.err
		if s.p.ended() {
			c.rerr = io.EOF
		}
	}
	return c
}

// domSample: the epoll client checks the page of one answer in so many.
const domSample = 50

// scanPartials passes the text of every <hx-partial> fragment of an event's
// data (its tags taken out) to scan, as answerDOM.apply does, without
// swapping them into a page. text is scratch space, returned for reuse.
func scanPartials(data, text []byte, scan func(content []byte)) []byte {
	for {
		i := bytes.Index(data, partialOpen)
		if i < 0 {
			return text
		}
		data = data[i+len(partialOpen):]
		end := bytes.IndexByte(data, '>')
		j := bytes.Index(data, partialClose)
		if end < 0 || j < end {
			return text
		}
		text = appendTextOnly(text[:0], data[end+1:j])
		scan(text)
		data = data[j+len(partialClose):]
	}
}

func (g *loadGen) noteOpen(d int64) {
	n := g.open.Add(d)
	for {
		m := g.maxOpen.Load()
		if n <= m || g.maxOpen.CompareAndSwap(m, n) {
			return
		}
	}
}

package main

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// tcpProxy stands between the browser and hxchat, so that a test can cut
// the network: while it is down it drops every connection it holds and
// closes every new one at once, as a server that went away does.
type tcpProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

// newProxy starts a proxy to target on a loopback address; it stops, with
// every connection, when the test ends.
func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

// Addr is the address the browser goes to.
func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

func (p *tcpProxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.forget(c)
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		s.Close()
		return
	}
	p.conns[s] = struct{}{}
	p.mu.Unlock()
	defer p.forget(s)
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
	c.Close()
	s.Close()
	<-done
}

func (p *tcpProxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// setDown cuts the network (every connection dropped, new ones refused) or
// brings it back.
func (p *tcpProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}

// TestBrowserUnreachable: a message sent while hxchat cannot be reached
// stays in the box, with the reason beside it; sent again once hxchat is
// back, it goes and the reason goes away. An answer whose stream drops
// says that it reconnects, and stops saying so when the stream is back;
// the answer then ends as usual.
func TestBrowserUnreachable(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: []string{"one ", "two ", "three"}, Gate: gate, GateAfter: 1})
	m := startApp(t, testConfig(up, t.TempDir()))
	px := newProxy(t, m.Addr())
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+px.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))

	px.setDown(true)
	do(t, ctx, chromedp.SendKeys(chromedp.ID("message"), "keep me"), pressEnter())
	waitText(t, ctx, "#alert", "the reason", func(s string) bool { return strings.Contains(s, "Cannot reach hxchat — your message is kept") })
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != "keep me" {
		t.Fatalf("the box holds %q after a failed send", v)
	}
	if n := userBubbles(t, ctx); n != 0 {
		t.Fatalf("%d user bubbles after a failed send", n)
	}

	px.setDown(false)
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), pressEnter())
	waitText(t, ctx, ".msg.assistant .text", "the first token", func(s string) bool { return s == "one" })
	if a := eval[string](t, ctx, `document.getElementById('alert').textContent`); a != "" {
		t.Errorf("the reason is still shown after the message went: %q", a)
	}
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != "" {
		t.Errorf("the box holds %q after the message went", v)
	}

	// The stream drops mid-answer.
	reconnecting := `(a => a.classList.contains('reconnecting') && !a.querySelector('.reconnect-status').hidden)(document.querySelector('.msg.assistant'))`
	if eval[bool](t, ctx, reconnecting) {
		t.Fatal("reconnecting before the stream dropped")
	}
	px.setDown(true)
	waitFor(t, "the answer to say it reconnects", func() bool { return eval[bool](t, ctx, reconnecting) })
	if s := eval[string](t, ctx, `document.querySelector('.msg.assistant .reconnect-status').textContent`); s != "Connection lost — reconnecting…" {
		t.Errorf("reconnecting status %q", s)
	}
	px.setDown(false)
	waitFor(t, "the stream to be back", func() bool {
		return eval[bool](t, ctx, `(a => !a.classList.contains('reconnecting') && a.querySelector('.reconnect-status').hidden)(document.querySelector('.msg.assistant'))`)
	})
	close(gate)
	waitText(t, ctx, ".msg.assistant.state-done .text", "the whole answer", func(s string) bool { return s == "one two three" })
	// htmx reports the failed requests on the console itself.
	for _, expected := range []string{"Failed to fetch", "network error", "net::ERR_"} {
		log.problems = filterProblems(log.problems, expected)
	}
	log.check(t)
}

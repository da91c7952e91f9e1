package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/sqlite"
)

// child is hxchat running as its own process (this test binary, which runs
// main when HXCHAT_TEST_MAIN=1).
type child struct {
	cmd  *exec.Cmd
	base string
	done chan struct{} // closed when the process has exited
	err  error         // how it exited; set before done is closed

	mu  sync.Mutex
	log []string // its output so far, line by line
}

var reReady = regexp.MustCompile(`hxchat is ready"? url=(http://\S+)`)

// startChild starts hxchat on port 0 with its data in dir, talking to the
// fake upstream up, with a drain of 300ms; args are more flags (a flag given
// again wins). It kills the process, if it still runs, when the test ends.
func startChild(t *testing.T, up *llmtest.Server, dir string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-addr", "127.0.0.1:0", "-data", dir, "-drain", "300ms"}, args...)...)
	cmd.Dir = t.TempDir() // no .env there
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURE_OPENAI_") && !strings.HasPrefix(kv, "OPENAI_") && !strings.HasPrefix(kv, "HXCHAT_") &&
			!strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	// Under -race the runtime sleeps a second before it exits (to report
	// late races); the shutdown times measured here are hxchat's.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(env, "HXCHAT_TEST_MAIN=1", "GORACE="+gorace,
		"OPENAI_BASE_URL="+up.OpenAIBaseURL(), "OPENAI_API_KEY=sk-child", "OPENAI_MODEL=gpt-test")
	stderr, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := reReady.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
			c.mu.Lock()
			c.log = append(c.log, sc.Text())
			c.mu.Unlock()
			t.Log("child: " + sc.Text())
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	// The reader above logs to t: it must end before the test does.
	t.Cleanup(func() { cmd.Process.Kill(); <-c.done })
	select {
	case c.base = <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("hxchat did not start")
	}
	return c
}

// wait waits for the process to exit and returns how it exited.
func (c *child) wait() error {
	<-c.done
	return c.err
}

// logged reports whether the process has written a line containing s.
func (c *child) logged(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.log {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func browserAt(t *testing.T, base string, jar http.CookieJar) *browser {
	return &browser{t: t, base: base, c: &http.Client{Jar: jar}}
}

// TestSIGTERM: SIGTERM in the middle of an answer stops accepting, stores the
// answer as interrupted after the drain time, closes its stream with the
// final event, and exits 0.
func TestSIGTERM(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	defer close(gate)
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 2})
	dir := t.TempDir()
	c := startChild(t, up, dir)
	jar, _ := cookiejar.New(nil)
	b := browserAt(t, c.base, jar)
	conv, events := b.send("", "drain me")

	var (
		wg  sync.WaitGroup
		evs []event
	)
	wg.Add(1)
	go func() { defer wg.Done(); evs = b.stream(events, "", 0) }()
	waitFor(t, "the stream to open", func() bool { return len(up.Requests()) == 1 })
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	c.cmd.Process.Signal(syscall.SIGTERM)
	wg.Wait()
	if err := c.wait(); err != nil {
		t.Errorf("exit: %v, want status 0", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %v with a 300ms drain", took)
	}
	var d answerDOM
	d.apply(t, evs)
	if d.html() != rendered("Hello, ") || !strings.Contains(d.final, "state-interrupted") || evs[len(evs)-1].name != "done" {
		t.Errorf("stream ended with %q, final %s", d.html(), d.final)
	}
	if resp, err := http.Get(c.base + "/"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Error("still accepting connections after exit")
	}
	store, err := sqlite.Open(context.Background(), dir+"/hxchat.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	msgs, err := store.Messages(context.Background(), conv)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages after SIGTERM: %v %v", msgs, err)
	}
	if msgs[1].State != hxchat.StateInterrupted || msgs[1].Content != "Hello, " {
		t.Errorf("answer after SIGTERM: %+v", msgs[1])
	}
}

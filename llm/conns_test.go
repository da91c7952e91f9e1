package llm

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestIdleConnectionsKept: after a moment when many answers ran at once, the
// next answers reuse those connections to the model service instead of
// dialling again (Go's default keeps only 2 idle per host).
func TestIdleConnectionsKept(t *testing.T) {
	const n = 8
	s := llmtest.NewServer(t)
	gate := make(chan struct{})
	s.Reply(llmtest.Reply{Tokens: []string{"a", "b"}, Gate: gate, GateAfter: 1})
	p := newOpenAI(t, s, nil) // the shared default client
	req := hxchat.ChatRequest{Messages: []hxchat.Turn{{Role: hxchat.RoleUser, Content: "q"}}}

	round := func(release bool) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		started := make(chan struct{}, n)
		for range n {
			wg.Go(func() {
				first := true
				for d, err := range p.Stream(context.Background(), req) {
					if err != nil {
						errs <- err
					}
					if first && d.Text != "" {
						first = false
						started <- struct{}{}
					}
				}
			})
		}
		if release {
			// Every answer holds its connection until all have started.
			for range n {
				<-started
			}
			close(gate)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	round(true)
	if c := s.Conns(); c != n {
		t.Fatalf("%d connections for %d answers at once, want %d", c, n, n)
	}
	round(false) // the gate is open now
	if c := s.Conns(); c != n {
		t.Errorf("%d connections after a second round of %d answers, want the first round's %d reused", c, n, n)
	}
}

// TestOpenAfterDone: a service that keeps the response open after [DONE]
// does not hold the answer: it ends with its text and no error.
func TestOpenAfterDone(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Tokens: []string{"all ", "said"}, StallAfterDone: true})
	p := newOpenAI(t, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := collect(t, ctx, p, hxchat.ChatRequest{Messages: []hxchat.Turn{{Role: hxchat.RoleUser, Content: "q"}}})
	if r.err != nil || r.text != "all said" || r.finish != "stop" {
		t.Fatalf("text %q, finish %q, err %v", r.text, r.finish, r.err)
	}
	if ctx.Err() != nil {
		t.Fatal("the answer waited for the response to end")
	}
}

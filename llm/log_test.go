package llm

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogger(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, sh := range shapes {
		s := llmtest.NewServer(t)
		s.Reply(llmtest.Reply{Status: 401}, llmtest.Reply{Tokens: []string{"ok"}})
		p := sh.new(t, s, Common{Logger: log})
		collect(t, context.Background(), p, question)
		if r := collect(t, context.Background(), p, question); r.err != nil {
			t.Fatal(r.err)
		}
	}
	out := buf.String()
	if strings.Count(out, "llm: http attempt") != 4 || !strings.Contains(out, "status=401") ||
		!strings.Contains(out, "path=/openai/deployments/gpt-4o/chat/completions") {
		t.Errorf("log:\n%s", out)
	}
	if strings.Contains(out, testKey) {
		t.Error("the key is in the log")
	}
}

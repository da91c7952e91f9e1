package llm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
)

func ask(q string) hxchat.ChatRequest {
	return hxchat.ChatRequest{System: "Be nice.", Messages: []hxchat.Turn{{Role: hxchat.RoleUser, Content: q}}}
}

func TestDemoAnswer(t *testing.T) {
	tests := []struct {
		name, question string
		japanese       bool
		quote          string
	}{
		{"english", "How do I connect to Postgres from Go?", false, "“How do I connect to Postgres from Go?”"},
		{"japanese", "Goでファイルを読むには？", true, "「Goでファイルを読むには？」"},
		{"kanji only", "天気", true, "「天気」"},
		{"long, several lines", "  please   summarise this very long text that goes on and on and on forever\nsecond line", false,
			"“please summarise this very long text that goes on and on…”"},
		{"empty", "", false, "“your message”"},
	}
	p := NewDemo(DemoOptions{})
	if p.Name() != "Demo model (offline)" || p.Model() != "demo" {
		t.Errorf("Name %q Model %q", p.Name(), p.Model())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := collect(t, context.Background(), p, ask(tt.question))
			if r.err != nil || r.finish != hxchat.FinishStop {
				t.Fatalf("finish %q error %v", r.finish, r.err)
			}
			if again := collect(t, context.Background(), p, ask(tt.question)); again.text != r.text || len(again.deltas) != len(r.deltas) {
				t.Error("not deterministic")
			}
			if !strings.Contains(r.text, tt.quote) {
				t.Errorf("no quote %s in\n%s", tt.quote, r.text)
			}
			if got := strings.Contains(r.text, "デモモデル"); got != tt.japanese {
				t.Errorf("Japanese answer %v, want %v", got, tt.japanese)
			}
			for _, want := range []string{"\n- ", "\n```go\n", "\n```\n", "`.env`", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_KEY"} {
				if !strings.Contains(r.text, want) {
					t.Errorf("no %q in the answer", want)
				}
			}
			if strings.Contains(r.text, "§") || strings.Contains(r.text, "{q}") {
				t.Error("a placeholder is left")
			}
			if len(r.deltas) < 50 {
				t.Errorf("only %d deltas: not streamed in small pieces", len(r.deltas))
			}
			u := r.usage
			if u == nil || u.PromptTokens < 1 || u.CompletionTokens != int64(len(r.deltas)-1) {
				t.Errorf("usage %+v for %d deltas", u, len(r.deltas))
			}
		})
	}
}

func TestSplitTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Hello  big\nworld", []string{"Hello", "  big", "\nworld"}},
		{"これはテストです。", []string{"これは", "テスト", "です。"}},
		{"hxchat からこんにちは", []string{"hxchat", " からこ", "んにち", "は"}},
		{"Goでファイル", []string{"Go", "でファ", "イル"}},
		{"  ", []string{"  "}},
	}
	for _, tt := range tests {
		got := splitTokens(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("splitTokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, text := range []string{demoAnswer("Hi"), demoAnswer("こんにちは")} {
		if strings.Join(splitTokens(text), "") != text {
			t.Error("the tokens do not add up to the text")
		}
	}
}

func TestDemoPaceAndCancel(t *testing.T) {
	p := NewDemo(DemoOptions{TokensPerSecond: 200}) // 5ms a token
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	n := 0
	var last error
	for _, err := range p.Stream(ctx, ask("Hi")) {
		if err != nil {
			last = err
			continue
		}
		if n++; n == 5 {
			if time.Since(start) < 4*5*time.Millisecond {
				t.Errorf("5 tokens in %v: not paced", time.Since(start))
			}
			cancel()
			start = time.Now()
		}
	}
	if !errors.Is(last, context.Canceled) || n != 5 {
		t.Errorf("%d tokens then %v, want 5 then context.Canceled", n, last)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v", d)
	}

	// A slow pace still ends at once on cancel.
	slow := NewDemo(DemoOptions{TokensPerSecond: 0.01})
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := collect(t, ctx, slow, ask("Hi"))
	if code(t, r.err) != hxchat.ETimeout || len(r.deltas) != 1 {
		t.Errorf("%d deltas then %v", len(r.deltas), r.err)
	}
}

package llm

import (
	"context"
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestModels: a request naming a model goes to that deployment; one naming
// none or an unknown one goes to the default.
func TestModels(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Tokens: []string{"ok"}})
	var ps []hxchat.Provider
	for _, dep := range []string{"gpt-4o", "gpt-4o-mini"} {
		p, err := NewAzure(AzureOptions{Endpoint: s.URL, APIKey: "k", APIVersion: "2024-10-21", Deployment: dep})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	m := NewModels(ps[0], ps[1:]...)
	if got := m.Names(); len(got) != 2 || got[0] != "gpt-4o" || got[1] != "gpt-4o-mini" || m.Model() != "gpt-4o" {
		t.Fatalf("Names %q, Model %q", got, m.Model())
	}
	for _, model := range []string{"gpt-4o-mini", "", "unknown"} {
		for _, err := range m.Stream(context.Background(), hxchat.ChatRequest{Model: model, Messages: []hxchat.Turn{{Role: hxchat.RoleUser, Content: "hi"}}}) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var paths []string
	for _, r := range s.Requests() {
		paths = append(paths, r.Path)
	}
	want := []string{"/openai/deployments/gpt-4o-mini/chat/completions", "/openai/deployments/gpt-4o/chat/completions", "/openai/deployments/gpt-4o/chat/completions"}
	for i := range want {
		if i >= len(paths) || paths[i] != want[i] {
			t.Fatalf("paths %q, want %q", paths, want)
		}
	}
}

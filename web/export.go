package web

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/hxchat/hxchat"
)

// exportMessage is one message in a JSON export.
type exportMessage struct {
	Role             hxchat.Role  `json:"role"`
	Content          string       `json:"content"`
	State            hxchat.State `json:"state"`
	Model            string       `json:"model,omitempty"`
	FinishReason     string       `json:"finish_reason,omitempty"`
	Error            string       `json:"error,omitempty"`
	PromptTokens     int64        `json:"prompt_tokens,omitempty"`
	CompletionTokens int64        `json:"completion_tokens,omitempty"`
	CreatedAt        time.Time    `json:"created_at"`
}

// exportConversation is a JSON export: the conversation and its messages.
type exportConversation struct {
	ID           string          `json:"id"`
	Title        string          `json:"title"`
	SystemPrompt string          `json:"system_prompt,omitempty"`
	Model        string          `json:"model,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	Messages     []exportMessage `json:"messages"`
}

// conversationExport downloads a conversation as Markdown or JSON: the
// branch shown.
func (s *Server) conversationExport(w http.ResponseWriter, r *http.Request) error {
	conv, th, err := s.ownedThread(r)
	if err != nil {
		return err
	}
	msgs := th.Branch(conv.CurrentID)
	format := r.PathValue("format")
	var body []byte
	switch format {
	case "md":
		body = []byte(exportMarkdown(conv, msgs))
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	case "json":
		e := exportConversation{ID: conv.ID, Title: conv.Title, SystemPrompt: conv.SystemPrompt, Model: conv.Model,
			CreatedAt: conv.CreatedAt, UpdatedAt: conv.UpdatedAt, Messages: []exportMessage{}}
		for _, m := range msgs {
			e.Messages = append(e.Messages, exportMessage{Role: m.Role, Content: m.Content, State: m.State, Model: m.Model,
				FinishReason: m.FinishReason, Error: string(m.ErrorCode), PromptTokens: m.Usage.PromptTokens,
				CompletionTokens: m.Usage.CompletionTokens, CreatedAt: m.CreatedAt})
		}
		if body, err = json.MarshalIndent(e, "", "  "); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	default:
		return hxchat.ErrNotFound
	}
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": exportName(conv.Title) + "." + format}))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
	return nil
}

// exportMarkdown writes a conversation as a Markdown document: the title,
// then each message under a heading naming its author.
func exportMarkdown(conv *hxchat.Conversation, msgs []hxchat.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", conv.Title)
	if conv.SystemPrompt != "" {
		fmt.Fprintf(&b, "> System prompt: %s\n\n", strings.ReplaceAll(conv.SystemPrompt, "\n", "\n> "))
	}
	for _, m := range msgs {
		who := "User"
		if m.Role == hxchat.RoleAssistant {
			who = "Assistant"
			if m.Model != "" {
				who += " (" + m.Model + ")"
			}
		}
		fmt.Fprintf(&b, "## %s · %s\n\n%s\n\n", who, m.CreatedAt.Format(time.RFC3339), strings.TrimRight(m.Content, "\n"))
		if m.State != hxchat.StateDone {
			fmt.Fprintf(&b, "*(%s)*\n\n", m.State)
		}
	}
	return b.String()
}

// exportName makes a file name from a title: its letters and digits (any
// script), the rest as dashes, at most 60 characters.
func exportName(title string) string {
	var b strings.Builder
	n := 0
	dash := false
	for _, r := range title {
		if n >= 60 {
			break
		}
		ok := r > 127 || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok || r == '\u3000' {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
			continue
		}
		b.WriteRune(r)
		dash = false
		n++
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		return "conversation"
	}
	return name
}

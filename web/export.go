package web

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
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
// branch shown. The Markdown is in the reader's language and time zone.
func (s *Server) conversationExport(w http.ResponseWriter, r *http.Request) error {
	conv, all, err := s.ownedMessages(r)
	if err != nil {
		return err
	}
	msgs := hxchat.NewThread(all).Branch(conv.CurrentID)
	format := r.PathValue("format")
	var body []byte
	switch format {
	case "md":
		body = []byte(exportMarkdown(conv, msgs, s.locales.pick(r), readerZone(r)))
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	case "json":
		e := exportConversation{ID: conv.ID, Title: conv.Title, SystemPrompt: conv.SystemPrompt, Model: conv.Model,
			CreatedAt: conv.CreatedAt, UpdatedAt: lastChange(conv, all), Messages: []exportMessage{}}
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

// lastChange is when conv last changed: its UpdatedAt, which a new message,
// an edit or a regeneration moves, its ChangedAt (a rename, its settings),
// or the last change of any of its messages (an answer ends after its turn
// started), whichever is later.
func lastChange(conv *hxchat.Conversation, msgs []hxchat.Message) time.Time {
	t := conv.UpdatedAt
	if conv.ChangedAt.After(t) {
		t = conv.ChangedAt
	}
	for _, m := range msgs {
		if m.UpdatedAt.After(t) {
			t = m.UpdatedAt
		}
	}
	return t
}

// zoneCookie holds the reader's time zone (an IANA name, URL-escaped), set
// by app.js, for the times of the Markdown export.
const zoneCookie = "hxchat_tz"

// readerZone returns the reader's time zone: the query's tz, else the
// cookie's, else UTC; a name Go does not know is UTC too.
func readerZone(r *http.Request) *time.Location {
	name := r.URL.Query().Get("tz")
	if name == "" {
		if c, err := r.Cookie(zoneCookie); err == nil {
			name, _ = url.PathUnescape(c.Value)
		}
	}
	if name == "" || len(name) > 64 {
		return time.UTC
	}
	loc, err := time.LoadLocation(name) // refuses paths: "..", a leading "/"
	if err != nil {
		return time.UTC
	}
	return loc
}

// exportTime is how the Markdown export writes a time, in zone loc.
const exportTime = "2006-01-02 15:04 -07:00"

// exportMarkdown writes a conversation as a Markdown document in language l
// with times in zone loc (which it names): the title, then each message
// under a heading naming its author, the message's own headings nested
// below that one.
func exportMarkdown(conv *hxchat.Conversation, msgs []hxchat.Message, l *locale, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", conv.Title)
	zone := loc.String()
	if zone != "UTC" {
		zone += " (UTC" + time.Now().In(loc).Format("-07:00") + ")"
	}
	fmt.Fprintf(&b, "*%s*\n\n", l.T("export.zone", zone))
	if conv.SystemPrompt != "" {
		fmt.Fprintf(&b, "> %s: %s\n\n", l.T("settings.system"), strings.ReplaceAll(conv.SystemPrompt, "\n", "\n> "))
	}
	for _, m := range msgs {
		who := l.T("export.user")
		if m.Role == hxchat.RoleAssistant {
			who = l.T("export.assistant")
			if m.Model != "" {
				who += " (" + m.Model + ")"
			}
		}
		fmt.Fprintf(&b, "## %s · %s\n\n%s\n\n", who, m.CreatedAt.In(loc).Format(exportTime), strings.TrimRight(nestHeadings(m.Content, 2), "\n"))
		switch v := (messageView{Message: m, L: l}); {
		case m.State == hxchat.StateStreaming:
			fmt.Fprintf(&b, "*(%s)*\n\n", l.T("export.streaming"))
		case v.StatusText() != "":
			fmt.Fprintf(&b, "*(%s)*\n\n", v.StatusText())
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

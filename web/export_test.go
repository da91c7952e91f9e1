package web

import (
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
)

// TestNestHeadings: a message's own headings go below the message heading
// in an export; "#" in code blocks, in a heading's text or in plain text
// stays.
func TestNestHeadings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"# Title\n\ntext", "### Title\n\ntext"},
		{"## Sub ##\n", "#### Sub ##\n"},
		{"#### Four\n##### Five\n###### Six", "###### Four\n###### Five\n###### Six"},
		{"  # Indented a little\n", "  ### Indented a little\n"},
		{"# C# and #tags\n", "### C# and #tags\n"},
		{"```md\n# not a heading\n```\n\n# After", "```md\n# not a heading\n```\n\n### After"},
		{"~~~\n## nor this\n~~~\n", "~~~\n## nor this\n~~~\n"},
		{"text\n\n    # indented code\n", "text\n\n    # indented code\n"},
		{"> # Quoted\n> text", "> ### Quoted\n> text"},
		{"- # In a list\n", "- ### In a list\n"},
		{"Setext\n===\n\nmore", "### Setext\n\nmore"},
		{"Two lines\nof setext\n---\n", "#### Two lines of setext\n"},
		{"> Quoted setext\n> ---", "> #### Quoted setext"},
		{"#hashtag, not a heading\n\na - b = c", "#hashtag, not a heading\n\na - b = c"},
		{"日本語の見出し\n===\n# 見出し", "### 日本語の見出し\n### 見出し"},
		{"#\n", "#\n"},
		{"", ""},
	} {
		if got := nestHeadings(tc.in, 2); got != tc.want {
			t.Errorf("nestHeadings(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestExportMarkdown: the Markdown export speaks the reader's language,
// writes times in the reader's zone and names it, and nests the messages'
// own headings below the message headings.
func TestExportMarkdown(t *testing.T) {
	_, _, ls := testAssets(t)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 12, 30, 0, 0, time.UTC)
	conv := &hxchat.Conversation{Title: "Export", SystemPrompt: "Be brief."}
	msgs := []hxchat.Message{
		{Role: hxchat.RoleUser, Content: "# My question", State: hxchat.StateDone, CreatedAt: at},
		{Role: hxchat.RoleAssistant, Model: "gpt-test", Content: "# Answer\n\n```\n# code\n```", State: hxchat.StateDone, CreatedAt: at.Add(time.Minute)},
		{Role: hxchat.RoleAssistant, Content: "cut", State: hxchat.StateStopped, CreatedAt: at.Add(2 * time.Minute)},
	}
	for _, tc := range []struct {
		lang string
		loc  *time.Location
		want []string
	}{
		{"en", time.UTC, []string{"# Export\n", "*Times are in UTC.*", "> System prompt: Be brief.", "## User · 2026-12-03 12:30 +00:00\n\n### My question\n",
			"## Assistant (gpt-test) · 2026-12-03 12:31 +00:00\n\n### Answer\n\n```\n# code\n```\n", "cut\n\n*(Stopped.)*"}},
		{"ja", tokyo, []string{"*時刻は Asia/Tokyo (UTC+09:00) の時刻です。*", "> システムプロンプト: Be brief.", "## ユーザー · 2026-12-03 21:30 +09:00\n\n### My question\n",
			"## アシスタント (gpt-test) · 2026-12-03 21:31 +09:00\n\n### Answer\n", "*(" + ls.get("ja").T("answer.stopped") + ")*"}},
	} {
		md := exportMarkdown(conv, msgs, ls.get(tc.lang), tc.loc)
		for _, w := range tc.want {
			if !strings.Contains(md, w) {
				t.Errorf("%s export lacks %q:\n%s", tc.lang, w, md)
			}
		}
	}
}

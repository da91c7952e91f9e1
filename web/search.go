package web

import "github.com/hxchat/hxchat/internal/fold"

// markedPart is a piece of a search result's text: Mark is set on what
// matched the query. The template "marked" shows the parts, escaped as
// any text, the matches in <mark>.
type markedPart struct {
	Text string
	Mark bool
}

// markParts splits s at the matches of query, compared folded as the store
// compares them (full-width ＳＳＥ matches SSE).
func markParts(s, query string) []markedPart {
	if query == "" {
		return []markedPart{{Text: s}}
	}
	var parts []markedPart
	at := 0
	for _, m := range fold.Find(s, query, 0) {
		if m[0] > at {
			parts = append(parts, markedPart{Text: s[at:m[0]]})
		}
		parts = append(parts, markedPart{Text: s[m[0]:m[1]], Mark: true})
		at = m[1]
	}
	if at < len(s) || len(parts) == 0 {
		parts = append(parts, markedPart{Text: s[at:]})
	}
	return parts
}

// Found is the entry as a result of a search for query: its title and
// snippet show where it matched.
func (v convItemView) Found(query string) convItemView {
	v.Query = query
	return v
}

// TitleParts is the title, with the matches of the search marked.
func (v convItemView) TitleParts() []markedPart { return markParts(v.Conv.Title, v.Query) }

// SnippetParts is the text around the match in a message, with the matches
// marked; nil when the entry is no search result or only its title matched.
func (v convItemView) SnippetParts() []markedPart {
	if v.Query == "" || v.Conv.Snippet == "" {
		return nil
	}
	return markParts(v.Conv.Snippet, v.Query)
}

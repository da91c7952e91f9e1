package web

import (
	"bytes"
	"compress/gzip"
	"log/slog"
	"net/http"
	"sync"
)

// newChats holds the empty chat page of a browser that has no session and
// no signed-in person, rendered once for each way it can look: it lists no
// conversation, so only its language, its theme and the demo banner differ
// from one such browser to the next, and every first visit (a page load a
// new browser makes) is served from memory, compressed once, instead of
// being rendered and compressed again.
type newChats struct {
	tpl   *templates
	pages sync.Map // newChatKey → *newChat
}

// newChatKey is what an empty chat page of a browser without a session
// depends on.
type newChatKey struct {
	lang   string
	theme  string
	banner bool // hidden
}

var (
	htmlType     = headerValue("text/html; charset=utf-8")
	gzipEncoding = headerValue("gzip")
)

// newChat is one rendering of the page, as it is and gzipped.
type newChat struct {
	html, gz []byte
}

// write sends p, an empty chat page of a browser without a session, from
// memory; the first request for each look renders it. A response as the
// compress middleware would send it: gzipped when the client accepts it.
func (c *newChats) write(w http.ResponseWriter, r *http.Request, p chatPage) {
	key := newChatKey{lang: p.L.Lang, theme: p.Theme, banner: p.BannerHidden}
	v, ok := c.pages.Load(key)
	if !ok {
		html, err := c.tpl.render(p.L, "chat.html", p)
		if err != nil {
			slog.Error("render template", "template", "chat.html", "err", err)
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		zw.Write(html)
		zw.Close()
		v, _ = c.pages.LoadOrStore(key, &newChat{html: html, gz: gz.Bytes()})
	}
	page := v.(*newChat)
	h := w.Header()
	h["Content-Type"] = htmlType
	if len(page.html) >= compressMin && acceptsGzip(r.Header) {
		h["Content-Encoding"] = gzipEncoding
		w.WriteHeader(http.StatusOK)
		w.Write(page.gz)
		return
	}
	w.WriteHeader(http.StatusOK)
	w.Write(page.html)
}

package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNewChatPage: the empty chat page of a browser without a session,
// served from memory, is the same gzipped or not, and follows the theme and
// language of each request, not those of the first.
func TestNewChatPage(t *testing.T) {
	ts := newServer(t, 1000, 0)
	s := ts.Config.Handler
	get := func(gz bool, cookies ...*http.Cookie) string {
		req := httptest.NewRequest("GET", "/", nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET /: %d %q", w.Code, w.Header().Get("Content-Type"))
		}
		if !gz {
			if w.Header().Get("Content-Encoding") != "" {
				t.Fatal("gzipped for a client that does not accept it")
			}
			return w.Body.String()
		}
		if w.Header().Get("Content-Encoding") != "gzip" {
			t.Fatal("not gzipped")
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	plain := get(false)
	for range 2 {
		if got := get(true); got != plain {
			t.Fatalf("gzipped page differs:\n%s\nwant\n%s", got, plain)
		}
	}
	dark := get(true, &http.Cookie{Name: "hxchat_theme", Value: "dark"})
	if !strings.Contains(dark, `data-theme="dark"`) || strings.Contains(plain, `data-theme=`) {
		t.Error("the theme of one request shows in another's page")
	}
	ja := get(false, &http.Cookie{Name: "hxchat_lang", Value: "ja"})
	if !strings.Contains(ja, `<html lang="ja"`) || !strings.Contains(get(false), `<html lang="en"`) {
		t.Error("the language of one request shows in another's page")
	}
}

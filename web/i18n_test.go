package web

import (
	"github.com/hxchat/hxchat"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLocales: every key that a template or handler uses is in every
// catalogue, and the catalogues agree on their keys (loadLocales checks).
func TestLocales(t *testing.T) {
	ls, err := loadLocales()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	reKey := regexp.MustCompile(`(?:\.T[ (]|\{\{tf? \$?\.(?:Page\.)?L |[( ]tf? \$?\.(?:Page\.)?L |\.HTML[ (]|userError\(hxchat\.E[A-Za-z]+, )"([a-z][a-z0-9_.]*[a-z0-9_])"`)
	files, _ := filepath.Glob("templates/*.html")
	gofiles, _ := filepath.Glob("*.go")
	for _, f := range append(files, gofiles...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for _, code := range hxchat.ErrorCodes {
		used["error.code."+string(code)] = true
	}
	used["error.code.rate_limited_in"] = true
	if len(used) < 50 {
		t.Fatalf("found only %d keys in use; the scan is broken", len(used))
	}
	for _, lang := range supported {
		for key := range used {
			if _, ok := ls.get(lang).msgs[key]; !ok {
				t.Errorf("%s: no message %q", lang, key)
			}
		}
	}
}

func TestPickLanguage(t *testing.T) {
	ls, err := loadLocales()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ accept, cookie, want string }{
		{"", "", "en"},
		{"ja", "", "ja"},
		{"ja-JP,ja;q=0.9,en-US;q=0.8", "", "ja"},
		{"en-US,en;q=0.9,ja;q=0.8", "", "en"},
		{"fr-FR,fr;q=0.9", "", "en"},
		{"ja", "en", "en"},
		{"", "ja", "ja"},
		{"", "xx", "en"},
		{"garbage;;q=", "", "en"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept-Language", tc.accept)
		}
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: langCookie, Value: tc.cookie})
		}
		if got := ls.pick(r).Lang; got != tc.want {
			t.Errorf("Accept-Language %q, cookie %q: %s, want %s", tc.accept, tc.cookie, got, tc.want)
		}
	}
}

func TestLangSwitch(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for next, want := range map[string]string{"/c/abc": "/c/abc", "//evil.example/": "/", "https://evil.example/": "/", "/\\evil.example": "/", "": "/"} {
		form := url.Values{"lang": {"ja"}, "next": {next}}
		r := httptest.NewRequest("POST", "/lang", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		s.langSet(w, r)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("next %q: %d to %q, want %q", next, w.Code, w.Header().Get("Location"), want)
		}
		if c := w.Result().Cookies(); len(c) != 1 || c[0].Value != "ja" {
			t.Errorf("next %q: cookies %v", next, c)
		}
	}
}

// TestErrorWords: every error code has a message of its own in every
// language, and pages and answers put an error into the same words.
func TestErrorWords(t *testing.T) {
	ls, err := loadLocales()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range supported {
		l := ls.get(lang)
		seen := map[string]hxchat.ErrorCode{}
		for _, code := range hxchat.ErrorCodes {
			if _, ok := l.msgs["error.code."+string(code)]; !ok {
				t.Errorf("%s: no message for %s", lang, code)
				continue
			}
			text := codeText(l, code, 0)
			if other, dup := seen[text]; dup {
				t.Errorf("%s: %s and %s say the same: %q", lang, code, other, text)
			}
			seen[text] = code
			page := localMessage(l, &hxchat.Error{Code: code, Message: "for the log"})
			answer := messageView{Message: hxchat.Message{State: hxchat.StateError, ErrorCode: code}, L: l}.StatusText()
			if page != text || answer != text {
				t.Errorf("%s %s: the page says %q, the answer %q, not %q", lang, code, page, answer, text)
			}
		}
		if got := codeText(l, hxchat.ERateLimited, 7); !strings.Contains(got, "7") {
			t.Errorf("%s: the wait of a rate limit is not said: %q", lang, got)
		}
		if got := codeText(l, "no_such_code", 0); got != codeText(l, hxchat.EInternal, 0) {
			t.Errorf("%s: an unknown code says %q", lang, got)
		}
	}
	en, ja := ls.get("en"), ls.get("ja")
	for _, c := range []struct {
		code   hxchat.ErrorCode
		en, ja string
	}{
		{hxchat.EContextLength, "new chat", "新しいチャット"},
		{hxchat.EQuota, "quota", "利用枠"},
		{hxchat.EUpstreamAuth, "refused", "拒否"},
	} {
		if !strings.Contains(codeText(en, c.code, 0), c.en) || !strings.Contains(codeText(ja, c.code, 0), c.ja) {
			t.Errorf("%s: %q / %q", c.code, codeText(en, c.code, 0), codeText(ja, c.code, 0))
		}
	}
}

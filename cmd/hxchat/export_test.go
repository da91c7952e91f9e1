package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestExportForTheReader: the Markdown export is in the reader's language
// and time zone (the page's cookie, or tz in the query; UTC when unknown,
// and it says so), with the answer's headings below the message headings;
// the JSON export's updated_at follows the conversation's changes.
func TestExportForTheReader(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: []string{"# Heading\n\n", "Some ", "text."}, Delay: 40 * time.Millisecond}, said("second"))
	m := startApp(t, testConfig(up, t.TempDir()))
	b := newBrowser(t, m)
	conv, ev := b.send("", "export me")
	b.stream(ev, "", 0)

	get := func(path string, header ...string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", b.base+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(body)
	}
	md := "/c/" + conv + "/export/md"
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	nyOffset := time.Now().In(ny).Format("-07:00") // daylight saving time or not
	u, _ := url.Parse(b.base)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "hxchat_tz", Value: url.PathEscape("Asia/Tokyo")}})
	for _, tc := range []struct {
		path, lang string
		want       []string
	}{
		{md, "ja", []string{"時刻は Asia/Tokyo (UTC+09:00) の時刻です。", "## ユーザー · ", " +09:00\n\nexport me", "## アシスタント (gpt-test) · ", "\n\n### Heading\n\nSome text."}},
		{md + "?tz=America/New_York", "en", []string{"Times are in America/New_York (UTC" + nyOffset + ").", "## User · ", " " + nyOffset + "\n\nexport me", "### Heading"}},
		{md + "?tz=../../etc/passwd", "en", []string{"Times are in UTC.", " +00:00\n\nexport me"}},
		{md + "?tz=Mars/Olympus", "en", []string{"Times are in UTC."}},
	} {
		got := get(tc.path, "Accept-Language", tc.lang)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s (%s) lacks %q:\n%s", tc.path, tc.lang, w, got)
			}
		}
	}

	// updated_at: at least when the answer ended, which was after its turn
	// started; a later turn moves it on.
	updated := func() (time.Time, []time.Time) {
		var e struct {
			UpdatedAt time.Time `json:"updated_at"`
			Messages  []struct {
				CreatedAt time.Time `json:"created_at"`
			}
		}
		if err := json.Unmarshal([]byte(get("/c/"+conv+"/export/json")), &e); err != nil {
			t.Fatal(err)
		}
		var created []time.Time
		for _, m := range e.Messages {
			created = append(created, m.CreatedAt)
		}
		return e.UpdatedAt, created
	}
	first, created := updated()
	if d := first.Sub(created[1]); d < 100*time.Millisecond {
		t.Errorf("updated_at %v is %v after the answer started, which took 120 ms to write", first, d)
	}
	_, ev = b.send(conv, "again")
	b.stream(ev, "", 0)
	second, _ := updated()
	if !second.After(first) {
		t.Errorf("updated_at after a second turn: %v, not after %v", second, first)
	}
	// A rename changes the conversation too.
	time.Sleep(5 * time.Millisecond)
	if resp, body := b.post("/c/"+conv+"/rename", url.Values{"title": {"renamed"}}); resp.StatusCode != 200 {
		t.Fatalf("rename: %d %s", resp.StatusCode, body)
	}
	if third, _ := updated(); !third.After(second) {
		t.Errorf("updated_at after a rename: %v, not after %v", third, second)
	}
}

package web_test

// Bad input on every route: each case sends something wrong (an empty,
// oversized or binary message, a malformed or foreign id, a forged session
// cookie, a wrong method, oversized headers or bodies, a client that trickles
// its request) and checks the status, that the response says what is wrong,
// and that the store holds exactly what it held before.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"iter"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/metrics"
	"github.com/hxchat/hxchat/internal/oidctest"
	"github.com/hxchat/hxchat/internal/slowclient"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/web"
)

// route is one route of Server.routes, with the form field its handler
// reads ("" for none).
type route struct {
	method, pattern, field string
}

// routeTable is every route of Server.routes (TestBadInputCoversEveryRoute
// checks it against web/server.go).
var routeTable = []route{
	{"GET", "/{$}", ""},
	{"GET", "/c/{id}", ""},
	{"POST", "/c", "message"},
	{"POST", "/c/{id}/messages", "message"},
	{"GET", "/c/{id}/m/{mid}/events", ""},
	{"POST", "/c/{id}/m/{mid}/stop", ""},
	{"POST", "/c/{id}/m/{mid}/retry", ""},
	{"GET", "/c/{id}/m/{mid}/source", ""},
	{"GET", "/c/{id}/export/{format}", ""},
	{"POST", "/c/{id}/settings", "system_prompt"},
	{"GET", "/c/{id}/m/{mid}", ""},
	{"GET", "/c/{id}/m/{mid}/edit", ""},
	{"POST", "/c/{id}/m/{mid}/edit", "message"},
	{"POST", "/c/{id}/m/{mid}/show", ""},
	{"GET", "/conversations", ""},
	{"GET", "/c/{id}/item", ""},
	{"GET", "/c/{id}/rename", ""},
	{"POST", "/c/{id}/rename", "title"},
	{"POST", "/c/{id}/delete", ""},
	{"POST", "/lang", "lang"},
	{"GET", "/static/{hash}/{name}", ""},
	{"GET", "/healthz", ""},
	{"GET", "/readyz", ""},
	{"GET", "/metrics", ""},
}

func (r route) String() string { return r.method + " " + r.pattern }
func (r route) hasID() bool    { return strings.Contains(r.pattern, "{id}") }
func (r route) hasMID() bool   { return strings.Contains(r.pattern, "{mid}") }
func (r route) sessionless() bool {
	return strings.HasPrefix(r.pattern, "/static/") || r.pattern == "/healthz" || r.pattern == "/readyz" || r.pattern == "/metrics"
}

// routesWhere returns the routes for which keep is true.
func routesWhere(keep func(route) bool) []route {
	var rs []route
	for _, r := range routeTable {
		if keep(r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// TestBadInputCoversEveryRoute: the table above is the whole surface of
// Server.routes, so that a new route cannot escape these tests.
func TestBadInputCoversEveryRoute(t *testing.T) {
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	var inCode []string
	for _, m := range regexp.MustCompile(`(?:app|mux)\.Handle(?:Func)?\("([A-Z]+ [^"]+)"`).FindAllSubmatch(src, -1) {
		inCode = append(inCode, string(m[1]))
	}
	var inTable []string
	for _, r := range routeTable {
		inTable = append(inTable, r.String())
	}
	slices.Sort(inCode)
	slices.Sort(inTable)
	if !slices.Equal(inCode, inTable) {
		t.Errorf("routes in server.go:\n%s\nroutes tested:\n%s", strings.Join(inCode, "\n"), strings.Join(inTable, "\n"))
	}
}

// holdModel answers at once, except a question starting with "hold": that
// answer writes one token, then waits until it is stopped or the runner
// shuts down.
type holdModel struct{}

func (holdModel) Name() string  { return "Hold model" }
func (holdModel) Model() string { return "hold" }
func (holdModel) Stream(ctx context.Context, req hxchat.ChatRequest) iter.Seq2[hxchat.Delta, error] {
	return func(yield func(hxchat.Delta, error) bool) {
		q := ""
		if n := len(req.Messages); n > 0 {
			q = req.Messages[n-1].Content
		}
		if strings.HasPrefix(q, "hold") {
			if !yield(hxchat.Delta{Text: "partial "}, nil) {
				return
			}
			<-ctx.Done()
			yield(hxchat.Delta{}, ctx.Err())
			return
		}
		if yield(hxchat.Delta{Text: "answer to " + q}, nil) {
			yield(hxchat.Delta{FinishReason: hxchat.FinishStop}, nil)
		}
	}
}

// What the two users wrote: no response to anybody else may contain it.
const (
	secretA = "secret-of-a-7f3e"
	secretB = "secret-of-b-91c2"
)

// account is one browser with its data: a conversation with a finished
// turn (user, answer) and one whose answer is still being written
// (liveAnswer in live).
type account struct {
	c                        *http.Client
	sid                      string
	conv, live               string
	user, answer, liveAnswer int64
}

// fixture is a server over a real SQLite store, with two users A and B, and
// a second handle on the database to see everything it holds.
type fixture struct {
	ts       *httptest.Server
	db       *sql.DB
	a, b     account
	static   string   // the path of a static file
	messages []string // every error message of the English catalogue
	// users is set when people sign in, through a proxy or, when idp is
	// set, with OIDC at idp: A and B are then people (emails), each with a
	// browser of their own; admin, when set, is the administrators' group,
	// and B is in it.
	users bool
	admin string
	idp   *oidctest.Provider
}

// newFixture starts a server with the HTTP limits of cmd/hxchat/run.go
// (ReadHeaderTimeout 10s, IdleTimeout 2m, MaxHeaderBytes 64 KiB), changed
// by srv, and the default web options changed by opt.
func newFixture(t *testing.T, opt func(*web.Options), srv func(*http.Server)) *fixture {
	t.Helper()
	return newFixtureAt(t, func(_ string, o *web.Options) {
		if opt != nil {
			opt(o)
		}
	}, srv, nil)
}

// newFixtureAt is newFixture whose opt is told the server's URL (an OIDC
// redirect URL needs it); with idp, A and B sign in there.
func newFixtureAt(t *testing.T, opt func(base string, o *web.Options), srv func(*http.Server), idp *oidctest.Provider) *fixture {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	path := filepath.Join(t.TempDir(), "t.db")
	store, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	hub := live.NewHub(time.Minute, 1<<20)
	runner := live.NewRunner(live.RunnerOptions{Store: store, Provider: holdModel{}, Hub: hub})
	o := web.Options{Store: store, Runner: runner, Hub: hub, Provider: "Hold", Metrics: metrics.New(), ServeMetrics: true}
	opt("http://"+ts.Listener.Addr().String(), &o)
	s, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = s
	ts.Config.ReadHeaderTimeout = 10 * time.Second
	ts.Config.IdleTimeout = 2 * time.Minute
	ts.Config.MaxHeaderBytes = 64 << 10
	if srv != nil {
		srv(ts.Config)
	}
	ts.Start()
	q := url.Values{"_pragma": {"busy_timeout(5000)", "foreign_keys(ON)"}}
	db, err := sql.Open("sqlite", "file://"+(&url.URL{Path: filepath.ToSlash(path)}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		runner.Shutdown(ctx) // the held answers are cut short
		s.CloseStreams()
		ts.Close()
		db.Close()
		store.Close()
	})
	f := &fixture{ts: ts, db: db, messages: catalogueErrors(t), users: o.SignIn.Mode == web.AuthProxy || o.SignIn.Mode == web.AuthOIDC, idp: idp}
	f.admin = o.SignIn.AdminGroup // B is in it, when there is one
	if o.SignIn.OIDC != nil {
		f.admin = oidcAdminGroup
	}
	f.a = f.newAccount(t, "a@example.com", "hello from A "+secretA, "hold A "+secretA)
	f.b = f.newAccount(t, "b@example.com", "hello from B "+secretB, "hold B "+secretB)

	_, page := f.do(t, f.a.c, "GET", "/", nil)
	m := regexp.MustCompile(`/static/[0-9a-f]{12}/[^"]+`).FindString(page)
	if m == "" {
		t.Fatal("no static file in the page")
	}
	f.static = m
	return f
}

// catalogueErrors returns the English error messages (up to their first
// argument): what a refused request may say.
func catalogueErrors(t *testing.T) []string {
	b, err := os.ReadFile("locales/en.json")
	if err != nil {
		t.Fatal(err)
	}
	var cat map[string]string
	if err := json.Unmarshal(b, &cat); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for k, v := range cat {
		if strings.HasPrefix(k, "error.") && k != "error.back" {
			v, _, _ = strings.Cut(v, "%")
			msgs = append(msgs, v)
		}
	}
	return msgs
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// newClient is a browser of its own, with no cookies yet.
func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: noRedirect}
}

// plainClient keeps no cookies: a request sends those it is given.
var plainClient = &http.Client{CheckRedirect: noRedirect}

// newAccount makes a browser with a finished turn and a turn whose answer is
// being written; when people sign in, a browser of the person email.
func (f *fixture) newAccount(t *testing.T, email, done, held string) account {
	t.Helper()
	a := account{c: newClient()}
	if f.idp != nil {
		f.signInOIDC(t, a.c, email)
	} else if f.users {
		a.c.Transport = asUser(email)
		if f.admin != "" && email == "b@example.com" {
			a.c.Transport = headerTransport{http.Header{"X-Forwarded-Email": {email}, "X-Forwarded-User": {"sub-" + email}, "X-Forwarded-Groups": {"staff, " + f.admin}}}
		}
	}
	a.conv, a.user, a.answer = f.sendNew(t, a.c, done)
	f.waitFinal(t, a.answer)
	a.live, _, a.liveAnswer = f.sendNew(t, a.c, held)
	if f.users {
		return a
	}
	u, _ := url.Parse(f.ts.URL)
	for _, c := range a.c.Jar.Cookies(u) {
		if c.Name == "hxchat_session" {
			a.sid = c.Value
		}
	}
	if !hxchat.ValidID(a.sid) {
		t.Fatalf("session cookie %q", a.sid)
	}
	return a
}

// oidcAdminGroup is the administrators' group of the OIDC fixture.
const oidcAdminGroup = "hxchat-admins"

// signInOIDC signs browser c in at f.idp as the person email, step by
// step: hxchat sends it to the provider, which sends it back with a code.
// B is in the administrators' group.
func (f *fixture) signInOIDC(t *testing.T, c *http.Client, email string) {
	t.Helper()
	groups := []string{"staff"}
	if email == "b@example.com" {
		groups = append(groups, oidcAdminGroup)
	}
	f.idp.SetClaims(map[string]any{"sub": "sub-" + email, "email": email, "email_verified": true, "groups": groups})
	u := f.ts.URL + "/auth/signin"
	for _, want := range []int{http.StatusSeeOther, http.StatusFound, http.StatusSeeOther} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("sign-in of %s: GET %s: %d, want %d", email, u, resp.StatusCode, want)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		u = loc.String()
	}
}

// sendNew starts a conversation with text and returns its id and the ids of
// the user's message and of the answer.
func (f *fixture) sendNew(t *testing.T, c *http.Client, text string) (conv string, user, answer int64) {
	t.Helper()
	resp, body := f.do(t, c, "POST", "/c", url.Values{"message": {text}}, "HX-Request", "true")
	conv, ok := strings.CutPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("POST /c: %d %s", resp.StatusCode, body)
	}
	ids := f.messageIDs(t, conv)
	if len(ids) != 2 {
		t.Fatalf("conversation %s has %d messages", conv, len(ids))
	}
	return conv, ids[0], ids[1]
}

func (f *fixture) messageIDs(t *testing.T, conv string) []int64 {
	t.Helper()
	rows, err := f.db.Query("SELECT id FROM messages WHERE conversation_id = ? ORDER BY id", conv)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// state returns the stored state of message id.
func (f *fixture) state(t *testing.T, id int64) string {
	t.Helper()
	var s string
	if err := f.db.QueryRow("SELECT state FROM messages WHERE id = ?", id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) waitFinal(t *testing.T, id int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.state(t, id) == "streaming"; {
		if time.Now().After(deadline) {
			t.Fatalf("answer %d still streaming", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dump is everything the store holds, one line a row: sessions,
// conversations, messages (the text and time of an answer being written
// are left out: the runner saves them as they grow) and the message id
// counter (so that a row stored and deleted again shows too).
func (f *fixture) dump(t *testing.T) []string {
	t.Helper()
	rows, err := f.db.Query(`
		SELECT 'session ' || quote(id) FROM sessions
		UNION ALL SELECT 'conversation ' || concat_ws(' ', quote(id), quote(session_id), quote(title), quote(system_prompt),
			quote(model), created_at, updated_at) FROM conversations
		UNION ALL SELECT 'message ' || concat_ws(' ', id, quote(conversation_id), role, state, quote(finish_reason),
			quote(error_code), quote(model), prompt_tokens, completion_tokens, created_at,
			CASE state WHEN 'streaming' THEN '-' ELSE quote(content) END,
			CASE state WHEN 'streaming' THEN '-' ELSE updated_at END) FROM messages
		UNION ALL SELECT 'sequence ' || name || ' ' || seq FROM sqlite_sequence
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// unchanged fails the test if the store holds anything else than before.
func (f *fixture) unchanged(t *testing.T, before []string) {
	t.Helper()
	compareDumps(t, before, f.dump(t))
}

func compareDumps(t *testing.T, before, after []string) {
	t.Helper()
	if slices.Equal(before, after) {
		return
	}
	for _, l := range before {
		if !slices.Contains(after, l) {
			t.Errorf("store lost or changed: %s", l)
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			t.Errorf("store gained: %s", l)
		}
	}
}

// do sends a request (a form when form is not nil) with the headers given
// as name, value pairs, and returns the response and its body. The body of
// an event stream is read up to its first event.
func (f *fixture) do(t *testing.T, c *http.Client, method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
		hdr = append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.send(t, c, req)
}

func (f *fixture) send(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp, firstEvent(resp.Body)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", req.Method, req.URL.Path, err)
	}
	return resp, string(b)
}

// firstEvent reads an event stream up to the end of its first event that
// carries data, for at most 3 s.
func firstEvent(r io.ReadCloser) string {
	t := time.AfterFunc(3*time.Second, func() { r.Close() })
	defer t.Stop()
	var b strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	data := false
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		data = data || strings.HasPrefix(sc.Text(), "data:")
		if sc.Text() == "" && data {
			break
		}
	}
	return b.String()
}

// says fails the test unless the body shows want (as text, HTML-escaped or
// not).
func says(t *testing.T, body, want string) {
	t.Helper()
	if !strings.Contains(html.UnescapeString(body), want) {
		t.Errorf("the response does not say %q:\n%s", want, clip(body))
	}
}

// saysWhy fails the test unless the body shows one of the catalogue's error
// messages.
func (f *fixture) saysWhy(t *testing.T, body string) {
	t.Helper()
	text := html.UnescapeString(body)
	for _, m := range f.messages {
		if strings.Contains(text, m) {
			return
		}
	}
	t.Errorf("the response says no error message:\n%s", clip(body))
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// path fills a route's pattern.
func (f *fixture) path(r route, id, mid string) string {
	p := strings.NewReplacer("{$}", "", "{id}", id, "{mid}", mid, "{format}", "md", "{name}", "").Replace(r.pattern)
	if strings.HasPrefix(r.pattern, "/static/") {
		return f.static
	}
	return p
}

// own returns the route's path with ids of A's that A may use: the message
// routes on A's finished turn, except stop and events, which go to the
// answer being written, and edit, which goes to the user's message.
func (f *fixture) own(r route) string {
	conv, mid := f.a.conv, f.a.answer
	switch {
	case strings.HasSuffix(r.pattern, "/stop"), strings.HasSuffix(r.pattern, "/events"):
		conv, mid = f.a.live, f.a.liveAnswer
	case strings.HasSuffix(r.pattern, "/edit"):
		mid = f.a.user
	}
	return f.path(r, conv, strconv.FormatInt(mid, 10))
}

// validForm is a form the route would accept.
func validForm(r route) url.Values {
	switch r.field {
	case "message":
		return url.Values{"message": {"a fine question"}}
	case "title":
		return url.Values{"title": {"A fine title"}}
	case "system_prompt":
		return url.Values{"system_prompt": {"Be brief."}, "model": {""}}
	case "lang":
		return url.Values{"lang": {"ja"}, "next": {"/"}}
	}
	if r.method == "POST" {
		return url.Values{}
	}
	return nil
}

// counter counts the cases of a test, and logs how many ran.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func newCounter(t *testing.T) *counter {
	c := &counter{n: map[string]int{}}
	t.Cleanup(func() {
		total := 0
		keys := make([]string, 0, len(c.n))
		for k, v := range c.n {
			keys = append(keys, k)
			total += v
		}
		slices.Sort(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, c.n[k])
		}
		t.Logf("cases: %d (%s )", total, b.String())
	})
	return c
}

func (c *counter) add(kind string) {
	c.mu.Lock()
	c.n[kind]++
	c.mu.Unlock()
}

// htmxModes: each form case is sent as htmx sends it (the error goes to
// the page's alert area) and as a plain form (an error page).
var htmxModes = []struct {
	name string
	hdr  []string
}{{"htmx", []string{"HX-Request", "true"}}, {"plain", nil}}

// checkRefusal checks how a refused form was answered: its status, its
// message, and for htmx the retarget to the alert area.
func checkRefusal(t *testing.T, resp *http.Response, body string, htmx bool, status int, msg string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d", resp.StatusCode, status)
	}
	says(t, body, msg)
	if htmx && resp.Header.Get("HX-Retarget") != "#alert" {
		t.Errorf("HX-Retarget %q, want #alert", resp.Header.Get("HX-Retarget"))
	}
}

// messageTargets are the routes that read a message, with the ids and the
// client they are sent with. POST /c goes from a browser without a session,
// so that it shows that no session is made either.
func (f *fixture) messageTargets() []struct {
	name, path string
	c          func() *http.Client
} {
	return []struct {
		name, path string
		c          func() *http.Client
	}{
		{"new conversation", "/c", newClient},
		{"next message", "/c/" + f.a.conv + "/messages", func() *http.Client { return f.a.c }},
		{"edit", fmt.Sprintf("/c/%s/m/%d/edit", f.a.conv, f.a.user), func() *http.Client { return f.a.c }},
	}
}

// TestBadInputEmpty: an empty or blank message, or title, is refused with
// 400 and says so; nothing is stored.
func TestBadInputEmpty(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil)
	n := newCounter(t)
	blanks := map[string]url.Values{
		"no field":          {"other": {"x"}},
		"empty":             {"message": {""}},
		"space":             {"message": {" "}},
		"tabs and lines":    {"message": {"\t\n \n"}},
		"CRLF only":         {"message": {"\r\n\r\n"}},
		"ideographic, nbsp": {"message": {"\u3000\u00a0"}},
		"em space":          {"message": {"\u2003\u2003"}},
	}
	for _, target := range f.messageTargets() {
		for name, form := range blanks {
			for _, mode := range htmxModes {
				t.Run(target.name+"/"+name+"/"+mode.name, func(t *testing.T) {
					n.add("message")
					before := f.dump(t)
					resp, body := f.do(t, target.c(), "POST", target.path, form, mode.hdr...)
					checkRefusal(t, resp, body, mode.hdr != nil, 400, "Type a message first.")
					f.unchanged(t, before)
				})
			}
		}
	}
	for name, title := range map[string]string{"no field": "", "empty": "", "space": "  ", "ideographic": "\u3000"} {
		form := url.Values{"title": {title}}
		if name == "no field" {
			form = url.Values{}
		}
		for _, mode := range htmxModes {
			t.Run("rename/"+name+"/"+mode.name, func(t *testing.T) {
				n.add("title")
				before := f.dump(t)
				resp, body := f.do(t, f.a.c, "POST", "/c/"+f.a.conv+"/rename", form, mode.hdr...)
				checkRefusal(t, resp, body, mode.hdr != nil, 400, "Type a title first.")
				f.unchanged(t, before)
			})
		}
	}
}

// TestBadInputTooLong: a message over MaxMessageBytes (default 32 KiB) is
// refused with 413 and says so; nothing is stored. One of exactly the
// limit is stored as it was sent.
func TestBadInputTooLong(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil) // the default limit
	const max = 32 << 10
	n := newCounter(t)
	for _, c := range []struct{ name, text string }{
		{"one byte over", strings.Repeat("a", max+1)},
		{"multibyte, one byte over", strings.Repeat("あ", (max+3)/3)},
		{"over the form limit", strings.Repeat("あ", 12000)}, // 108,000 bytes encoded
		{"1 MiB", strings.Repeat("x", 1<<20)},
	} {
		for _, target := range f.messageTargets() {
			for _, mode := range htmxModes {
				t.Run(target.name+"/"+c.name+"/"+mode.name, func(t *testing.T) {
					n.add("message")
					before := f.dump(t)
					resp, body := f.do(t, target.c(), "POST", target.path, url.Values{"message": {c.text}}, mode.hdr...)
					checkRefusal(t, resp, body, mode.hdr != nil, 413, "The message is too long: at most about 32,700 characters")
					f.unchanged(t, before)
				})
			}
		}
	}
	t.Run("exactly the limit", func(t *testing.T) {
		n.add("limit")
		text := strings.Repeat("あ", max/3) + strings.Repeat("z", max%3)
		conv, user, _ := f.sendNew(t, newClient(), text)
		var got string
		if err := f.db.QueryRow("SELECT content FROM messages WHERE id = ? AND conversation_id = ?", user, conv).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != text {
			t.Errorf("stored %d bytes, sent %d", len(got), len(text))
		}
	})
}

// TestBadInputNotText: invalid UTF-8 or a NUL byte in a message, a title or
// a system prompt is refused with 400 and says so; nothing is stored.
func TestBadInputNotText(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil)
	n := newCounter(t)
	bad := map[string]string{
		"invalid byte":     "bad \xff byte",
		"bad continuation": "\xc3\x28",
		"overlong slash":   "\xc0\xaf",
		"surrogate":        "\xed\xa0\x80",
		"beyond U+10FFFF":  "\xf4\x90\x80\x80",
		"cut multibyte":    "cut \xe3\x81",
		"NUL inside":       "nul \x00 byte",
		"NUL alone":        "\x00",
	}
	type target struct {
		name, path, field string
		c                 func() *http.Client
		extra             url.Values
	}
	targets := []target{
		{"rename", "/c/" + f.a.conv + "/rename", "title", func() *http.Client { return f.a.c }, nil},
		{"system prompt", "/c/" + f.a.conv + "/settings", "system_prompt", func() *http.Client { return f.a.c }, url.Values{"model": {""}}},
	}
	for _, m := range f.messageTargets() {
		targets = append(targets, target{m.name, m.path, "message", m.c, nil})
	}
	for _, tg := range targets {
		for name, value := range bad {
			for _, mode := range htmxModes {
				t.Run(tg.name+"/"+name+"/"+mode.name, func(t *testing.T) {
					n.add(tg.field)
					form := url.Values{tg.field: {value}}
					for k, v := range tg.extra {
						form[k] = v
					}
					before := f.dump(t)
					resp, body := f.do(t, tg.c(), "POST", tg.path, form, mode.hdr...)
					checkRefusal(t, resp, body, mode.hdr != nil, 400, "bytes that are not text")
					f.unchanged(t, before)
				})
			}
		}
	}
}

// TestBadInputIDs: a malformed or unknown conversation or message id, on
// every route that takes one, is 404 with a message, from the session that
// owns everything else; nothing is stored. So is a message of another
// conversation, and an unknown export format. A malformed Last-Event-ID
// still gets the stream.
func TestBadInputIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil)
	n := newCounter(t)
	a := f.a
	badIDs := map[string]string{
		"x":                     "x",
		"encoded ../":           "..%2F",
		"encoded ..":            "%2E%2E",
		"encoded traversal":     "..%2F..%2Fetc%2Fpasswd",
		"long":                  strings.Repeat("a", 4096),
		"one too long":          a.conv + "a",
		"one too short":         a.conv[1:],
		"upper case":            strings.ToUpper(a.conv),
		"not base32":            "1" + a.conv[1:],
		"NUL":                   a.conv[:25] + "%00",
		"space":                 "%20" + a.conv[1:],
		"unknown":               hxchat.NewID(),
		"a session id":          a.sid,
		"a conversation's twin": strings.Repeat("a", 26),
	}
	for _, r := range routesWhere(route.hasID) {
		for name, id := range badIDs {
			t.Run(r.String()+"/id "+name, func(t *testing.T) {
				n.add("id")
				f.refused404(t, a.c, r, f.path(r, id, strconv.FormatInt(a.answer, 10)))
			})
		}
	}
	badMIDs := map[string]string{
		"x":                       "x",
		"negative":                "-1",
		"negative of a real one":  "-" + strconv.FormatInt(a.answer, 10),
		"zero":                    "0",
		"fraction":                "1.5",
		"exponent":                "1e3",
		"hex":                     "0x1",
		"overflow":                "99999999999999999999",
		"max int64":               "9223372036854775807",
		"unknown":                 "999999",
		"NUL":                     "%00",
		"trailing NUL":            strconv.FormatInt(a.answer, 10) + "%00",
		"leading space":           "%20" + strconv.FormatInt(a.answer, 10),
		"long":                    strings.Repeat("9", 4096),
		"own, other conversation": strconv.FormatInt(a.liveAnswer, 10),
		"another session's":       strconv.FormatInt(f.b.answer, 10),
	}
	for _, r := range routesWhere(route.hasMID) {
		for name, mid := range badMIDs {
			t.Run(r.String()+"/mid "+name, func(t *testing.T) {
				n.add("mid")
				f.refused404(t, a.c, r, f.path(r, a.conv, mid))
			})
		}
	}
	// Edit takes a question only: an answer's id is not found.
	for _, method := range []string{"GET", "POST"} {
		t.Run(method+" edit of an answer", func(t *testing.T) {
			n.add("mid")
			r := route{method, "/c/{id}/m/{mid}/edit", "message"}
			f.refused404(t, a.c, r, fmt.Sprintf("/c/%s/m/%d/edit", a.conv, a.answer))
		})
	}
	for _, format := range []string{"xml", "MD", "md%00", "..%2Fmd", "json.exe", "md%2Fx"} {
		t.Run("export format "+format, func(t *testing.T) {
			n.add("format")
			f.refused404(t, a.c, route{"GET", "/c/{id}/export/{format}", ""}, "/c/"+a.conv+"/export/"+format)
		})
	}
	// Dot segments that are not escaped never reach a handler: the mux
	// redirects to the cleaned path, which is on this site.
	for _, p := range []string{"/c/../item", "/c/" + a.conv + "/m/../source", "/c/./" + a.conv, "/c/" + a.conv + "/m/1/../../delete"} {
		for _, method := range []string{"GET", "POST"} {
			t.Run(method+" raw "+p, func(t *testing.T) {
				n.add("dot segments")
				before := f.dump(t)
				var form url.Values
				if method == "POST" {
					form = url.Values{"title": {"t"}}
				}
				resp, body := f.do(t, a.c, method, p, form)
				loc := resp.Header.Get("Location")
				if resp.StatusCode != 307 && resp.StatusCode != 301 || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.Contains(loc, "..") {
					t.Errorf("%d, Location %q: %s", resp.StatusCode, loc, clip(body))
				}
				f.unchanged(t, before)
			})
		}
	}
	// A malformed Last-Event-ID: the stream starts over with a snapshot
	// (or, for a finished answer, its final event).
	lastIDs := []string{"x", "-", "1-", "-1", "0-0", "%d-", "%d--1", "%d-99999999999", "%d-x", "99999999999999999999-1", strings.Repeat("1", 4096), "%d-1-1"}
	for _, mid := range []int64{a.liveAnswer, a.answer} {
		for _, last := range lastIDs {
			if strings.Contains(last, "%d") {
				last = fmt.Sprintf(last, mid)
			}
			t.Run(fmt.Sprintf("Last-Event-ID %.20s on %d", last, mid), func(t *testing.T) {
				n.add("Last-Event-ID")
				conv := a.conv
				if mid == a.liveAnswer {
					conv = a.live
				}
				before := f.dump(t)
				resp, body := f.do(t, a.c, "GET", fmt.Sprintf("/c/%s/m/%d/events", conv, mid), nil, "Last-Event-ID", last)
				if resp.StatusCode != 200 || !strings.Contains(body, "data:") {
					t.Errorf("%d: %s", resp.StatusCode, clip(body))
				}
				if mid == a.liveAnswer && !strings.Contains(body, "partial") {
					t.Errorf("no snapshot of the text so far: %s", clip(body))
				}
				f.unchanged(t, before)
			})
		}
	}
}

// refused404 sends a valid request of route r to path and checks it is 404
// with a message and stores nothing.
func (f *fixture) refused404(t *testing.T, c *http.Client, r route, path string) {
	t.Helper()
	others := []string{secretA, secretB}
	if c == f.a.c {
		others = []string{secretB}
	} else if c == f.b.c {
		others = []string{secretA}
	}
	f.refused404Hiding(t, c, r, path, others)
}

// refused404Hiding is refused404 whose response must show none of secrets
// (the page around an error may show the requester's own conversations).
func (f *fixture) refused404Hiding(t *testing.T, c *http.Client, r route, path string, secrets []string) {
	t.Helper()
	before := f.dump(t)
	defer f.unchanged(t, before)
	for _, mode := range htmxModes {
		resp, body := f.do(t, c, r.method, path, validForm(r), mode.hdr...)
		if resp.StatusCode != 404 {
			t.Errorf("%s %s (%s): %d, want 404: %s", r.method, clip(path), mode.name, resp.StatusCode, clip(body))
		}
		says(t, body, "Not found.")
		for _, secret := range secrets {
			if strings.Contains(body, secret) {
				t.Errorf("%s %s: the response shows %q", r.method, clip(path), secret)
			}
		}
	}
}

// TestBadInputSessions: a request with no session cookie, or with one the
// server did not issue (forged, malformed, of a deleted session), is never
// a 500 and never sees anybody's data. Where a session is needed (a new
// conversation) it gets a fresh one in place of the forged cookie;
// anywhere else no session is made and nothing is stored.
func TestBadInputSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil)
	n := newCounter(t)
	a := f.a

	// C's session is deleted from the store, as an expiry would: its cookie
	// is now one the server does not know.
	c := f.newAccount(t, "c@example.com", "hello from C", "hold C")
	if _, err := f.db.Exec("DELETE FROM sessions WHERE id = ?", c.sid); err != nil {
		t.Fatal(err)
	}

	cookies := map[string]string{
		"missing":                    "",
		"unknown, valid shape":       hxchat.NewID(),
		"deleted session":            c.sid,
		"malformed":                  "x",
		"long":                       strings.Repeat("a", 4000),
		"upper case of A's":          strings.ToUpper(a.sid),
		"A's with one more":          a.sid + "a",
		"A's conversation id":        a.conv,
		"quoted A's":                 `"` + a.sid[:25] + `x"`,
		"a second cookie after junk": "junk; hxchat_session=" + hxchat.NewID(),
	}
	for _, r := range routeTable {
		for name, value := range cookies {
			t.Run(r.String()+"/"+name, func(t *testing.T) {
				n.add("cookie")
				var hdr []string
				if value != "" {
					hdr = []string{"Cookie", "hxchat_session=" + value}
				}
				if r.method == "POST" {
					hdr = append(hdr, "HX-Request", "true")
				}
				before := f.dump(t)
				resp, body := f.do(t, plainClient, r.method, f.own(r), validForm(r), hdr...)
				if resp.StatusCode >= 500 {
					t.Fatalf("%d: %s", resp.StatusCode, clip(body))
				}
				for _, secret := range []string{secretA, secretB, "hello from C"} {
					if strings.Contains(body, secret) {
						t.Errorf("the response shows %q", secret)
					}
				}
				var fresh *http.Cookie
				for _, ck := range resp.Cookies() {
					if ck.Name == "hxchat_session" {
						fresh = ck
					}
				}
				switch {
				case r.pattern == "/c":
					// A session is needed: a fresh one replaces the cookie.
					if resp.StatusCode != 200 || fresh == nil || !hxchat.ValidID(fresh.Value) || fresh.Value == value || fresh.Value == a.sid {
						t.Fatalf("%d, cookie %v: %s", resp.StatusCode, fresh, clip(body))
					}
					conv := strings.TrimPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
					var owner string
					if err := f.db.QueryRow("SELECT session_id FROM conversations WHERE id = ?", conv).Scan(&owner); err != nil || owner != fresh.Value {
						t.Errorf("the new conversation belongs to %q (%v), want the fresh session %q", owner, err, fresh.Value)
					}
					ids := f.messageIDs(t, conv)
					if len(ids) != 2 {
						t.Fatalf("the new conversation has %d messages", len(ids))
					}
					f.waitFinal(t, ids[1]) // its answer must not change the next case's store
					f.unchangedBut(t, before, fresh.Value, conv)
					return
				case r.hasID():
					if resp.StatusCode != 404 {
						t.Errorf("%d, want 404", resp.StatusCode)
					}
					says(t, body, "Not found.")
				case r.pattern == "/{$}":
					if resp.StatusCode != 200 {
						t.Errorf("%d, want 200", resp.StatusCode)
					}
					says(t, body, "No conversations yet.")
				case r.pattern == "/conversations":
					if resp.StatusCode != 200 || strings.Contains(body, "/c/") {
						t.Errorf("%d, a list with conversations: %s", resp.StatusCode, clip(body))
					}
				case r.pattern == "/lang":
					if resp.StatusCode != 303 {
						t.Errorf("%d, want 303", resp.StatusCode)
					}
				default:
					if resp.StatusCode != 200 {
						t.Errorf("%d, want 200", resp.StatusCode)
					}
				}
				if fresh != nil {
					t.Errorf("a session cookie was set where none is needed: %v", fresh)
				}
				f.unchanged(t, before)
			})
		}
	}
}

// unchangedBut is unchanged for everything but the rows of the session sid
// and conversation conv (and the message id counter).
func (f *fixture) unchangedBut(t *testing.T, before []string, sid, conv string) {
	t.Helper()
	keep := func(lines []string) []string {
		return slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
			return strings.Contains(l, sid) || strings.Contains(l, conv) || strings.HasPrefix(l, "sequence ")
		})
	}
	compareDumps(t, keep(before), keep(f.dump(t)))
}

// TestBadInputOtherSession: B, with a session and data of its own, gets 404
// for A's conversations, messages and stream on every route that takes an
// id, GET and POST; nothing of A's shows or changes, and A's answer goes on.
func TestBadInputOtherSession(t *testing.T) {
	t.Parallel()
	otherOwner(t, newFixture(t, nil, nil))
}

// TestBadInputOtherUser is TestBadInputOtherSession with people signed in
// by a trusted proxy: B, signed in, gets 404 for each of A's ids on every
// route, and A's answer goes on.
func TestBadInputOtherUser(t *testing.T) {
	t.Parallel()
	otherOwner(t, newFixture(t, func(o *web.Options) {
		o.SignIn = web.SignIn{Mode: web.AuthProxy, TrustedProxies: loopback}
	}, nil))
}

// TestBadInputOtherAdmin is TestBadInputOtherUser with B an administrator
// (a member of the proxy's admin group): an administrator sees nobody
// else's conversations either.
func TestBadInputOtherAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *web.Options) {
		o.SignIn = web.SignIn{Mode: web.AuthProxy, TrustedProxies: loopback, AdminGroup: "hxchat-admins"}
	}, nil)
	_, page := f.do(t, f.b.c, "GET", "/", nil)
	if !strings.Contains(page, `class="user-admin"`) {
		t.Fatal("B is not shown as an administrator")
	}
	if _, page := f.do(t, f.a.c, "GET", "/", nil); strings.Contains(page, `class="user-admin"`) {
		t.Fatal("A is shown as an administrator")
	}
	otherOwner(t, f)
}

// TestBadInputOtherOIDCUser is TestBadInputOtherAdmin with people signed
// in by hxchat itself with OIDC (mockoidc): B, an administrator, gets 404
// for each of A's ids on every route, and A's answer goes on.
func TestBadInputOtherOIDCUser(t *testing.T) {
	t.Parallel()
	idp := oidctest.Start(t, "hxchat-app", "app-secret", nil)
	f := newFixtureAt(t, func(base string, o *web.Options) {
		oidc, err := web.NewOIDC(context.Background(), web.OIDCOptions{Issuer: idp.URL, ClientID: "hxchat-app", ClientSecret: "app-secret",
			RedirectURL: base + "/auth/callback", AdminGroup: oidcAdminGroup, Store: o.Store.(hxchat.SignInStore)})
		if err != nil {
			t.Fatal(err)
		}
		o.SignIn = web.SignIn{Mode: web.AuthOIDC, OIDC: oidc}
	}, nil, idp)
	if _, page := f.do(t, f.b.c, "GET", "/", nil); !strings.Contains(page, `class="user-admin"`) || !strings.Contains(page, "b@example.com") {
		t.Fatal("B is not shown signed in as an administrator")
	}
	if _, page := f.do(t, f.a.c, "GET", "/", nil); strings.Contains(page, `class="user-admin"`) || !strings.Contains(page, "a@example.com") {
		t.Fatal("A is not shown signed in, or as an administrator")
	}
	otherOwner(t, f)
}

// otherOwner checks that B gets 404, and changes nothing, for each of A's
// ids on every route that takes one.
func otherOwner(t *testing.T, f *fixture) {
	n := newCounter(t)
	a, b := f.a, f.b
	id := func(m int64) string { return strconv.FormatInt(m, 10) }
	for _, r := range routesWhere(route.hasID) {
		type target struct{ name, conv, mid string }
		var targets []target
		if r.hasMID() {
			targets = []target{
				{"A's question", a.conv, id(a.user)},
				{"A's answer", a.conv, id(a.answer)},
				{"A's stream", a.live, id(a.liveAnswer)},
				{"A's answer in B's conversation", b.conv, id(a.answer)},
				{"A's stream in B's conversation", b.live, id(a.liveAnswer)},
			}
		} else {
			targets = []target{{"A's conversation", a.conv, ""}, {"A's conversation being answered", a.live, ""}}
		}
		for _, tg := range targets {
			paths := []string{f.path(r, tg.conv, tg.mid)}
			if strings.Contains(r.pattern, "{format}") {
				paths = append(paths, strings.TrimSuffix(paths[0], "md")+"json")
			}
			for _, p := range paths {
				t.Run(r.String()+"/"+tg.name+"/"+p[strings.LastIndex(p, "/")+1:], func(t *testing.T) {
					n.add(r.method)
					f.refused404(t, b.c, r, p)
				})
			}
		}
	}
	// A's answer was not stopped by B, and A still follows it.
	if s := f.state(t, a.liveAnswer); s != "streaming" {
		t.Errorf("A's answer is %s", s)
	}
	resp, body := f.do(t, a.c, "GET", fmt.Sprintf("/c/%s/m/%d/events", a.live, a.liveAnswer), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "partial") {
		t.Errorf("A's stream: %d %s", resp.StatusCode, clip(body))
	}
	for _, p := range []string{"/c/" + a.conv, "/c/" + a.live} {
		if resp, body := f.do(t, a.c, "GET", p, nil); resp.StatusCode != 200 || !strings.Contains(body, secretA) {
			t.Errorf("A's %s: %d", p, resp.StatusCode)
		}
	}
}

// TestBadInputMethods: every route refuses other methods with 405 (and
// says which it allows); nothing is stored.
func TestBadInputMethods(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil)
	n := newCounter(t)
	for _, r := range routeTable {
		// A path may have a GET and a POST route (edit, rename).
		allowed := map[string]bool{}
		for _, other := range routeTable {
			if other.pattern == r.pattern {
				allowed[other.method] = true
				if other.method == "GET" {
					allowed["HEAD"] = true
				}
			}
		}
		if allowed["POST"] && allowed["GET"] && r.method == "POST" {
			continue // the GET route of the path has the cases
		}
		var wrong []string
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"} {
			if !allowed[m] {
				wrong = append(wrong, m)
			}
		}
		allow := r.method
		for _, method := range wrong {
			t.Run(r.String()+"/"+method, func(t *testing.T) {
				n.add(r.method + " route")
				before := f.dump(t)
				form := validForm(r)
				if form == nil {
					form = url.Values{"message": {"hi"}}
				}
				resp, body := f.do(t, f.a.c, method, f.own(r), form)
				if resp.StatusCode >= 500 {
					t.Fatalf("%d", resp.StatusCode)
				}
				if resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), allow) {
					t.Errorf("%d, Allow %q; want 405, Allow %s", resp.StatusCode, resp.Header.Get("Allow"), allow)
				}
				for m := range allowed {
					if !strings.Contains(resp.Header.Get("Allow"), m) {
						t.Errorf("Allow %q lacks %s", resp.Header.Get("Allow"), m)
					}
				}
				if method != "HEAD" {
					says(t, body, "Method Not Allowed")
				}
				f.unchanged(t, before)
			})
		}
	}
}

// TestBadInputHeaders: a request whose headers are over http.Server's
// MaxHeaderBytes (64 KiB, as in cmd/hxchat/run.go) is refused with 431 on
// every route; nothing is stored. Headers well within the limit pass.
func TestBadInputHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil)
	n := newCounter(t)
	big := strings.Repeat("a", 100<<10)
	var cookies strings.Builder
	for i := 0; cookies.Len() < 100<<10; i++ {
		fmt.Fprintf(&cookies, "pad%d=%s; ", i, strings.Repeat("b", 1000))
	}
	for _, r := range routeTable {
		for _, h := range []struct{ name, value string }{{"X-Pad", big}, {"Cookie", cookies.String() + "hxchat_session=" + f.a.sid}} {
			t.Run(r.String()+"/"+h.name, func(t *testing.T) {
				n.add(h.name)
				before := f.dump(t)
				resp, body := f.do(t, plainClient, r.method, f.own(r), validForm(r), h.name, h.value)
				if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
					t.Errorf("%d, want 431", resp.StatusCode)
				}
				says(t, body, "Request Header Fields Too Large")
				f.unchanged(t, before)
			})
		}
	}
	t.Run("within the limit", func(t *testing.T) {
		n.add("within")
		resp, body := f.do(t, f.a.c, "GET", "/", nil, "X-Pad", strings.Repeat("a", 48<<10))
		if resp.StatusCode != 200 || !strings.Contains(body, secretA) {
			t.Errorf("%d", resp.StatusCode)
		}
	})
}

// TestBadInputBodies: an oversized body on every POST route is refused with
// 413 (or 400 where the handler cannot read it as its form), with a
// message; nothing is stored, nothing is stopped, retried or deleted.
func TestBadInputBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil)
	n := newCounter(t)
	const mib = 1 << 20
	for _, r := range routesWhere(func(r route) bool { return r.method == "POST" }) {
		field := r.field
		if field == "" || field == "lang" {
			field = "pad"
		}
		bigForm := func(size int) string {
			form := validForm(r)
			form.Set(field, strings.Repeat("a", size))
			return form.Encode()
		}
		bodies := []struct {
			name, ctype string
			body        func() io.Reader
		}{
			{"form 1 MiB", "application/x-www-form-urlencoded", func() io.Reader { return strings.NewReader(bigForm(mib)) }},
			{"form 11 MiB", "application/x-www-form-urlencoded", func() io.Reader { return strings.NewReader(bigForm(11 * mib)) }},
			{"chunked form 1 MiB", "application/x-www-form-urlencoded", func() io.Reader { return struct{ io.Reader }{strings.NewReader(bigForm(mib))} }},
			{"text 1 MiB", "text/plain", func() io.Reader { return strings.NewReader(strings.Repeat("a", mib)) }},
			{"multipart 1 MiB", "", nil},
		}
		for _, b := range bodies {
			t.Run(r.String()+"/"+b.name, func(t *testing.T) {
				n.add(r.pattern)
				ctype, body := b.ctype, b.body
				if body == nil {
					var buf strings.Builder
					mw := multipart.NewWriter(&buf)
					for k, v := range validForm(r) {
						mw.WriteField(k, v[0])
					}
					mw.WriteField(field, strings.Repeat("a", mib))
					mw.Close()
					ctype, body = mw.FormDataContentType(), func() io.Reader { return strings.NewReader(buf.String()) }
				}
				before := f.dump(t)
				req, _ := http.NewRequest("POST", f.ts.URL+f.own(r), body())
				req.Header.Set("Content-Type", ctype)
				req.Header.Set("HX-Request", "true")
				resp, text := f.send(t, f.a.c, req)
				if resp.StatusCode != 413 && resp.StatusCode != 400 {
					t.Errorf("%d, want 413 or 400: %s", resp.StatusCode, clip(text))
				}
				f.saysWhy(t, text)
				f.unchanged(t, before)
			})
		}
	}
}

// TestBadInputSlow: with the server's timeouts short, a client that sends
// its headers slowly is cut after ReadHeaderTimeout on every route, one that
// sends nothing or stays idle after a request is cut too, and one that sends
// a body slowly (with a length or chunked) is cut after the body timeout on
// every route, answered with an error if at all; nothing is stored. The
// clients run at once, so that the test takes about one timeout.
func TestBadInputSlow(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	f := newFixture(t, func(o *web.Options) { o.BodyTimeout = timeout }, func(s *http.Server) {
		s.ReadHeaderTimeout = timeout
		s.IdleTimeout = 2 * timeout
	})
	n := newCounter(t)
	cookie := "hxchat_session=" + f.a.sid
	var probes []*slowProbe
	for _, r := range routeTable {
		probes = append(probes, &slowProbe{name: r.String() + "/slow headers", kind: "headers", Probe: slowclient.Probe{Limit: timeout,
			Start: fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n", r.method, f.own(r), cookie),
			Slow:  "X-Slow: " + strings.Repeat("a", 1000)}})
		form := validForm(r)
		if form == nil {
			form = url.Values{"q": {"x"}}
		}
		for _, chunked := range []bool{false, true} {
			p := &slowProbe{name: r.String() + "/slow body", kind: "body", getBody: r.method == "GET", Probe: slowclient.Probe{Limit: timeout,
				Start: fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nHX-Request: true\r\nContent-Type: application/x-www-form-urlencoded\r\n",
					r.method, f.own(r), cookie),
				Slow: form.Encode() + "&pad=" + strings.Repeat("a", 1000)}}
			if chunked {
				p.name, p.kind = r.String()+"/slow chunked body", "chunked body"
				p.Start += "Transfer-Encoding: chunked\r\n\r\n"
				p.Slow = fmt.Sprintf("%x\r\n%s", len(p.Slow), p.Slow)
			} else {
				p.Start += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(p.Slow)+1000)
			}
			probes = append(probes, p)
		}
	}
	probes = append(probes,
		&slowProbe{name: "silent connection", kind: "silent", Probe: slowclient.Probe{Limit: timeout}},
		&slowProbe{name: "idle after a request", kind: "idle", Probe: slowclient.Probe{Limit: 2 * timeout, Start: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", Idle: true}})

	before := f.dump(t)
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Go(func() { p.Run(f.ts.Listener.Addr().String()) })
	}
	wg.Wait()
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			n.add(p.kind)
			if p.Err != nil {
				t.Fatal(p.Err)
			}
			if p.Took >= p.Limit+2*time.Second {
				t.Errorf("no answer and the connection still open after %v (limit %v)", p.Took.Round(time.Millisecond), p.Limit)
			}
			if p.Took < p.Limit*3/4 && p.Status == 0 {
				t.Errorf("the connection was closed after %v, before the limit %v", p.Took.Round(time.Millisecond), p.Limit)
			}
			switch {
			case p.Status >= 500:
				t.Errorf("a trickled request got %d", p.Status)
			case p.getBody:
				// A GET does not read its body: it may answer (an event
				// stream even goes on), once the body is cut.
			case p.Status != 0 && p.Status < 400:
				t.Errorf("a trickled request got %d", p.Status)
			case !p.Closed:
				t.Errorf("the connection stayed open after the answer %d", p.Status)
			}
		})
	}
	t.Run("nothing stored", func(t *testing.T) { f.unchanged(t, before) })
}

// slowProbe is a slow client (see slowclient.Probe) with the case it tests.
type slowProbe struct {
	name, kind string
	getBody    bool // a GET with a body
	slowclient.Probe
}

// TestBadInputControl: the requests the other tests spoil, sent well-formed,
// succeed: what they refuse is the bad input, not the route. The forms
// without a message are also sent as multipart, which they accept.
func TestBadInputControl(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, nil)
	n := newCounter(t)
	a := f.a
	// In order: each step leaves the conversations ready for the next.
	for _, c := range []struct {
		method, path string
		form         url.Values
		multipart    bool
		status       int
		says         string
	}{
		{"GET", "/c/" + a.conv, nil, false, 200, secretA},
		{"POST", "/c/" + a.conv + "/settings", url.Values{"system_prompt": {"Be brief."}}, false, 200, "Be brief."},
		{"POST", "/c/" + a.conv + "/settings", url.Values{"system_prompt": {"Be briefer."}}, true, 200, "Be briefer."},
		{"POST", "/c/" + a.conv + "/rename", url.Values{"title": {"Renamed once"}}, false, 200, "Renamed once"},
		{"POST", "/c/" + a.conv + "/rename", url.Values{"title": {"Renamed twice"}}, true, 200, "Renamed twice"},
		{"POST", fmt.Sprintf("/c/%s/m/%d/retry", a.conv, a.answer), url.Values{}, false, 200, "hx-sse:connect"},
		{"POST", fmt.Sprintf("/c/%s/m/%d/stop", a.live, a.liveAnswer), url.Values{}, true, 204, ""},
		{"POST", fmt.Sprintf("/c/%s/m/%d/stop", a.live, a.liveAnswer), url.Values{}, false, 204, ""},
		{"POST", "/c/" + a.live + "/messages", url.Values{"message": {"next question"}}, false, 200, "next question"},
		{"POST", fmt.Sprintf("/c/%s/m/%d/edit", a.conv, a.user), url.Values{"message": {"edited question"}}, false, 200, "edited question"},
		{"POST", "/c/" + a.live + "/delete", url.Values{}, false, 200, "Renamed twice"},
		{"POST", "/lang", url.Values{"lang": {"ja"}, "next": {"/"}}, true, 303, ""},
		{"POST", "/lang", url.Values{"lang": {"en"}, "next": {"/"}}, false, 303, ""},
		{"POST", "/c", url.Values{"message": {"a new question"}}, false, 200, "a new question"},
	} {
		name := c.method + " " + c.path
		if c.multipart {
			name += " (multipart)"
		}
		t.Run(name, func(t *testing.T) {
			n.add(map[bool]string{false: "urlencoded", true: "multipart"}[c.multipart])
			var resp *http.Response
			var body string
			if c.multipart {
				var b strings.Builder
				mw := multipart.NewWriter(&b)
				for k, v := range c.form {
					mw.WriteField(k, v[0])
				}
				mw.Close()
				req, _ := http.NewRequest(c.method, f.ts.URL+c.path, strings.NewReader(b.String()))
				req.Header.Set("Content-Type", mw.FormDataContentType())
				req.Header.Set("HX-Request", "true")
				resp, body = f.send(t, a.c, req)
			} else {
				resp, body = f.do(t, a.c, c.method, c.path, c.form, "HX-Request", "true")
			}
			if resp.StatusCode != c.status {
				t.Fatalf("%d, want %d: %s", resp.StatusCode, c.status, clip(body))
			}
			if c.says != "" {
				says(t, body, c.says)
			}
		})
		// An answer this step started ends before the next step.
		if ids := f.messageIDs(t, a.conv); len(ids) > 0 {
			f.waitFinal(t, ids[len(ids)-1])
		}
	}
}

// Package llmtest is a fake model service for tests: an httptest server that
// speaks the streaming wire formats of OpenAI chat completions and of Azure
// OpenAI, answers with scripted replies, and records what it was sent.
//
// One server serves both shapes, chosen by the request path:
//
//	POST {any base}/chat/completions                     OpenAI shape
//	POST /openai/deployments/{dep}/chat/completions      Azure shape (needs api-version and api-key)
//	POST /openai/v1/chat/completions                     Azure v1 shape (needs api-key or a Bearer token)
//
// RequireBearer makes both Azure shapes accept only one Entra ID token, as
// a resource that signs in with Entra ID does.
//
// The Azure shape starts with the prompt-annotation chunk (choices: [] and
// prompt_filter_results) and carries content_filter_results on every choice,
// as Azure does.
//
// Typical use:
//
//	s := llmtest.NewServer(t)
//	s.Reply(llmtest.Reply{Tokens: []string{"Hello", " world"}})
//	p, _ := llm.NewOpenAI(llm.OpenAIOptions{BaseURL: s.OpenAIBaseURL(), Model: "m"})
//	// ... stream from p, then inspect s.Requests()
package llmtest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Server is a running fake model service. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the server's base URL, such as "http://127.0.0.1:41234".
	URL string

	srv       *httptest.Server
	done      chan struct{} // closed by Close: stalled and gated replies end
	closeOnce sync.Once

	mu      sync.Mutex
	replies []Reply
	reqs    []Request
	conns   int    // connections accepted
	bearer  string // the only token Azure shapes accept, if not ""
}

// NewServer starts a plain-HTTP server on a loopback address. It is closed
// when the test ends.
func NewServer(t testing.TB) *Server {
	return start(t, httptest.NewUnstartedServer(nil), false)
}

// NewTLSServer starts an HTTPS server on a loopback address; use Client to
// talk to it. It is closed when the test ends.
func NewTLSServer(t testing.TB) *Server {
	return start(t, httptest.NewUnstartedServer(nil), true)
}

func start(t testing.TB, hs *httptest.Server, tls bool) *Server {
	t.Helper()
	s := &Server{srv: hs, done: make(chan struct{})}
	hs.Config.Handler = s
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	if tls {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	s.URL = hs.URL
	t.Cleanup(s.Close)
	return s
}

// Client returns an HTTP client that trusts the server (needed for
// NewTLSServer). Its idle connections are closed when the server closes.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// OpenAIBaseURL returns the base URL for an OpenAI client: URL + "/v1".
func (s *Server) OpenAIBaseURL() string { return s.URL + "/v1" }

// Close stops the server: stalled and gated replies end at once, open
// connections are closed. It is called automatically when the test ends and
// may be called again.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// Reply queues scripted replies, one per request, in order. The last one
// queued stays and answers every further request. Without any, the server
// echoes the last user message.
func (s *Server) Reply(r ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, r...)
}

// RequireBearer makes the Azure shapes accept a request only with
// "Authorization: Bearer " + token and no Api-Key; any other gets Azure's
// 401 for a missing, invalid or expired token. Call it again to accept
// another token (a refreshed one) instead; "" accepts any key or token again.
func (s *Server) RequireBearer(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bearer = token
}

// Conns returns how many connections the server has accepted.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	copy(out, s.reqs)
	return out
}

// Request is what the server received.
type Request struct {
	Method string
	Path   string     // the URL path, e.g. "/openai/deployments/gpt-4o/chat/completions"
	Query  url.Values // e.g. api-version
	Header http.Header
	Body   ChatBody // the decoded JSON body
	Raw    []byte   // the body as sent

	// Aborted is closed when the client went away (cancelled, closed the
	// connection) before the reply was complete.
	Aborted <-chan struct{}
}

// ChatBody is the part of a chat completions request body that tests check.
type ChatBody struct {
	Model         string    `json:"model"`
	Stream        bool      `json:"stream"`
	StreamOptions *struct { // nil when the client sent none
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []Message `json:"messages"`
}

// Message is one message of a request body.
type Message struct {
	Role    string
	Content string // text parts are joined when the content is an array
}

// UnmarshalJSON accepts content as a string or an array of text parts.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.Role = raw.Role
	if json.Unmarshal(raw.Content, &m.Content) == nil {
		return nil
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw.Content, &parts); err != nil {
		return err
	}
	var sb strings.Builder
	for _, p := range parts {
		sb.WriteString(p.Text)
	}
	m.Content = sb.String()
	return nil
}

// ServeHTTP records the request and answers it with the next reply.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	aborted := make(chan struct{})
	rec := Request{
		Method:  r.Method,
		Path:    r.URL.Path,
		Query:   r.URL.Query(),
		Header:  r.Header.Clone(),
		Raw:     raw,
		Aborted: aborted,
	}
	bodyErr := json.Unmarshal(raw, &rec.Body)

	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	n := len(s.reqs)
	bearer := s.bearer
	s.mu.Unlock()

	shape := shapeOf(r.URL.Path)
	switch {
	case shape == shapeNone || r.Method != http.MethodPost:
		writeError(w, http.StatusNotFound, nil, `{"error":{"message":"Invalid URL (`+r.Method+` `+r.URL.Path+`)","type":"invalid_request_error","param":null,"code":null}}`)
		return
	case shape == shapeAzure && r.URL.Query().Get("api-version") == "":
		writeError(w, http.StatusNotFound, nil, `{"error":{"code":"404","message":"Resource not found"}}`)
		return
	case shape != shapeOpenAI && bearer != "" &&
		(r.Header.Get("Authorization") != "Bearer "+bearer || len(r.Header.Values("Authorization")) != 1 || r.Header.Get("Api-Key") != ""):
		writeError(w, http.StatusUnauthorized, nil, entraUnauthorized)
		return
	case shape != shapeOpenAI && r.Header.Get("Api-Key") == "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		writeError(w, http.StatusUnauthorized, nil, defaultErrorBody(shape, http.StatusUnauthorized, ""))
		return
	case bodyErr != nil:
		writeError(w, http.StatusBadRequest, nil, `{"error":{"message":"We could not parse the JSON body of your request.","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	s.mu.Lock()
	reply, scripted := s.nextLocked()
	s.mu.Unlock()
	if !scripted {
		reply = echo(rec.Body.Messages)
	}
	if reply.Reset && reply.DropAfter == 0 {
		resetConn(w)
		return
	}
	if reply.Status >= 400 {
		body := reply.ErrorBody
		if body == "" {
			body = defaultErrorBody(shape, reply.Status, presentedKey(r))
		}
		writeError(w, reply.Status, reply.Headers, body)
		return
	}
	st := &stream{w: w, rc: http.NewResponseController(w), r: r, s: s, shape: shape, n: n, req: rec.Body}
	if !st.run(reply) && r.Context().Err() != nil {
		close(aborted)
	}
}

// nextLocked pops the next scripted reply; the last one stays.
func (s *Server) nextLocked() (Reply, bool) {
	switch len(s.replies) {
	case 0:
		return Reply{}, false
	case 1:
		return s.replies[0], true
	}
	r := s.replies[0]
	s.replies = s.replies[1:]
	return r, true
}

// echo is the default reply: it repeats the last user message.
func echo(msgs []Message) Reply {
	q := ""
	for _, m := range msgs {
		if m.Role == "user" {
			q = m.Content
		}
	}
	toks := []string{"You", " said:"}
	for _, w := range strings.Fields(q) {
		toks = append(toks, " "+w)
	}
	return Reply{Tokens: toks}
}

// entraUnauthorized is Azure OpenAI's answer to a request whose Entra ID
// token is missing, invalid or expired.
const entraUnauthorized = `{"error":{"code":"401","message":"Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}}`

func presentedKey(r *http.Request) string {
	if k := r.Header.Get("Api-Key"); k != "" {
		return k
	}
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func writeError(w http.ResponseWriter, status int, headers map[string]string, body string) {
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

type shape int

const (
	shapeNone shape = iota
	shapeOpenAI
	shapeAzure   // /openai/deployments/{dep}/chat/completions?api-version=
	shapeAzureV1 // /openai/v1/chat/completions
)

func shapeOf(path string) shape {
	switch {
	case !strings.HasSuffix(path, "/chat/completions"):
		return shapeNone
	case strings.HasPrefix(path, "/openai/deployments/"):
		return shapeAzure
	case path == "/openai/v1/chat/completions":
		return shapeAzureV1
	}
	return shapeOpenAI
}

// resetConn takes the connection from the HTTP server and resets it: with
// SO_LINGER 0, closing sends RST, and the client's read fails with
// "connection reset by peer".
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

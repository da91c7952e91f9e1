// Command floor is the least a server can do for the load benchmark's
// browsers: relay an OpenAI-compatible stream into Server-Sent Events, in the
// shape hxchat sends them, with nothing else — no store, no templates, no
// Markdown, no sessions, no limits. Its figures are the floor of this host
// and this harness: what the system calls, the scheduler and net/http cost
// before hxchat does any work of its own.
//
//	go run ./bench -floor    # every rung against hxchat, then against this
//
// It takes the flags the benchmark gives hxchat (and ignores all but -addr)
// and reads OPENAI_BASE_URL and OPENAI_MODEL as hxchat does. Like the
// pattern hxchat grew from, it asks the model when the stream is opened.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidwall/gjson"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "listen address")
	flag.String("data", "", "ignored (hxchat's)")
	flag.String("log-level", "", "ignored (hxchat's)")
	flag.String("drain", "", "ignored (hxchat's)")
	flag.String("max-answers", "", "ignored (hxchat's)")
	flag.String("rate", "", "ignored (hxchat's)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// HXCHAT_CPUPROFILE=FILE profiles the relay until it shuts down, as it
	// does hxchat: the two profiles of a rung then compare part by part.
	if path := os.Getenv("HXCHAT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}

	f := &floor{
		upstream: os.Getenv("OPENAI_BASE_URL") + "/chat/completions",
		model:    os.Getenv("OPENAI_MODEL"),
		key:      os.Getenv("OPENAI_API_KEY"),
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 1024,
			DisableCompression:  true,
		}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!doctype html><title>floor</title><div id=log></div>")
	})
	mux.HandleFunc("POST /c", f.post)
	mux.HandleFunc("GET /c/{c}/m/{m}/events", f.events)

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	log.Info("hxchat is ready (the floor relay)", "url", "http://"+l.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
}

type floor struct {
	upstream, model, key string
	client               *http.Client
	next                 atomic.Int64
	// messages holds each posted message until its stream asks for it.
	messages syncMap
}

// post takes the message and answers with the element that opens its stream.
func (f *floor) post(w http.ResponseWriter, r *http.Request) {
	id := f.next.Add(1)
	f.messages.put(id, r.PostFormValue("message"))
	fmt.Fprintf(w, `<article id="m%d" hx-sse:connect="/c/x/m/%d/events" hx-sse:close="done"></article>`, id, id)
}

// events asks the model and relays each token as an htmx partial.
func (f *floor) events(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("m"), 10, 64)
	msg, ok := f.messages.take(id)
	if err != nil || !ok {
		http.NotFound(w, r)
		return
	}
	body, _ := json.Marshal(map[string]any{
		"model": f.model, "stream": true,
		"messages": []map[string]string{{"role": "user", "content": msg}},
	})
	req, _ := http.NewRequestWithContext(r.Context(), "POST", f.upstream, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.key)
	res, err := f.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()

	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	var text, frame []byte
	target := "m" + strconv.FormatInt(id, 10)
	seq := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok || bytes.Equal(data, []byte("[DONE]")) {
			continue
		}
		// The one field it needs, found the cheapest way hxchat knows.
		content := gjson.GetBytes(data, "choices.0.delta.content").Str
		if content == "" {
			continue
		}
		// Escaped for HTML, and a line break as a character reference so
		// that the event stays one data line.
		piece := strings.ReplaceAll(html.EscapeString(content), "\n", "&#10;")
		text = append(text, piece...)
		seq++
		frame = strconv.AppendInt(append(frame[:0], "id: "...), int64(seq), 10)
		frame = append(append(append(frame, "\ndata: <hx-partial hx-target=\"#"...), target...), "-body\" hx-swap=\"md\">"...)
		frame = append(append(frame, piece...), "</hx-partial>\n\n"...)
		if _, err := w.Write(frame); err != nil || rc.Flush() != nil {
			return
		}
	}
	fmt.Fprintf(w, "id: %d\ndata: <hx-partial hx-target=\"#m%d\" hx-swap=\"outerHTML\"><article id=\"m%d\"><div id=\"m%d-body\">%s</div></article></hx-partial>\n\n", seq+1, id, id, id, text)
	fmt.Fprintf(w, "id: %d\nevent: done\ndata: done\n\n", seq+2)
	rc.Flush()
}

// syncMap is a map of the posted messages, safe for concurrent use.
type syncMap struct {
	mu sync.Mutex
	m  map[int64]string
}

func (s *syncMap) put(id int64, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[int64]string)
	}
	s.m[id] = msg
}

func (s *syncMap) take(id int64) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg, ok := s.m[id]
	delete(s.m, id)
	return msg, ok
}

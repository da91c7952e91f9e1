package llm

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/openai/openai-go/v3/packages/ssestream"
)

// TestEventReader: eventReader reads every stream as the SDK's decoder does —
// the same events, with the same data and names, and the same end — however
// the stream is split into reads.
func TestEventReader(t *testing.T) {
	long := strings.Repeat("x", 3*eventReaderSize+17) // grows the buffer twice
	for name, stream := range map[string]string{
		"openai":       "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n",
		"crlf":         "data: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n",
		"no space":     "data:{\"a\":1}\n\n",
		"two lines":    "data: one\ndata: two\n\n",
		"named":        "event: error\ndata: {\"error\":{}}\n\ndata: after\n\n",
		"comments":     ": keep-alive\n\n: more\ndata: x\n\n",
		"empty events": "\n\n\nevent: ping\n\ndata: x\n\n",
		"other fields": "id: 7\nretry: 10\ndata: x\n\n",
		"unended":      "data: x\n\ndata: cut",
		"unended line": "data: x\n\ndata: y\n",
		"long":         "data: " + long + "\n\ndata: short\n\n",
		"empty":        "",
		"colon value":  "data: a: b\n\n",
	} {
		want := sdkEvents(t, io.NopCloser(strings.NewReader(stream)))
		for _, r := range []struct {
			name string
			r    func() io.Reader
		}{
			{"whole", func() io.Reader { return strings.NewReader(stream) }},
			{"bytes", func() io.Reader { return iotest.OneByteReader(strings.NewReader(stream)) }},
			{"halves", func() io.Reader { return iotest.HalfReader(strings.NewReader(stream)) }},
		} {
			var got []ssestream.Event
			e := newEventReader(r.r())
			for e.Next() {
				got = append(got, ssestream.Event{Type: e.typ, Data: append([]byte(nil), e.Data()...)})
			}
			if e.Err() != nil {
				t.Errorf("%s, %s: %v", name, r.name, e.Err())
			}
			if !sameEvents(got, want) {
				t.Errorf("%s, %s:\n got %q\nwant %q", name, r.name, got, want)
			}
		}
	}
}

// TestEventReaderErrors: a read error ends the stream with that error after
// the events before it; a line longer than the SDK allows ends it with
// bufio.ErrTooLong.
func TestEventReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	e := newEventReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)))
	var n int
	for e.Next() {
		n++
	}
	if n != 1 || !errors.Is(e.Err(), boom) {
		t.Errorf("got %d events and %v; want 1 and %v", n, e.Err(), boom)
	}
	e = newEventReader(io.MultiReader(strings.NewReader("data: "), neverEnding('x')))
	if e.Next() || !errors.Is(e.Err(), bufio.ErrTooLong) {
		t.Errorf("an endless line: %v, want %v", e.Err(), bufio.ErrTooLong)
	}
	if len(e.buf) != maxEventLine {
		t.Errorf("buffer grew to %d bytes, want %d", len(e.buf), maxEventLine)
	}
}

// TestEventReaderAllocs: reading a token's event costs no allocation once
// the buffers have their size, and decoding its chunk one.
func TestEventReaderAllocs(t *testing.T) {
	ev := "data: " + string(azureChunk) + "\n\n"
	r := strings.NewReader("")
	e := newEventReader(r)
	n := testing.AllocsPerRun(100, func() {
		r.Reset(ev)
		if !e.Next() || len(e.Data()) != len(azureChunk)+1 {
			t.Fatal("no event")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per event, want 0", n)
	}
	// decodeChunk copies the token's text, and nothing else.
	n = testing.AllocsPerRun(100, func() {
		if d, _, err := decodeChunk(ssestream.Event{Data: azureChunk}); err != nil || d.Text != " token" {
			t.Fatal(d, err)
		}
	})
	if n != 1 {
		t.Errorf("decodeChunk: %v allocations per chunk, want 1", n)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// sdkEvents returns the events of body as the SDK's decoder reads them.
func sdkEvents(t *testing.T, body io.ReadCloser) []ssestream.Event {
	t.Helper()
	dec := ssestream.NewDecoder(&http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: body})
	var evs []ssestream.Event
	for dec.Next() {
		ev := dec.Event()
		evs = append(evs, ssestream.Event{Type: ev.Type, Data: append([]byte(nil), ev.Data...)})
	}
	if err := dec.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func sameEvents(a, b []ssestream.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || string(a[i].Data) != string(b[i].Data) {
			return false
		}
	}
	return true
}

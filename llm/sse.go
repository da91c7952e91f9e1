package llm

import (
	"bufio"
	"bytes"
	"io"
)

// maxEventLine is the longest line of a response's event stream that
// eventReader reads, as the SDK's own decoder allows: a line past it ends
// the stream with bufio.ErrTooLong.
const maxEventLine = bufio.MaxScanTokenSize << 9

// eventReaderSize is the size eventReader's buffer starts at: room for two
// chunks of Azure's (about 450 bytes each, with its content filter results)
// or four of OpenAI's (about 250), so that it rarely grows; it is kept as
// long as the answer streams.
const eventReaderSize = 1 << 10

// eventReader reads the events of a text/event-stream response as the SDK's
// decoder (ssestream.NewDecoder) does — the same lines, the same data with
// each line's "\n", comments and empty events skipped — without its
// allocations: the SDK's decoder makes each event's data anew, and its
// bufio.Scanner is sized for the worst case. Here one buffer holds what was
// read and not yet parsed, and the data of an event is assembled in another,
// both reused from event to event: a token costs no allocation.
type eventReader struct {
	r     io.Reader
	buf   []byte // buf[start:end] is read and not yet parsed
	start int
	end   int
	data  []byte // the current event's data
	typ   string // the current event's name, when it has one
	err   error
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{r: r, buf: make([]byte, eventReaderSize)}
}

// Next reads the next event. It returns false at the end of the stream or
// on an error, which Err returns then (nil at a clean end). An event not
// ended by an empty line before the end of the stream is dropped, as the
// SDK's decoder drops it.
func (e *eventReader) Next() bool {
	e.data, e.typ = e.data[:0], ""
	for {
		line, ok := e.line()
		if !ok {
			return false
		}
		if len(line) == 0 {
			if len(e.data) == 0 {
				e.typ = ""
				continue
			}
			return true
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(name) { // no allocation: the compiler compares in place
		case "event":
			e.typ = string(value)
		case "data":
			e.data = append(e.data, value...)
			e.data = append(e.data, '\n')
		}
	}
}

// Data returns the data of the event Next read: each of its data lines,
// each followed by "\n". It is valid until the next call of Next.
func (e *eventReader) Data() []byte { return e.data }

// Err returns the error that ended the stream, nil at its clean end.
func (e *eventReader) Err() error { return e.err }

// line returns the next line without its "\n" (and a "\r" before it), as
// bufio.ScanLines splits lines; the last line of a stream need not end in
// "\n". It is valid until the next call.
func (e *eventReader) line() ([]byte, bool) {
	for {
		if i := bytes.IndexByte(e.buf[e.start:e.end], '\n'); i >= 0 {
			line := e.buf[e.start : e.start+i]
			e.start += i + 1
			return bytes.TrimSuffix(line, []byte("\r")), true
		}
		if e.err != nil {
			if e.start < e.end { // the last line, without its "\n"
				line := e.buf[e.start:e.end]
				e.start = e.end
				return bytes.TrimSuffix(line, []byte("\r")), true
			}
			if e.err == io.EOF {
				e.err = nil
			}
			return nil, false
		}
		e.fill()
	}
}

// fill reads more of the stream into buf, making room first: the unparsed
// bytes move to its start, and a buffer full of one line doubles, up to
// maxEventLine.
func (e *eventReader) fill() {
	if e.start > 0 {
		e.end = copy(e.buf, e.buf[e.start:e.end])
		e.start = 0
	}
	if e.end == len(e.buf) {
		if len(e.buf) >= maxEventLine {
			e.err = bufio.ErrTooLong
			return
		}
		e.buf = append(e.buf, make([]byte, min(len(e.buf), maxEventLine-len(e.buf)))...)
	}
	n, err := e.r.Read(e.buf[e.end:])
	e.end += n
	if err != nil {
		e.err = err
	}
}

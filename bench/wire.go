package main

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// The epoll client's reading of an event stream response (see epoll.go):
// an HTTP/1.1 response head, then a body in chunked transfer-encoding (as
// Go's server sends a streamed response), with a Content-Length, or up to
// the connection's end; the body parsed as Server-Sent Events exactly as
// sseReader parses them. It is fed whatever one read(2) returned, split
// anywhere, and keeps only partial lines between calls: the bytes of a
// complete line are parsed where they lie. Nothing is allocated per event
// once its buffers have grown to the largest line and event.

// wireState is where the parser is in the response.
type wireState uint8

const (
	wHead      wireState = iota // reading the status line and headers
	wChunkSize                  // a chunk's size line
	wChunkData                  // a chunk's bytes
	wChunkCR                    // the CR LF (or LF) after a chunk's bytes
	wChunkLF                    // the LF after that CR
	wTrailer                    // trailer lines after the last chunk, up to a blank one
	wIdentity                   // a body without chunks (Content-Length, or up to EOF)
	wEnded                      // the body ended cleanly
	wStopped                    // the caller is done with this response (or it was refused)
)

var (
	errWireHead  = errors.New("malformed HTTP response head")
	errWireChunk = errors.New("malformed chunked encoding")
)

// maxHeadBytes bounds a response head and a chunk's size or trailer line.
const maxHeadBytes = 64 << 10

// wireParser reads one response. onEvent is called for every dispatched
// event with its name and data (valid only during the call); when it
// returns true the parser stops (the final event came, or enough events).
type wireParser struct {
	onEvent func(name, data []byte, hasData bool) (stop bool)

	state  wireState
	Status int    // the response's status code, once the head is read
	CType  string // its Content-Type
	left   int64  // bytes left in the current chunk, or of a Content-Length body (-1: up to EOF)
	line   []byte // a partial head, chunk size or trailer line
	Body   int64  // body bytes (after chunk decoding), as sseReader.read counts them
	Err    error  // what stopped the parser, if it was an error

	// Server-Sent Events.
	sline   []byte // a partial line
	skipLF  bool   // the last line ended in CR: a following LF belongs to it
	data    []byte // the event's data lines, joined with LF
	name    []byte // its event name
	hasData bool
	hasID   bool
	LastID  []byte // the last event id (kept across events, as the browser keeps it)
}

// done reports whether the parser wants no more bytes: the body ended, it
// stopped, or an error came.
func (p *wireParser) done() bool { return p.state >= wEnded }

// ended reports whether the body ended cleanly (not stopped by the caller).
func (p *wireParser) ended() bool { return p.state == wEnded }

// OK reports whether the head was read and is a 200 with an event stream.
func (p *wireParser) OK() bool {
	return p.Status == 200 && len(p.CType) >= 17 && p.CType[:17] == "text/event-stream"
}

func (p *wireParser) fail(err error) {
	p.Err, p.state = err, wStopped
}

// feed parses the next bytes of the response.
func (p *wireParser) feed(b []byte) {
	for len(b) > 0 && !p.done() {
		switch p.state {
		case wHead:
			p.feedHead(b) // parses the rest of b too
			return
		case wChunkSize, wTrailer:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				if len(p.line)+len(b) > maxHeadBytes {
					p.fail(errWireChunk)
					return
				}
				p.line = append(p.line, b...)
				return
			}
			line := b[:i]
			if len(p.line) > 0 {
				p.line = append(p.line, line...)
				line = p.line
			}
			b = b[i+1:]
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if p.state == wTrailer {
				if len(line) == 0 {
					p.state = wEnded
				}
			} else if n, ok := chunkSize(line); !ok {
				p.fail(errWireChunk)
			} else if n == 0 {
				p.state = wTrailer
			} else {
				p.left, p.state = n, wChunkData
			}
			p.line = p.line[:0]
		case wChunkData, wIdentity:
			n := len(b)
			if p.left >= 0 && int64(n) > p.left {
				n = int(p.left)
			}
			p.sse(b[:n])
			b = b[n:]
			if p.left >= 0 {
				p.left -= int64(n)
				if p.left == 0 && !p.done() {
					if p.state == wChunkData {
						p.state = wChunkCR
					} else {
						p.state = wEnded
					}
				}
			}
		case wChunkCR:
			switch b[0] {
			case '\r':
				p.state = wChunkLF
			case '\n':
				p.state = wChunkSize
			default:
				p.fail(errWireChunk)
			}
			b = b[1:]
		case wChunkLF:
			if b[0] != '\n' {
				p.fail(errWireChunk)
			}
			p.state = wChunkSize
			b = b[1:]
		}
	}
}

// eof tells the parser the connection ended. It returns io.EOF when the
// body had ended (or runs up to the connection's end), and
// io.ErrUnexpectedEOF when it was cut short.
func (p *wireParser) eof() error {
	switch {
	case p.state == wEnded:
		return io.EOF
	case p.state == wIdentity && p.left < 0:
		p.state = wEnded
		return io.EOF
	case p.Err != nil:
		return p.Err
	}
	p.state = wStopped
	return io.ErrUnexpectedEOF
}

// feedHead gathers the head up to its blank line, parses it, and feeds
// the bytes after it.
func (p *wireParser) feedHead(b []byte) {
	start := max(len(p.line)-3, 0) // the blank line may straddle two reads
	p.line = append(p.line, b...)
	end := -1
	for i := start; i < len(p.line); i++ {
		if p.line[i] != '\n' {
			continue
		}
		if i+1 < len(p.line) && p.line[i+1] == '\n' {
			end = i + 2
			break
		}
		if i+2 < len(p.line) && p.line[i+1] == '\r' && p.line[i+2] == '\n' {
			end = i + 3
			break
		}
	}
	if end < 0 {
		if len(p.line) > maxHeadBytes {
			p.fail(errWireHead)
		}
		return
	}
	// What came after the head (in p.line too) is parsed from a copy, made
	// once per response: the chunk layer reuses p.line for its lines.
	var rest []byte
	if end < len(p.line) {
		rest = append(rest, p.line[end:]...)
	}
	p.parseHead(p.line[:end])
	p.line = p.line[:0]
	if !p.done() {
		p.feed(rest)
	}
}

// parseHead reads the status line and the headers the client needs.
func (p *wireParser) parseHead(head []byte) {
	chunked, length := false, int64(-1)
	first := true
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		line := head
		if i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if first {
			first = false
			// HTTP/1.1 200 OK
			f := bytes.Fields(line)
			if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) || len(f[1]) != 3 {
				p.fail(errWireHead)
				return
			}
			n, err := strconv.Atoi(string(f[1]))
			if err != nil {
				p.fail(errWireHead)
				return
			}
			p.Status = n
			continue
		}
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			p.fail(errWireHead)
			return
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Type")):
			p.CType = string(v)
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				p.fail(errWireHead)
				return
			}
			length = n
		}
	}
	switch {
	case !p.OK():
		p.state = wStopped // refused: the caller reads Status and CType
	case chunked:
		p.state = wChunkSize
	case length == 0:
		p.state = wEnded
	default:
		p.state, p.left = wIdentity, length
	}
}

// chunkSize parses a chunk size line (hex digits, maybe extensions).
func chunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// sse parses body bytes as Server-Sent Events: lines end in LF, CRLF or
// CR; a complete line is parsed in place, a partial one kept in p.sline.
func (p *wireParser) sse(b []byte) {
	p.Body += int64(len(b))
	for len(b) > 0 && !p.done() {
		if p.skipLF {
			p.skipLF = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexByte(b, '\n')
		cr := b
		if i >= 0 {
			cr = b[:i]
		}
		if c := bytes.IndexByte(cr, '\r'); c >= 0 {
			i = c
		}
		if i < 0 {
			if len(p.sline)+len(b) > maxEventBytes {
				p.fail(errEventTooBig)
				return
			}
			p.sline = append(p.sline, b...)
			return
		}
		line := b[:i]
		if len(p.sline) > 0 {
			p.sline = append(p.sline, line...)
			line = p.sline
		}
		p.skipLF = b[i] == '\r'
		b = b[i+1:]
		p.sseLine(line)
		p.sline = p.sline[:0]
	}
}

// sseLine handles one line of the event stream.
func (p *wireParser) sseLine(line []byte) {
	if len(line) == 0 {
		if p.hasData || p.hasID || len(p.name) > 0 {
			if p.onEvent != nil && p.onEvent(p.name, p.data, p.hasData) {
				p.state = wStopped
			}
		}
		p.data, p.name, p.hasData, p.hasID = p.data[:0], p.name[:0], false, false
		return
	}
	if line[0] == ':' {
		return // a comment (keepalive)
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) { // no allocation: the compiler compares in place
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
		if len(p.data) > maxEventBytes {
			p.fail(errEventTooBig)
		}
	case "event":
		p.name = append(p.name[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.LastID = append(p.LastID[:0], value...)
			p.hasID = true
		}
	}
}

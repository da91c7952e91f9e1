package live

import (
	"bytes"
	"github.com/hxchat/hxchat"
	"strconv"
	"strings"
)

// AppendEvent appends one Server-Sent Event to dst and returns the result: an
// optional event name, an id and the data, split into one "data:" line per line
// so that no input can break the framing. CR and CRLF in data count as line
// breaks, as the SSE parser in the browser counts them. Names and ids must not
// contain line breaks; they are made by hxchat, never by users or models.
func AppendEvent(dst []byte, event, id string, data []byte) []byte {
	// Room for the whole event first, so that a frame made from nil costs
	// one allocation: each line break of data (LF, CR or the two bytes of
	// CRLF) becomes "\ndata: ", 6 bytes more at most.
	lf, cr := bytes.Count(data, []byte{'\n'}), bytes.Count(data, []byte{'\r'})
	n := len("id: \n") + len(id) + len("data: \n") + len(data) + 6*(lf+cr) + len("\n")
	if event != "" {
		n += len("event: \n") + len(event)
	}
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "id: "...)
	dst = append(dst, id...)
	dst = append(dst, '\n')
	for {
		var i int
		if cr == 0 {
			i = bytes.IndexByte(data, '\n') // the usual case, and much faster
		} else {
			i = bytes.IndexAny(data, "\r\n")
		}
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			dst = append(dst, '\n')
			break
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(dst, '\n')
}

// Closing returns the frames of the last two events of every answer's
// stream, built from the id each is given: the finished answer (data, from
// AnswerRenderer.Final or its like) and the named FinalEvent, whose data is
// the answer's state, that ends the stream.
func Closing(data []byte, state hxchat.State) [2]func(id string) []byte {
	return [2]func(id string) []byte{
		func(id string) []byte { return AppendEvent(nil, "", id, data) },
		func(id string) []byte { return AppendEvent(nil, FinalEvent, id, []byte(state)) },
	}
}

// EventID is the SSE id of the event at position seq of answer msg: "msg-seq".
// A browser that reconnects sends it back in Last-Event-ID.
func EventID(msg, seq int64) string {
	var b [41]byte // room for two int64s and the dash: one allocation, the string's
	id := strconv.AppendInt(b[:0], msg, 10)
	id = append(id, '-')
	return string(strconv.AppendInt(id, seq, 10))
}

// ParseEventID reads an id made by EventID. ok is false for anything else,
// including an id of another answer's stream.
func ParseEventID(s string) (msg, seq int64, ok bool) {
	i := strings.IndexByte(s, '-')
	if i <= 0 {
		return 0, 0, false
	}
	msg, err1 := strconv.ParseInt(s[:i], 10, 64)
	seq, err2 := strconv.ParseInt(s[i+1:], 10, 64)
	if err1 != nil || err2 != nil || msg <= 0 || seq < 0 {
		return 0, 0, false
	}
	return msg, seq, true
}

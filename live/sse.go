package live

import (
	"bytes"
	"strconv"
	"strings"
)

// AppendEvent appends one Server-Sent Event to dst and returns the result: an
// optional event name, an id and the data, split into one "data:" line per line
// so that no input can break the framing. CR and CRLF in data count as line
// breaks, as the SSE parser in the browser counts them. Names and ids must not
// contain line breaks; they are made by hxchat, never by users or models.
func AppendEvent(dst []byte, event, id string, data []byte) []byte {
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "id: "...)
	dst = append(dst, id...)
	dst = append(dst, '\n')
	for {
		i := bytes.IndexAny(data, "\r\n")
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

// EventID is the SSE id of the event at position seq of answer msg: "msg-seq".
// A browser that reconnects sends it back in Last-Event-ID.
func EventID(msg, seq int64) string {
	return strconv.FormatInt(msg, 10) + "-" + strconv.FormatInt(seq, 10)
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

package live

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// parseEvents reads SSE frames the way a browser does (lines split on CR, LF
// or CRLF; data lines joined with LF).
func parseEvents(t *testing.T, b []byte) []struct{ event, id, data string } {
	t.Helper()
	var out []struct{ event, id, data string }
	var ev struct{ event, id, data string }
	has := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1) // a line as long as the whole event
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			if data[i] == '\r' {
				if i+1 < len(data) {
					if data[i+1] == '\n' {
						return i + 2, data[:i], nil
					}
				} else if !atEOF {
					return 0, nil, nil
				}
			}
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if has {
				out = append(out, ev)
			}
			ev, has = struct{ event, id, data string }{}, false
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.event = value
		case "id":
			ev.id = value
		case "data":
			if has {
				ev.data += "\n"
			}
			ev.data += value
			has = true
		}
	}
	return out
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name, event, id, data string
		want                  string // data as the browser sees it
	}{
		{"plain", "", "1-1", "hello", "hello"},
		{"named", "done", "1-9", "done", "done"},
		{"newlines", "", "1-2", "a\nb\n\nc", "a\nb\n\nc"},
		{"crlf", "", "1-3", "a\r\nb\rc", "a\nb\nc"},
		{"trailing newline", "", "1-4", "a\n", "a\n"},
		{"empty", "", "1-5", "", ""},
		{"looks like fields", "", "1-6", "\nevent: evil\nid: 99-99\n\ndata: x", "\nevent: evil\nid: 99-99\n\ndata: x"},
		{"japanese", "", "1-7", "こんにちは\n世界", "こんにちは\n世界"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendEvent(nil, tt.event, tt.id, []byte(tt.data))
			evs := parseEvents(t, b)
			if len(evs) != 1 {
				t.Fatalf("got %d events from %q, want 1", len(evs), b)
			}
			if evs[0].event != tt.event || evs[0].id != tt.id || evs[0].data != tt.want {
				t.Errorf("got %+v, want event %q id %q data %q", evs[0], tt.event, tt.id, tt.want)
			}
		})
	}
}

func TestEventID(t *testing.T) {
	for _, tc := range []struct {
		in       string
		msg, seq int64
		ok       bool
	}{
		{EventID(42, 7), 42, 7, true},
		{"42-0", 42, 0, true},
		{"", 0, 0, false},
		{"42", 0, 0, false},
		{"-1-2", 0, 0, false},
		{"a-1", 0, 0, false},
		{"1-x", 0, 0, false},
		{"0-1", 0, 0, false},
		{"1--1", 0, 0, false},
	} {
		msg, seq, ok := ParseEventID(tc.in)
		if msg != tc.msg || seq != tc.seq || ok != tc.ok {
			t.Errorf("ParseEventID(%q) = %d, %d, %v; want %d, %d, %v", tc.in, msg, seq, ok, tc.msg, tc.seq, tc.ok)
		}
	}
}

// FuzzAppendEvent: whatever the data, an event is read back as exactly one
// event with the same name, id and data (line breaks as the browser reads
// them: CR and CRLF become LF).
func FuzzAppendEvent(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "a\r\nb", "\r", "\n\n", "data: x\n\nid: 9\n\n", "event: done\n", "\x00", "日本語\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		evs := parseEvents(t, AppendEvent(nil, "", "1-2", []byte(data)))
		if len(evs) != 1 {
			t.Fatalf("%q framed as %d events", data, len(evs))
		}
		want := strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
		if evs[0].id != "1-2" || evs[0].event != "" || evs[0].data != want {
			t.Fatalf("%q read back as %+v", data, evs[0])
		}
	})
}

package live

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
)

// frameOf makes a frame whose data is the text piece, for checking order.
func frameOf(piece string) func(id string) []byte {
	return func(id string) []byte { return AppendEvent(nil, "", id, []byte(piece)) }
}

// read follows a stream from pos to its end the way the SSE handler does,
// with Follow, and returns the event ids and data it saw, in order.
func read(t *testing.T, s *Stream, pos int64) (ids, data []string) {
	t.Helper()
	var buf [][]byte
	wake := make(chan struct{}, 1)
	for {
		frames, last, ended, ok := s.Follow(pos, buf, wake)
		if !ok {
			t.Errorf("Follow(%d) not ok", pos)
			return
		}
		for _, f := range frames {
			for _, ev := range parseEvents(t, f) {
				ids = append(ids, ev.id)
				data = append(data, ev.data)
			}
		}
		buf, pos = frames, last
		if ended {
			return
		}
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			t.Fatal("no event for 10s")
		}
	}
}

// follow is Follow for a reader that asks once: where it stands, without
// waiting.
func follow(s *Stream, pos int64) (frames [][]byte, last int64, ended, ok bool) {
	return s.Follow(pos, nil, make(chan struct{}, 1))
}

func TestStreamFollow(t *testing.T) {
	h := NewHub(0, 1<<20)
	s := h.Open(7)
	for i := 1; i <= 10; i++ {
		s.Publish(strings.Repeat("x", i), 0, frameOf(fmt.Sprint(i)))
	}
	for _, tc := range []struct {
		pos   int64
		n     int
		first string
		ok    bool
	}{
		{0, 10, "7-1", true},
		{4, 6, "7-5", true},
		{10, 0, "", true},
		{11, 0, "", false},
	} {
		frames, last, ended, ok := follow(s, tc.pos)
		if ok != tc.ok || len(frames) != tc.n || ended {
			t.Errorf("Follow(%d): %d frames, ok %v, ended %v; want %d, %v, false", tc.pos, len(frames), ok, ended, tc.n, tc.ok)
			continue
		}
		if tc.n > 0 {
			if id := parseEvents(t, frames[0])[0].id; id != tc.first {
				t.Errorf("Follow(%d): first id %s, want %s", tc.pos, id, tc.first)
			}
			if last != 10 {
				t.Errorf("Follow(%d): last %d, want 10", tc.pos, last)
			}
		}
	}
	if snap := s.Snapshot(); snap.Text != strings.Repeat("x", 10) || snap.Seq != 10 || snap.Ended {
		t.Errorf("Snapshot() = %+v", snap)
	}
}

// TestStreamManyReaders: readers that join at different points, while the
// answer is being published, each see every event after their point exactly
// once, in order, and the final events.
func TestStreamManyReaders(t *testing.T) {
	testManyReaders(t, read)
}

func testManyReaders(t *testing.T, read func(*testing.T, *Stream, int64) ([]string, []string)) {
	const events, readers = 500, 100
	h := NewHub(time.Minute, 1<<20)
	s := h.Open(1)
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([][]string, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Half start at 0 (replay everything), half from a snapshot.
			var pos int64
			if r%2 == 1 {
				pos = s.Snapshot().Seq
			}
			ids, _ := read(t, s, pos)
			results[r] = append([]string{fmt.Sprint(pos)}, ids...)
		}()
	}
	close(start)
	for i := 1; i <= events; i++ {
		s.Publish("", 0, frameOf(fmt.Sprint(i)))
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // let readers interleave
		}
	}
	s.Close(frameOf("final"), func(id string) []byte { return AppendEvent(nil, FinalEvent, id, nil) })
	wg.Wait()
	for r, got := range results {
		var pos int64
		fmt.Sscan(got[0], &pos)
		ids := got[1:]
		want := events + 2 - int(pos)
		if len(ids) != want {
			t.Fatalf("reader %d from %d: %d events, want %d", r, pos, len(ids), want)
		}
		for i, id := range ids {
			if w := EventID(1, pos+int64(i)+1); id != w {
				t.Fatalf("reader %d: event %d has id %s, want %s", r, i, id, w)
			}
		}
	}
}

// TestStreamSlowReader: a reader that never reads costs the publisher
// nothing and the stream's memory stays bounded; once its position is no
// longer held, it is told to take a snapshot.
func TestStreamSlowReader(t *testing.T) {
	const maxLog = 4 << 10
	h := NewHub(0, maxLog)
	s := h.Open(3)
	text := ""
	for i := range 10000 {
		piece := fmt.Sprintf("token%d ", i)
		text += piece
		s.Publish(text, 0, frameOf(piece))
	}
	s.mu.Lock()
	size, first := s.size, s.first
	s.mu.Unlock()
	if size > maxLog {
		t.Errorf("log holds %d bytes, limit %d", size, maxLog)
	}
	if _, _, _, ok := follow(s, 0); ok {
		t.Error("Follow(0) ok after the start was dropped; want a snapshot")
	}
	if _, _, _, ok := follow(s, first-1); !ok {
		t.Errorf("Follow(%d) (the oldest held) not ok", first-1)
	}
	if snap := s.Snapshot(); snap.Text != text || snap.Seq != 10000 {
		t.Errorf("snapshot at %d has %d bytes, want 10000 and %d", snap.Seq, len(snap.Text), len(text))
	}
}

func TestHubLinger(t *testing.T) {
	h := NewHub(20*time.Millisecond, 1<<20)
	s := h.Open(5)
	s.Publish("a", 0, frameOf("a"))
	s.Close(frameOf("end"))
	if _, ok := h.Get(5); !ok {
		t.Fatal("closed stream gone at once; want it to linger")
	}
	if _, _, ended, ok := follow(s, 1); !ended || !ok {
		t.Fatalf("Follow after Close: ended %v ok %v", ended, ok)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("closed stream still held after its linger time")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Publish("b", 0, frameOf("b")) // after Close: ignored
	if seq := s.Snapshot().Seq; seq != 2 {
		t.Errorf("seq %d after a publish on a closed stream, want 2", seq)
	}
}

func TestHubReopenEndsOld(t *testing.T) {
	h := NewHub(time.Minute, 1<<20)
	old := h.Open(9)
	changed := make(chan struct{}, 1)
	old.Follow(0, nil, changed)
	h.Open(9)
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("readers of a replaced stream were not woken")
	}
	if !old.Snapshot().Ended {
		t.Error("replaced stream not ended")
	}
}

// TestStreamFollowWakes: a reader that Follow left caught up gets a value on
// its channel at the next event and at the end, once however often it
// asked; a reader that was not caught up gets the events it lacked.
func TestStreamFollowWakes(t *testing.T) {
	s := NewHub(0, 1<<20).Open(6)
	wake := make(chan struct{}, 1)
	for range 3 { // a keepalive asks again: still one value
		if frames, last, ended, ok := s.Follow(0, nil, wake); len(frames) != 0 || last != 0 || ended || !ok {
			t.Fatalf("Follow(0) of an empty stream: %d frames, last %d, ended %v, ok %v", len(frames), last, ended, ok)
		}
	}
	s.Publish("a", 0, frameOf("a"))
	s.Publish("ab", 0, frameOf("b"))
	select {
	case <-wake:
	default:
		t.Fatal("no value after an event")
	}
	select {
	case <-wake:
		t.Fatal("a second value; want one until the reader asks again")
	default:
	}
	if frames, last, _, _ := s.Follow(0, nil, wake); len(frames) != 2 || last != 2 {
		t.Fatalf("Follow(0): %d frames, last %d; want 2, 2", len(frames), last)
	}
	s.Close(frameOf("end"))
	select {
	case <-wake:
	default:
		t.Fatal("no value at the end")
	}
	if frames, last, ended, ok := s.Follow(2, nil, wake); len(frames) != 1 || last != 3 || !ended || !ok {
		t.Fatalf("Follow(2) after Close: %d frames, last %d, ended %v, ok %v", len(frames), last, ended, ok)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) != 0 {
		t.Errorf("%d readers wait on an ended stream", len(s.waiting))
	}
}

// TestStreamCloseKeepsItsFrames: the last events of an answer are held
// together even when they are larger than the log (a long answer's final
// bubble), so that a reader waiting for them gets them, not a snapshot.
func TestStreamCloseKeepsItsFrames(t *testing.T) {
	const maxLog = 1 << 10
	s := NewHub(0, maxLog).Open(4)
	s.Publish("a", 0, frameOf("a"))
	bubble := strings.Repeat("x", 3*maxLog)
	s.Close(frameOf(bubble), frameOf("end"))
	frames, last, ended, ok := follow(s, 1)
	if !ok || !ended || last != 3 || len(frames) != 2 {
		t.Fatalf("Follow(1) after Close: %d frames, last %d, ended %v, ok %v; want both final frames", len(frames), last, ended, ok)
	}
	if !strings.Contains(string(frames[0]), bubble) || !strings.Contains(string(frames[1]), "end") {
		t.Errorf("final frames %.40q, %q", frames[0], frames[1])
	}
	if _, _, _, ok := follow(s, 0); ok {
		t.Error("Follow(0) ok; the first event should have made room")
	}
}

// TestStreamAnswer: a stream opened for an answer lets in the session it
// was started for, on the answer's conversation, and nobody else; a stream
// opened by id alone lets in nobody (its readers ask the store).
func TestStreamAnswer(t *testing.T) {
	h := NewHub(0, 1<<20)
	m := hxchat.Message{ID: 11, ConversationID: "conv", Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "m"}
	s := h.OpenAnswer(m, "owner")
	if got, ok := s.Answer("owner", "conv"); !ok || got != m {
		t.Errorf("the owner on its conversation: %+v, %v; want %+v", got, ok, m)
	}
	for _, c := range []struct{ owner, conv string }{{"other", "conv"}, {"owner", "other"}, {"", "conv"}, {"", ""}} {
		if got, ok := s.Answer(c.owner, c.conv); ok {
			t.Errorf("Answer(%q, %q) = %+v; want no answer", c.owner, c.conv, got)
		}
	}
	if got, ok := h.Open(12).Answer("", ""); ok {
		t.Errorf("a stream opened by id alone: %+v; want no answer", got)
	}
}

package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/cputime"
)

// BenchStartTurn stores, in s and for session sid (recorded already), the
// first turn of a new conversation ("new") and the next turn of one that has
// some, with its end ("next"), as messages sent from the page do. sqlite's
// and postgres' BenchmarkStartTurn run it, so that their figures compare.
func BenchStartTurn(b *testing.B, s hxchat.Store, sid string) {
	ctx := context.Background()
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cputime.Start()
		for b.Loop() {
			conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, Title: "A question"}
			user := &hxchat.Message{Role: hxchat.RoleUser, Content: "What is a goroutine?", State: hxchat.StateDone}
			a := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "m"}
			if err := s.StartTurn(ctx, conv, user, a); err != nil {
				b.Fatal(err)
			}
		}
		cpu.Report(b)
	})
	b.Run("next", func(b *testing.B) {
		conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, Title: "A question"}
		b.ReportAllocs()
		cpu := cputime.Start()
		for b.Loop() {
			user := &hxchat.Message{Role: hxchat.RoleUser, Content: "And then?", State: hxchat.StateDone}
			a := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "m"}
			if err := s.StartTurn(ctx, conv, user, a); err != nil {
				b.Fatal(err)
			}
			a.State = hxchat.StateDone
			if err := s.FinishAnswer(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
		cpu.Report(b)
	})
	// Many answers at once, as under load: each op is a browser's first
	// turn and, later, its answer's end, with 32 of them on the way at a
	// time (16 goroutines per P on two cores).
	b.Run("concurrent", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		cpu := cputime.Start()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, Title: "A question"}
				user := &hxchat.Message{Role: hxchat.RoleUser, Content: "What is a goroutine?", State: hxchat.StateDone}
				a := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "m"}
				if err := s.StartTurn(ctx, conv, user, a); err != nil {
					b.Error(err)
					return
				}
				a.State, a.Content = hxchat.StateDone, "A goroutine is a function running concurrently."
				if err := s.FinishAnswer(ctx, a); err != nil {
					b.Error(err)
					return
				}
			}
		})
		cpu.Report(b)
	})
}

// BenchCheckpoints saves, in s and for session sid (recorded already),
// batches of 1, 100 and 1,000 growing answers with Store.Checkpoints, as the
// runner's saver does once a second: an op is one batch; ns/answer is the
// cost per answer saved. Every answer grows by 200 bytes a batch (about a
// second of tokens), from 200 bytes to 8,000 and again, 4 KiB on average.
// sqlite's and postgres' BenchmarkCheckpoints run it.
func BenchCheckpoints(b *testing.B, s hxchat.Store, sid string) {
	const most, step, lengths = 1000, 200, 40
	ctx := context.Background()
	// Every answer in a conversation of its own, streaming.
	type answer struct {
		conv string
		id   int64
	}
	answers := make([]answer, most)
	for i := range answers {
		conv := &hxchat.Conversation{SessionID: sid}
		user := &hxchat.Message{Content: fmt.Sprintf("Question %d?", i)}
		a := &hxchat.Message{Model: "m"}
		if err := s.StartTurn(ctx, conv, user, a); err != nil {
			b.Fatal(err)
		}
		answers[i] = answer{conv.ID, a.ID}
	}
	text := strings.Repeat("Checkpoints save the text of every growing answer once a second.", step*lengths/64)

	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("answers=%d", n), func(b *testing.B) {
			batch := make([]hxchat.Partial, n)
			b.ReportAllocs()
			start := time.Now()
			op := 0
			for b.Loop() {
				for j := range batch {
					batch[j] = hxchat.Partial{ID: answers[j].id, Content: text[:step*(1+(op+j)%lengths)]}
				}
				if err := s.Checkpoints(ctx, batch); err != nil {
					b.Fatal(err)
				}
				op++
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(op*n), "ns/answer")
			last := batch[n-1]
			m, err := s.Message(ctx, answers[n-1].conv, last.ID)
			if err != nil {
				b.Fatal(err)
			}
			if m.Content != last.Content {
				b.Fatalf("answer %d after the last batch: %d bytes, want %d", last.ID, len(m.Content), len(last.Content))
			}
		})
	}
}

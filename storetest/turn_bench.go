package storetest

import (
	"context"
	"testing"

	"github.com/hxchat/hxchat"
)

// BenchStartTurn stores, in s and for session sid (recorded already), the
// first turn of a new conversation ("new") and the next turn of one that has
// some, with its end ("next"), as messages sent from the page do. sqlite's
// and postgres' BenchmarkStartTurn run it, so that their figures compare.
func BenchStartTurn(b *testing.B, s hxchat.Store, sid string) {
	ctx := context.Background()
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, Title: "A question"}
			user := &hxchat.Message{Role: hxchat.RoleUser, Content: "What is a goroutine?", State: hxchat.StateDone}
			a := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "m"}
			if err := s.StartTurn(ctx, conv, user, a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("next", func(b *testing.B) {
		conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, Title: "A question"}
		b.ReportAllocs()
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
	})
}

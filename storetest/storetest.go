// Package storetest is the behavioural test suite of hxchat.Store. Every
// implementation (sqlite/, postgres/) runs the same suite from its own
// tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) hxchat.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hxchat.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite holds an implementation to the contract documented on
// hxchat.Store, plus what the rest of hxchat relies on: times come back in
// UTC and equal to the ones the store set on the values it was given; message
// ids increase in the order of writing; a missing or foreign row is an error
// whose Code is ENotFound, never a nil value with a nil error; concurrent
// writers do not fail.
package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hxchat/hxchat"
)

// Run runs the suite as subtests of t. open must return a new, empty store
// for each subtest, and close it when that subtest ends (t.Cleanup); Run does
// not close it.
func Run(t *testing.T, open func(t *testing.T) hxchat.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s hxchat.Store)
	}{
		{"Sessions", testSessions},
		{"StartTurnCreatesConversation", testStartTurnCreates},
		{"StartTurnRecordsSession", testStartTurnRecordsSession},
		{"SecondTurnBumpsConversation", testSecondTurn},
		{"Ownership", testOwnership},
		{"MessagesInOrder", testMessagesOrder},
		{"MessageScopedByConversation", testMessageScoped},
		{"Checkpoint", testCheckpoint},
		{"Checkpoints", testCheckpoints},
		{"FinishAnswer", testFinishAnswer},
		{"RestartAnswer", testRestartAnswer},
		{"RestartAnswerConflicts", testRestartConflicts},
		{"EditTurn", testEditTurn},
		{"EditTurnConflicts", testEditTurnConflicts},
		{"Versions", testVersions},
		{"OwnedMessage", testOwnedMessage},
		{"SelectBranchRefused", testSelectBranchRefused},
		{"ConversationOptions", testConversationOptions},
		{"SetConversationOptionsRefused", testOptionsRefused},
		{"InterruptStreaming", testInterruptStreaming},
		{"UnicodeAndLargeText", testUnicode},
		{"SearchConversations", testSearch},
		{"SearchConversationsLiteral", testSearchLiteral},
		{"SearchConversationsFolded", testSearchFolded},
		{"SearchConversationsStreaming", testSearchStreaming},
		{"RenameConversation", testRename},
		{"DeleteConversation", testDelete},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentTurns", testConcurrentTurns},
		{"SignInFlows", testSignInFlows},
		{"SignInSessions", testSignInSessions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.run(t, s)
		})
	}
}

// tick waits long enough for the clock of any store (milliseconds at worst)
// to move on, so that "later" is observable.
func tick() { time.Sleep(3 * time.Millisecond) }

func newSession(t *testing.T, s hxchat.Store) string {
	t.Helper()
	id := hxchat.NewID()
	if err := s.CreateSession(t.Context(), id); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return id
}

// newConversation starts the first turn of a new conversation of session.
func newConversation(t *testing.T, s hxchat.Store, session, question string) (*hxchat.Conversation, *hxchat.Message, *hxchat.Message) {
	t.Helper()
	conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: session, Title: hxchat.TitleFrom(question)}
	user, answer := turn(t, s, conv, question)
	return conv, user, answer
}

// turn starts a turn in conv and returns the stored user message and answer.
func turn(t *testing.T, s hxchat.Store, conv *hxchat.Conversation, question string) (*hxchat.Message, *hxchat.Message) {
	t.Helper()
	user := &hxchat.Message{Role: hxchat.RoleUser, Content: question, State: hxchat.StateDone}
	answer := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "test-model"}
	if err := s.StartTurn(t.Context(), conv, user, answer); err != nil {
		t.Fatalf("StartTurn(%q): %v", question, err)
	}
	return user, answer
}

// finish ends answer id in state with content.
func finish(t *testing.T, s hxchat.Store, id int64, state hxchat.State, content string) *hxchat.Message {
	t.Helper()
	m := &hxchat.Message{ID: id, Content: content, State: state, FinishReason: hxchat.FinishStop}
	if state == hxchat.StateError {
		m.FinishReason, m.ErrorCode = "", hxchat.EUpstream
	}
	if err := s.FinishAnswer(t.Context(), m); err != nil {
		t.Fatalf("FinishAnswer(%d, %s): %v", id, state, err)
	}
	return m
}

func getMessage(t *testing.T, s hxchat.Store, conv string, id int64) *hxchat.Message {
	t.Helper()
	m, err := s.Message(t.Context(), conv, id)
	if err != nil {
		t.Fatalf("Message(%s, %d): %v", conv, id, err)
	}
	if m == nil {
		t.Fatalf("Message(%s, %d): nil message and nil error", conv, id)
	}
	return m
}

func getMessages(t *testing.T, s hxchat.Store, conv string) []hxchat.Message {
	t.Helper()
	ms, err := s.Messages(t.Context(), conv)
	if err != nil {
		t.Fatalf("Messages(%s): %v", conv, err)
	}
	return ms
}

func getConversation(t *testing.T, s hxchat.Store, session, id string) *hxchat.Conversation {
	t.Helper()
	c, err := s.Conversation(t.Context(), session, id)
	if err != nil {
		t.Fatalf("Conversation(%s, %s): %v", session, id, err)
	}
	if c == nil {
		t.Fatalf("Conversation(%s, %s): nil conversation and nil error", session, id)
	}
	return c
}

func getConversations(t *testing.T, s hxchat.Store, session string) []hxchat.Conversation {
	t.Helper()
	cs, err := s.Conversations(t.Context(), session)
	if err != nil {
		t.Fatalf("Conversations(%s): %v", session, err)
	}
	return cs
}

// wantCode fails t unless err's code is code.
func wantCode(t *testing.T, what string, err error, code hxchat.ErrorCode) {
	t.Helper()
	if got := hxchat.Code(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// checkTime fails t unless tm is a plausible time set by the store: in UTC
// and within a minute of now (a time stored in the wrong unit is not).
func checkTime(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.IsZero() {
		t.Errorf("%s is zero", what)
		return
	}
	if tm.Location() != time.UTC {
		t.Errorf("%s = %v: location %v, want UTC", what, tm, tm.Location())
	}
	if d := time.Since(tm); d < -time.Minute || d > time.Minute {
		t.Errorf("%s = %v: %v from now", what, tm, -d)
	}
}

// short shows a text in a failure message without flooding the log.
func short(s string) string {
	if len(s) <= 80 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:60], len(s))
}

// diffMessage lists the fields in which got differs from want.
func diffMessage(got, want hxchat.Message) []string {
	var d []string
	f := func(name string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	f("ID", got.ID, want.ID)
	f("ConversationID", got.ConversationID, want.ConversationID)
	f("ParentID", got.ParentID, want.ParentID)
	f("Role", got.Role, want.Role)
	if got.Content != want.Content {
		d = append(d, fmt.Sprintf("Content = %s, want %s", short(got.Content), short(want.Content)))
	}
	f("State", got.State, want.State)
	f("FinishReason", got.FinishReason, want.FinishReason)
	f("ErrorCode", got.ErrorCode, want.ErrorCode)
	f("Model", got.Model, want.Model)
	f("Usage", got.Usage, want.Usage)
	if !got.CreatedAt.Equal(want.CreatedAt) {
		d = append(d, fmt.Sprintf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt))
	}
	if !got.UpdatedAt.Equal(want.UpdatedAt) {
		d = append(d, fmt.Sprintf("UpdatedAt = %v, want %v", got.UpdatedAt, want.UpdatedAt))
	}
	return d
}

func wantMessage(t *testing.T, what string, got, want hxchat.Message) {
	t.Helper()
	if d := diffMessage(got, want); len(d) > 0 {
		t.Errorf("%s differs:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

func wantConversation(t *testing.T, what string, got, want hxchat.Conversation) {
	t.Helper()
	if got.ID != want.ID || got.SessionID != want.SessionID || got.Title != want.Title ||
		got.SystemPrompt != want.SystemPrompt || got.Model != want.Model || got.CurrentID != want.CurrentID ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

// wantIDs fails t unless the conversations are exactly ids, in that order.
func wantIDs(t *testing.T, what string, cs []hxchat.Conversation, ids ...string) {
	t.Helper()
	got := make([]string, len(cs))
	for i, c := range cs {
		got[i] = c.ID
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("%s = %v, want %v", what, got, ids)
	}
}

func testSessions(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	id := hxchat.NewID()
	ok, err := s.SessionExists(ctx, id)
	if err != nil || ok {
		t.Fatalf("SessionExists(unknown) = %v, %v; want false, nil", ok, err)
	}
	if err := s.CreateSession(ctx, id); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	ok, err = s.SessionExists(ctx, id)
	if err != nil || !ok {
		t.Fatalf("SessionExists(created) = %v, %v; want true, nil", ok, err)
	}
	ok, err = s.SessionExists(ctx, hxchat.NewID())
	if err != nil || ok {
		t.Fatalf("SessionExists(another unknown) = %v, %v; want false, nil", ok, err)
	}
	if cs := getConversations(t, s, id); len(cs) != 0 {
		t.Errorf("a new session has %d conversations", len(cs))
	}
}

func testStartTurnCreates(t *testing.T, s hxchat.Store) {
	sid := newSession(t, s)
	id := hxchat.NewID()
	conv := &hxchat.Conversation{ID: id, SessionID: sid, Title: "What is WAL?"}
	user := &hxchat.Message{Content: "What is WAL?\nExplain briefly."}
	answer := &hxchat.Message{Model: "gpt-test"}
	if err := s.StartTurn(t.Context(), conv, user, answer); err != nil {
		t.Fatalf("StartTurn: %v", err)
	}

	if conv.ID != id || conv.SessionID != sid || conv.Title != "What is WAL?" {
		t.Errorf("conversation after StartTurn = %+v", conv)
	}
	checkTime(t, "conv.CreatedAt", conv.CreatedAt)
	checkTime(t, "conv.UpdatedAt", conv.UpdatedAt)
	if conv.UpdatedAt.Before(conv.CreatedAt) {
		t.Errorf("conv.UpdatedAt %v before CreatedAt %v", conv.UpdatedAt, conv.CreatedAt)
	}
	if user.ID <= 0 || answer.ID <= user.ID {
		t.Errorf("ids: user %d, answer %d; want 0 < user < answer", user.ID, answer.ID)
	}
	if user.ParentID != 0 || answer.ParentID != user.ID || conv.CurrentID != answer.ID {
		t.Errorf("parents: user %d, answer %d, current %d; want 0, the user message, the answer", user.ParentID, answer.ParentID, conv.CurrentID)
	}
	for _, m := range []*hxchat.Message{user, answer} {
		if m.ConversationID != id {
			t.Errorf("message %d: ConversationID %q, want %q", m.ID, m.ConversationID, id)
		}
		checkTime(t, fmt.Sprintf("message %d CreatedAt", m.ID), m.CreatedAt)
		checkTime(t, fmt.Sprintf("message %d UpdatedAt", m.ID), m.UpdatedAt)
	}
	if user.Role != hxchat.RoleUser || user.State != hxchat.StateDone || user.Content != "What is WAL?\nExplain briefly." {
		t.Errorf("user after StartTurn = %+v", user)
	}
	if answer.Role != hxchat.RoleAssistant || answer.State != hxchat.StateStreaming || answer.Content != "" || answer.Model != "gpt-test" {
		t.Errorf("answer after StartTurn = %+v", answer)
	}

	// What was set on the arguments is what is stored.
	wantConversation(t, "Conversation", *getConversation(t, s, sid, id), *conv)
	cs := getConversations(t, s, sid)
	if len(cs) != 1 {
		t.Fatalf("Conversations: %d, want 1", len(cs))
	}
	wantConversation(t, "Conversations[0]", cs[0], *conv)
	ms := getMessages(t, s, id)
	if len(ms) != 2 {
		t.Fatalf("Messages: %d, want 2", len(ms))
	}
	wantMessage(t, "Messages[0]", ms[0], *user)
	wantMessage(t, "Messages[1]", ms[1], *answer)
	wantMessage(t, "Message(user)", *getMessage(t, s, id, user.ID), *user)
	wantMessage(t, "Message(answer)", *getMessage(t, s, id, answer.ID), *answer)
}

// testStartTurnRecordsSession: a browser's first message records its session
// with its first conversation; the session then exists, owns the
// conversation, and cannot be created again.
func testStartTurnRecordsSession(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := hxchat.NewID()
	if ok, err := s.SessionExists(ctx, sid); err != nil || ok {
		t.Fatalf("SessionExists before its first message: %v, %v", ok, err)
	}
	conv := &hxchat.Conversation{SessionID: sid, Title: "first"}
	if err := s.StartTurn(ctx, conv, &hxchat.Message{Content: "first"}, &hxchat.Message{}); err != nil {
		t.Fatalf("StartTurn of a new session: %v", err)
	}
	if ok, err := s.SessionExists(ctx, sid); err != nil || !ok {
		t.Errorf("SessionExists after its first message: %v, %v", ok, err)
	}
	second := &hxchat.Conversation{SessionID: sid, Title: "second"}
	if err := s.StartTurn(ctx, second, &hxchat.Message{Content: "second"}, &hxchat.Message{}); err != nil {
		t.Fatalf("StartTurn of a second conversation: %v", err)
	}
	wantIDs(t, "Conversations of the new session", getConversations(t, s, sid), second.ID, conv.ID)
	wantCode(t, "CreateSession of a recorded session", s.CreateSession(ctx, sid), hxchat.EConflict)
}

func testSecondTurn(t *testing.T, s hxchat.Store) {
	sid := newSession(t, s)
	a, _, _ := newConversation(t, s, sid, "first conversation")
	tick()
	b, _, _ := newConversation(t, s, sid, "second conversation")
	wantIDs(t, "Conversations after creating a then b", getConversations(t, s, sid), b.ID, a.ID)

	tick()
	// The web layer loads the conversation, then starts a turn in it.
	conv := getConversation(t, s, sid, a.ID)
	before := *conv
	user, answer := turn(t, s, conv, "a follow-up question")
	if conv.ID != before.ID || conv.SessionID != sid || conv.Title != before.Title || !conv.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("second turn changed the conversation: %+v, was %+v", conv, before)
	}
	if !conv.UpdatedAt.After(before.UpdatedAt) {
		t.Errorf("second turn: UpdatedAt %v, not after %v", conv.UpdatedAt, before.UpdatedAt)
	}
	if user.ConversationID != a.ID || answer.ConversationID != a.ID {
		t.Errorf("second turn messages in conversations %q, %q; want %q", user.ConversationID, answer.ConversationID, a.ID)
	}
	wantConversation(t, "Conversation after second turn", *getConversation(t, s, sid, a.ID), *conv)

	cs := getConversations(t, s, sid)
	wantIDs(t, "Conversations after a second turn in a", cs, a.ID, b.ID)
	if len(cs) == 2 {
		wantConversation(t, "Conversations[0]", cs[0], *conv)
	}
	if ms := getMessages(t, s, a.ID); len(ms) != 4 {
		t.Errorf("Messages(a): %d, want 4", len(ms))
	}
	if ms := getMessages(t, s, b.ID); len(ms) != 2 {
		t.Errorf("Messages(b): %d, want 2", len(ms))
	}

	// Back to b: it comes first again.
	tick()
	turn(t, s, b, "back to b")
	wantIDs(t, "Conversations after a turn in b", getConversations(t, s, sid), b.ID, a.ID)

	// A turn in a conversation that does not exist (CreatedAt set) creates nothing.
	ghost := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
	err := s.StartTurn(t.Context(), ghost, &hxchat.Message{Content: "hello?"}, &hxchat.Message{})
	wantCode(t, "StartTurn in a missing conversation", err, hxchat.ENotFound)
	if cs := getConversations(t, s, sid); len(cs) != 2 {
		t.Errorf("after StartTurn in a missing conversation: %d conversations, want 2", len(cs))
	}
}

func testOwnership(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	mine, other := newSession(t, s), newSession(t, s)
	a, _, answer := newConversation(t, s, mine, "mine")

	c, err := s.Conversation(ctx, other, a.ID)
	wantCode(t, "Conversation of another session", err, hxchat.ENotFound)
	if c != nil {
		t.Errorf("Conversation of another session returned %+v", c)
	}
	c, err = s.Conversation(ctx, mine, hxchat.NewID())
	wantCode(t, "Conversation that does not exist", err, hxchat.ENotFound)
	if c != nil {
		t.Errorf("Conversation that does not exist returned %+v", c)
	}
	c, err = s.Conversation(ctx, hxchat.NewID(), a.ID)
	wantCode(t, "Conversation of an unknown session", err, hxchat.ENotFound)
	if c != nil {
		t.Errorf("Conversation of an unknown session returned %+v", c)
	}
	if cs := getConversations(t, s, other); len(cs) != 0 {
		t.Errorf("Conversations(other) = %+v, want none", cs)
	}
	if cs := getConversations(t, s, hxchat.NewID()); len(cs) != 0 {
		t.Errorf("Conversations(unknown session) = %+v, want none", cs)
	}

	b, _, _ := newConversation(t, s, other, "theirs")
	wantIDs(t, "Conversations(mine)", getConversations(t, s, mine), a.ID)
	wantIDs(t, "Conversations(other)", getConversations(t, s, other), b.ID)

	// Another session cannot add a turn to my conversation by naming it.
	forged := *a
	forged.SessionID = other
	err = s.StartTurn(ctx, &forged, &hxchat.Message{Content: "injected"}, &hxchat.Message{})
	wantCode(t, "StartTurn in a conversation of another session", err, hxchat.ENotFound)
	ms := getMessages(t, s, a.ID)
	if len(ms) != 2 || ms[1].ID != answer.ID {
		t.Errorf("after a forged turn, Messages(a) = %d messages, want the 2 of the first turn", len(ms))
	}
	wantConversation(t, "Conversation(a) after a forged turn", *getConversation(t, s, mine, a.ID), *a)
}

func testMessagesOrder(t *testing.T, s hxchat.Store) {
	sid := newSession(t, s)
	conv, u0, a0 := newConversation(t, s, sid, "question 0")
	want := []*hxchat.Message{u0, a0}
	for i := 1; i < 5; i++ {
		u, a := turn(t, s, conv, fmt.Sprintf("question %d", i))
		want = append(want, u, a)
	}
	ms := getMessages(t, s, conv.ID)
	if len(ms) != len(want) {
		t.Fatalf("Messages: %d, want %d", len(ms), len(want))
	}
	for i := range ms {
		if i > 0 && ms[i].ID <= ms[i-1].ID {
			t.Errorf("Messages[%d].ID = %d, not after %d", i, ms[i].ID, ms[i-1].ID)
		}
		// One branch: each message follows the one before it.
		if i > 0 && ms[i].ParentID != ms[i-1].ID || i == 0 && ms[i].ParentID != 0 {
			t.Errorf("Messages[%d].ParentID = %d, want the message before it", i, ms[i].ParentID)
		}
		wantMessage(t, fmt.Sprintf("Messages[%d]", i), ms[i], *want[i])
		wantRole := hxchat.RoleUser
		if i%2 == 1 {
			wantRole = hxchat.RoleAssistant
		}
		if ms[i].Role != wantRole {
			t.Errorf("Messages[%d].Role = %q, want %q", i, ms[i].Role, wantRole)
		}
	}

	ms, err := s.Messages(t.Context(), hxchat.NewID())
	if err != nil {
		wantCode(t, "Messages of a missing conversation", err, hxchat.ENotFound)
	} else if len(ms) != 0 {
		t.Errorf("Messages of a missing conversation = %d messages", len(ms))
	}
}

func testMessageScoped(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)
	a, userA, answerA := newConversation(t, s, sid, "in a")
	b, _, _ := newConversation(t, s, sid, "in b")

	wantMessage(t, "Message(a, user of a)", *getMessage(t, s, a.ID, userA.ID), *userA)
	wantMessage(t, "Message(a, answer of a)", *getMessage(t, s, a.ID, answerA.ID), *answerA)

	for _, tc := range []struct {
		what string
		conv string
		id   int64
	}{
		{"Message(b, answer of a)", b.ID, answerA.ID},
		{"Message(b, user of a)", b.ID, userA.ID},
		{"Message(missing conversation, answer of a)", hxchat.NewID(), answerA.ID},
		{"Message(a, missing id)", a.ID, answerA.ID + 1000},
		{"Message(a, 0)", a.ID, 0},
	} {
		m, err := s.Message(ctx, tc.conv, tc.id)
		wantCode(t, tc.what, err, hxchat.ENotFound)
		if m != nil {
			t.Errorf("%s returned %+v", tc.what, m)
		}
	}
}

// testOwnedMessage: OwnedMessage returns a message of a conversation only
// to the session that owns the conversation; a message of another
// conversation, of another session's, or one that does not exist is not
// found.
func testOwnedMessage(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	mine, other := newSession(t, s), newSession(t, s)
	a, userA, answerA := newConversation(t, s, mine, "mine")
	b, _, answerB := newConversation(t, s, mine, "also mine")
	c, _, answerC := newConversation(t, s, other, "theirs")

	for _, want := range []*hxchat.Message{userA, answerA} {
		m, err := s.OwnedMessage(ctx, mine, a.ID, want.ID)
		if err != nil {
			t.Fatalf("OwnedMessage(mine, a, %d): %v", want.ID, err)
		}
		wantMessage(t, "OwnedMessage(mine, a)", *m, *want)
	}
	for _, tc := range []struct {
		what      string
		sid, conv string
		id        int64
	}{
		{"OwnedMessage of another session's conversation", mine, c.ID, answerC.ID},
		{"OwnedMessage of my conversation by another session", other, a.ID, answerA.ID},
		{"OwnedMessage by an unknown session", hxchat.NewID(), a.ID, answerA.ID},
		{"OwnedMessage of another conversation's message", mine, a.ID, answerB.ID},
		{"OwnedMessage of a message of another session, named in my conversation", mine, b.ID, answerC.ID},
		{"OwnedMessage of a missing conversation", mine, hxchat.NewID(), answerA.ID},
		{"OwnedMessage of a missing id", mine, a.ID, answerC.ID + 1000},
	} {
		m, err := s.OwnedMessage(ctx, tc.sid, tc.conv, tc.id)
		wantCode(t, tc.what, err, hxchat.ENotFound)
		if m != nil {
			t.Errorf("%s returned %+v", tc.what, m)
		}
	}
}

// testCheckpoints: several answers saved at once; what is no longer
// streaming, or gone, is skipped without failing the rest.
func testCheckpoints(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)
	c1, _, a1 := newConversation(t, s, sid, "first")
	c2, user2, a2 := newConversation(t, s, sid, "second")
	c3, _, a3 := newConversation(t, s, sid, "third")
	finish(t, s, a3.ID, hxchat.StateDone, "final")
	if err := s.Checkpoints(ctx, nil); err != nil {
		t.Fatalf("Checkpoints(nil): %v", err)
	}
	err := s.Checkpoints(ctx, []hxchat.Partial{
		{ID: a1.ID, Content: "一つ目"}, {ID: a2.ID, Content: "second so far"},
		{ID: a3.ID, Content: "not any more"}, {ID: user2.ID, Content: "not an answer"}, {ID: a3.ID + 1000, Content: "gone"},
	})
	if err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	for _, tc := range []struct {
		conv string
		id   int64
		want string
	}{{c1.ID, a1.ID, "一つ目"}, {c2.ID, a2.ID, "second so far"}, {c3.ID, a3.ID, "final"}, {c2.ID, user2.ID, "second"}} {
		if m := getMessage(t, s, tc.conv, tc.id); m.Content != tc.want {
			t.Errorf("message %d: %q, want %q", tc.id, m.Content, tc.want)
		}
	}
}

func testCheckpoint(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)
	conv, user, answer := newConversation(t, s, sid, "count to three")

	if err := s.Checkpoint(ctx, answer.ID, "one"); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	m := getMessage(t, s, conv.ID, answer.ID)
	if m.Content != "one" || m.State != hxchat.StateStreaming {
		t.Errorf("after Checkpoint: content %q, state %q; want \"one\", streaming", m.Content, m.State)
	}
	if m.UpdatedAt.Before(answer.UpdatedAt) || !m.CreatedAt.Equal(answer.CreatedAt) {
		t.Errorf("after Checkpoint: created %v, updated %v; was %v, %v", m.CreatedAt, m.UpdatedAt, answer.CreatedAt, answer.UpdatedAt)
	}
	tick()
	if err := s.Checkpoint(ctx, answer.ID, "one, two"); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	m2 := getMessage(t, s, conv.ID, answer.ID)
	if m2.Content != "one, two" || m2.State != hxchat.StateStreaming {
		t.Errorf("after second Checkpoint: content %q, state %q", m2.Content, m2.State)
	}
	if !m2.UpdatedAt.After(m.UpdatedAt) {
		t.Errorf("second Checkpoint: UpdatedAt %v, not after %v", m2.UpdatedAt, m.UpdatedAt)
	}

	// A user message is not streaming: untouched.
	if err := s.Checkpoint(ctx, user.ID, "rewritten"); err != nil {
		t.Errorf("Checkpoint(user message): %v", err)
	}
	wantMessage(t, "user message after Checkpoint", *getMessage(t, s, conv.ID, user.ID), *user)

	// A finished answer is not streaming: untouched.
	done := finish(t, s, answer.ID, hxchat.StateDone, "one, two, three")
	stored := getMessage(t, s, conv.ID, answer.ID)
	tick()
	if err := s.Checkpoint(ctx, answer.ID, "one, two, three, four"); err != nil {
		t.Errorf("Checkpoint(finished answer): %v", err)
	}
	after := getMessage(t, s, conv.ID, answer.ID)
	wantMessage(t, "finished answer after Checkpoint", *after, *stored)
	if after.Content != done.Content || after.State != hxchat.StateDone {
		t.Errorf("finished answer after Checkpoint: content %q, state %q", after.Content, after.State)
	}
}

func testFinishAnswer(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)

	// Done, with usage and the model that answered.
	conv, user, answer := newConversation(t, s, sid, "say hi")
	if err := s.Checkpoint(ctx, answer.ID, "H"); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	tick()
	m := &hxchat.Message{
		ID:           answer.ID,
		Content:      "Hi!",
		State:        hxchat.StateDone,
		FinishReason: hxchat.FinishStop,
		Model:        "gpt-4o-2024-08-06",
		Usage:        hxchat.Usage{PromptTokens: 12, CompletionTokens: 3},
	}
	if err := s.FinishAnswer(ctx, m); err != nil {
		t.Fatalf("FinishAnswer(done): %v", err)
	}
	got := getMessage(t, s, conv.ID, answer.ID)
	want := *answer
	want.Content, want.State, want.FinishReason, want.Model, want.Usage = "Hi!", hxchat.StateDone, hxchat.FinishStop, "gpt-4o-2024-08-06", m.Usage
	want.UpdatedAt = got.UpdatedAt // checked below
	wantMessage(t, "finished answer", *got, want)
	checkTime(t, "finished answer UpdatedAt", got.UpdatedAt)
	if !got.UpdatedAt.After(answer.UpdatedAt) {
		t.Errorf("FinishAnswer: UpdatedAt %v, not after %v", got.UpdatedAt, answer.UpdatedAt)
	}
	wantMessage(t, "user message after FinishAnswer", *getMessage(t, s, conv.ID, user.ID), *user)

	// Error, with a code and the partial text.
	conv2, _, answer2 := newConversation(t, s, sid, "a question that fails")
	// With when the service may be asked again, and the request's id.
	retryAt := time.Now().Add(7 * time.Second).UTC().Truncate(time.Millisecond)
	m2 := &hxchat.Message{ID: answer2.ID, Content: "Partial ans", State: hxchat.StateError, ErrorCode: hxchat.ERateLimited,
		RetryAt: retryAt, RequestID: "5eb63bbbe01eeed0"}
	if err := s.FinishAnswer(ctx, m2); err != nil {
		t.Fatalf("FinishAnswer(error): %v", err)
	}
	got2 := getMessage(t, s, conv2.ID, answer2.ID)
	if got2.Content != "Partial ans" || got2.State != hxchat.StateError || got2.ErrorCode != hxchat.ERateLimited ||
		!got2.RetryAt.Equal(retryAt) || got2.RequestID != "5eb63bbbe01eeed0" ||
		got2.FinishReason != "" || got2.Usage != (hxchat.Usage{}) || got2.Model != answer2.Model {
		t.Errorf("failed answer = %+v", got2)
	}

	// Stopped and content filtered.
	conv3, _, answer3 := newConversation(t, s, sid, "stop it")
	m3 := &hxchat.Message{ID: answer3.ID, Content: "Once upon", State: hxchat.StateStopped, Model: answer3.Model}
	if err := s.FinishAnswer(ctx, m3); err != nil {
		t.Fatalf("FinishAnswer(stopped): %v", err)
	}
	if got := getMessage(t, s, conv3.ID, answer3.ID); got.State != hxchat.StateStopped || got.Content != "Once upon" {
		t.Errorf("stopped answer = %+v", got)
	}
	conv4, _, answer4 := newConversation(t, s, sid, "something filtered")
	m4 := &hxchat.Message{ID: answer4.ID, Content: "", State: hxchat.StateError, FinishReason: hxchat.FinishContentFilter,
		ErrorCode: hxchat.EFilteredReply, Model: answer4.Model}
	if err := s.FinishAnswer(ctx, m4); err != nil {
		t.Fatalf("FinishAnswer(filtered): %v", err)
	}
	if got := getMessage(t, s, conv4.ID, answer4.ID); got.FinishReason != hxchat.FinishContentFilter || got.ErrorCode != hxchat.EFilteredReply {
		t.Errorf("filtered answer = %+v", got)
	}

	// An answer that has ended cannot end again.
	before := getMessage(t, s, conv.ID, answer.ID)
	again := &hxchat.Message{ID: answer.ID, Content: "Overwritten", State: hxchat.StateError, ErrorCode: hxchat.EUpstream}
	if err := s.FinishAnswer(ctx, again); err == nil {
		t.Errorf("FinishAnswer of a finished answer: no error")
	}
	wantMessage(t, "finished answer after a second FinishAnswer", *getMessage(t, s, conv.ID, answer.ID), *before)

	// Messages sees the same.
	ms := getMessages(t, s, conv.ID)
	if len(ms) != 2 {
		t.Fatalf("Messages: %d, want 2", len(ms))
	}
	wantMessage(t, "Messages[1]", ms[1], *before)
}

func testRestartAnswer(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)
	// Retry (error, stopped, interrupted) and Regenerate (done) alike.
	for _, state := range []hxchat.State{hxchat.StateError, hxchat.StateStopped, hxchat.StateInterrupted, hxchat.StateDone} {
		t.Run(string(state), func(t *testing.T) {
			conv, user, answer := newConversation(t, s, sid, "try "+string(state))
			if state == hxchat.StateInterrupted {
				if err := s.Checkpoint(ctx, answer.ID, "cut short"); err != nil {
					t.Fatalf("Checkpoint: %v", err)
				}
				if n, err := s.InterruptStreaming(ctx); err != nil || n != 1 {
					t.Fatalf("InterruptStreaming = %d, %v; want 1, nil", n, err)
				}
			} else {
				finish(t, s, answer.ID, state, "cut short")
			}
			old := getMessage(t, s, conv.ID, answer.ID)
			if old.State != state {
				t.Fatalf("answer state %q, want %q", old.State, state)
			}
			convBefore := getConversation(t, s, sid, conv.ID)

			tick()
			fresh := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "model-2"}
			if err := s.RestartAnswer(ctx, old, fresh); err != nil {
				t.Fatalf("RestartAnswer: %v", err)
			}
			if fresh.ID <= old.ID {
				t.Errorf("new answer id %d, not after the old %d", fresh.ID, old.ID)
			}
			if fresh.ConversationID != conv.ID || fresh.Role != hxchat.RoleAssistant || fresh.State != hxchat.StateStreaming ||
				fresh.Content != "" || fresh.Model != "model-2" || fresh.ErrorCode != "" || fresh.FinishReason != "" {
				t.Errorf("new answer = %+v", fresh)
			}
			checkTime(t, "new answer CreatedAt", fresh.CreatedAt)
			checkTime(t, "new answer UpdatedAt", fresh.UpdatedAt)

			if fresh.ParentID != user.ID {
				t.Errorf("new answer follows %d, want the question %d", fresh.ParentID, user.ID)
			}

			// The old answer stays, as the first version.
			ms := getMessages(t, s, conv.ID)
			if len(ms) != 3 {
				t.Fatalf("Messages after RestartAnswer: %d, want 3 (the old answer kept)", len(ms))
			}
			wantMessage(t, "Messages[0]", ms[0], *user)
			wantMessage(t, "Messages[1]", ms[1], *old)
			wantMessage(t, "Messages[2]", ms[2], *fresh)
			convAfter := getConversation(t, s, sid, conv.ID)
			if !convAfter.UpdatedAt.After(convBefore.UpdatedAt) {
				t.Errorf("RestartAnswer: conversation UpdatedAt %v, not after %v", convAfter.UpdatedAt, convBefore.UpdatedAt)
			}
			if convAfter.CurrentID != fresh.ID {
				t.Errorf("RestartAnswer: CurrentID %d, want the new answer %d", convAfter.CurrentID, fresh.ID)
			}

			// The new answer streams and ends like any other; then it can be
			// restarted in turn.
			if err := s.Checkpoint(ctx, fresh.ID, "second try"); err != nil {
				t.Fatalf("Checkpoint(new answer): %v", err)
			}
			finish(t, s, fresh.ID, hxchat.StateError, "second try")
			third := &hxchat.Message{}
			if err := s.RestartAnswer(ctx, getMessage(t, s, conv.ID, fresh.ID), third); err != nil {
				t.Fatalf("RestartAnswer(new answer): %v", err)
			}
			if third.ID <= fresh.ID || third.State != hxchat.StateStreaming {
				t.Errorf("third answer = %+v, after %d", third, fresh.ID)
			}
			if ms := getMessages(t, s, conv.ID); len(ms) != 4 || ms[3].ID != third.ID || third.ParentID != user.ID {
				t.Errorf("Messages after a second RestartAnswer: %d messages, the new answer after %d", len(ms), third.ParentID)
			}
			if v := hxchat.NewThread(getMessages(t, s, conv.ID)).Versions(third.ID); len(v) != 3 {
				t.Errorf("versions of the answer after a second RestartAnswer: %v, want 3", v)
			}
			finish(t, s, third.ID, hxchat.StateDone, "third try") // leave nothing streaming
		})
	}
}

func testRestartConflicts(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)

	// restart tries to restart old and expects a conflict that changes nothing.
	restart := func(what string, conv string, old *hxchat.Message) {
		t.Helper()
		before := getMessages(t, s, conv)
		fresh := &hxchat.Message{Model: "model-2"}
		err := s.RestartAnswer(ctx, old, fresh)
		wantCode(t, what, err, hxchat.EConflict)
		after := getMessages(t, s, conv)
		if len(after) != len(before) {
			t.Fatalf("%s: %d messages, was %d", what, len(after), len(before))
		}
		for i := range after {
			wantMessage(t, fmt.Sprintf("%s: Messages[%d]", what, i), after[i], before[i])
		}
	}

	conv, firstUser, first := newConversation(t, s, sid, "first")
	finish(t, s, first.ID, hxchat.StateError, "")
	_, second := turn(t, s, conv, "second")

	// Still streaming: the last answer, as stored and as a stale copy that
	// says it has ended.
	restart("RestartAnswer(streaming)", conv.ID, getMessage(t, s, conv.ID, second.ID))
	stale := getMessage(t, s, conv.ID, second.ID)
	stale.State = hxchat.StateDone
	restart("RestartAnswer(streaming, stale copy says done)", conv.ID, stale)

	finish(t, s, second.ID, hxchat.StateDone, "fine")
	_, third := turn(t, s, conv, "third")
	finish(t, s, third.ID, hxchat.StateDone, "also fine")
	// A user message is not an answer, even the one before the last answer.
	restart("RestartAnswer(user message)", conv.ID, getMessage(t, s, conv.ID, firstUser.ID))

	// Errors are *hxchat.Error, so that the web layer can show them.
	err := s.RestartAnswer(ctx, getMessage(t, s, conv.ID, firstUser.ID), &hxchat.Message{})
	if _, ok := errors.AsType[*hxchat.Error](err); !ok {
		t.Errorf("RestartAnswer(user message): %T %v, want an *hxchat.Error", err, err)
	}
	// A missing answer, or one named as another conversation's: not found.
	b, _, bAnswer := newConversation(t, s, sid, "in b")
	finish(t, s, bAnswer.ID, hxchat.StateDone, "b")
	moved := getMessage(t, s, conv.ID, second.ID)
	moved.ConversationID = b.ID
	wantCode(t, "RestartAnswer(answer named as another conversation's)", s.RestartAnswer(ctx, moved, &hxchat.Message{}), hxchat.ENotFound)
	wantCode(t, "RestartAnswer(missing answer)", s.RestartAnswer(ctx, &hxchat.Message{ID: bAnswer.ID + 1000}, &hxchat.Message{}), hxchat.ENotFound)
}

func testInterruptStreaming(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)

	n, err := s.InterruptStreaming(ctx)
	if err != nil || n != 0 {
		t.Fatalf("InterruptStreaming on an empty store = %d, %v; want 0, nil", n, err)
	}

	type streaming struct {
		conv    string
		answer  *hxchat.Message
		content string
	}
	var cut []streaming
	for i := range 3 {
		conv, _, answer := newConversation(t, s, sid, fmt.Sprintf("question %d", i))
		content := ""
		if i > 0 {
			content = fmt.Sprintf("partial %d", i)
			if err := s.Checkpoint(ctx, answer.ID, content); err != nil {
				t.Fatalf("Checkpoint: %v", err)
			}
		}
		cut = append(cut, streaming{conv.ID, answer, content})
	}
	doneConv, doneUser, doneAnswer := newConversation(t, s, sid, "finished")
	finish(t, s, doneAnswer.ID, hxchat.StateDone, "all of it")
	done := getMessage(t, s, doneConv.ID, doneAnswer.ID)

	n, err = s.InterruptStreaming(ctx)
	if err != nil || n != 3 {
		t.Fatalf("InterruptStreaming = %d, %v; want 3, nil", n, err)
	}
	for _, c := range cut {
		m := getMessage(t, s, c.conv, c.answer.ID)
		if m.State != hxchat.StateInterrupted || m.Content != c.content {
			t.Errorf("answer %d after InterruptStreaming: state %q, content %q; want interrupted, %q", m.ID, m.State, m.Content, c.content)
		}
		if !m.State.Retryable() {
			t.Errorf("interrupted answer %d not retryable", m.ID)
		}
		// A late checkpoint of a generation that no longer runs changes nothing.
		if err := s.Checkpoint(ctx, m.ID, "late"); err != nil {
			t.Errorf("Checkpoint(interrupted): %v", err)
		}
		if got := getMessage(t, s, c.conv, c.answer.ID); got.Content != c.content {
			t.Errorf("interrupted answer %d: Checkpoint changed content to %q", m.ID, got.Content)
		}
	}
	wantMessage(t, "finished answer after InterruptStreaming", *getMessage(t, s, doneConv.ID, done.ID), *done)
	wantMessage(t, "user message after InterruptStreaming", *getMessage(t, s, doneConv.ID, doneUser.ID), *doneUser)

	n, err = s.InterruptStreaming(ctx)
	if err != nil || n != 0 {
		t.Errorf("second InterruptStreaming = %d, %v; want 0, nil", n, err)
	}
}

func testUnicode(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)

	title := "日本語の会話 🍣 — テスト"
	question := "こんにちは、世界！🌏👋🏽 家族: 👨‍👩‍👧‍👦 「引用」\n二行目 🇯🇵"
	conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, Title: title}
	user, answer := turn(t, s, conv, question)
	partial := "はい、"
	if err := s.Checkpoint(ctx, answer.ID, partial); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if got := getMessage(t, s, conv.ID, answer.ID); got.Content != partial {
		t.Errorf("checkpoint round trip: %q, want %q", got.Content, partial)
	}
	final := "はい、こんにちは！😀 絵文字も大丈夫です。\n```go\nfmt.Println(\"ß∂ƒ ✓\")\n```"
	finish(t, s, answer.ID, hxchat.StateDone, final)

	if got := getConversation(t, s, sid, conv.ID); got.Title != title {
		t.Errorf("title round trip: %q, want %q", got.Title, title)
	}
	ms := getMessages(t, s, conv.ID)
	if len(ms) != 2 || ms[0].Content != question || ms[1].Content != final {
		t.Errorf("Messages round trip = %+v", ms)
	}
	wantMessage(t, "user message", ms[0], *user)

	// 1 MiB and more, multi-byte characters throughout, no NUL (PostgreSQL
	// text cannot hold one).
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "%06d 長い文章のテスト 🚀 lorem ipsum dolor sit amet\n", i)
	}
	large := b.String()
	bigConv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid}
	bigUser, bigAnswer := turn(t, s, bigConv, large)
	if err := s.Checkpoint(ctx, bigAnswer.ID, large[:len(large)/2]); err != nil {
		t.Fatalf("Checkpoint(large): %v", err)
	}
	if got := getMessage(t, s, bigConv.ID, bigAnswer.ID); got.Content != large[:len(large)/2] {
		t.Errorf("large checkpoint round trip: %s", short(got.Content))
	}
	finish(t, s, bigAnswer.ID, hxchat.StateDone, large+large)
	if got := getMessage(t, s, bigConv.ID, bigUser.ID); got.Content != large {
		t.Errorf("large user message round trip: %s, want %d bytes", short(got.Content), len(large))
	}
	if got := getMessage(t, s, bigConv.ID, bigAnswer.ID); got.Content != large+large {
		t.Errorf("large answer round trip: %s, want %d bytes", short(got.Content), 2*len(large))
	}
}

func testConcurrentWriters(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	const (
		writers     = 20
		turns       = 3
		checkpoints = 5
	)
	type result struct {
		session string
		conv    string
		answers []int64
	}
	results := make([]result, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			<-start
			r := &results[w]
			r.session = hxchat.NewID()
			if err := s.CreateSession(ctx, r.session); err != nil {
				t.Errorf("writer %d: CreateSession: %v", w, err)
				return
			}
			conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: r.session, Title: fmt.Sprintf("writer %d", w)}
			r.conv = conv.ID
			for i := range turns {
				user := &hxchat.Message{Content: fmt.Sprintf("writer %d question %d", w, i)}
				answer := &hxchat.Message{Model: "test-model"}
				if err := s.StartTurn(ctx, conv, user, answer); err != nil {
					t.Errorf("writer %d turn %d: StartTurn: %v", w, i, err)
					return
				}
				r.answers = append(r.answers, answer.ID)
				text := ""
				for c := range checkpoints {
					text += fmt.Sprintf("token%d ", c)
					if err := s.Checkpoint(ctx, answer.ID, text); err != nil {
						t.Errorf("writer %d turn %d: Checkpoint: %v", w, i, err)
						return
					}
					// Readers run alongside the writers.
					if _, err := s.Message(ctx, conv.ID, answer.ID); err != nil {
						t.Errorf("writer %d turn %d: Message: %v", w, i, err)
						return
					}
				}
				m := &hxchat.Message{ID: answer.ID, Content: fmt.Sprintf("writer %d answer %d", w, i),
					State: hxchat.StateDone, FinishReason: hxchat.FinishStop, Usage: hxchat.Usage{PromptTokens: int64(w), CompletionTokens: int64(i)}}
				if err := s.FinishAnswer(ctx, m); err != nil {
					t.Errorf("writer %d turn %d: FinishAnswer: %v", w, i, err)
					return
				}
				if _, err := s.Conversations(ctx, r.session); err != nil {
					t.Errorf("writer %d turn %d: Conversations: %v", w, i, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	seen := map[int64]bool{}
	for w, r := range results {
		cs := getConversations(t, s, r.session)
		wantIDs(t, fmt.Sprintf("writer %d: Conversations", w), cs, r.conv)
		ms := getMessages(t, s, r.conv)
		if len(ms) != 2*turns {
			t.Errorf("writer %d: %d messages, want %d", w, len(ms), 2*turns)
			continue
		}
		for i := range turns {
			u, a := ms[2*i], ms[2*i+1]
			if u.Content != fmt.Sprintf("writer %d question %d", w, i) || u.Role != hxchat.RoleUser {
				t.Errorf("writer %d turn %d: user message %+v", w, i, u)
			}
			if a.ID != r.answers[i] || a.State != hxchat.StateDone || a.Content != fmt.Sprintf("writer %d answer %d", w, i) ||
				a.Usage != (hxchat.Usage{PromptTokens: int64(w), CompletionTokens: int64(i)}) {
				t.Errorf("writer %d turn %d: answer %+v", w, i, a)
			}
		}
		for _, m := range ms {
			if seen[m.ID] {
				t.Errorf("message id %d given twice", m.ID)
			}
			seen[m.ID] = true
		}
	}
	if n, err := s.InterruptStreaming(ctx); err != nil || n != 0 {
		t.Errorf("InterruptStreaming after all answers finished = %d, %v; want 0, nil", n, err)
	}
}

// testConcurrentTurns: turns sent at once to one conversation, each after
// its current message, queue: each question follows the answer stored just
// before it, the ids increase along the chain, and the conversation's
// current message is the last answer. A store that read the current
// message before it locked the conversation, or checked it against an older
// snapshot, would fork the chain or refuse a turn.
func testConcurrentTurns(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	session := hxchat.NewID()
	conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: session, Title: "turns"}
	turn(t, s, conv, "first")
	const turns = 16
	var wg sync.WaitGroup
	for i := range turns {
		wg.Go(func() {
			c := &hxchat.Conversation{ID: conv.ID, SessionID: session, CreatedAt: conv.CreatedAt}
			user := &hxchat.Message{Content: fmt.Sprintf("question %d", i)}
			answer := &hxchat.Message{Model: "m"}
			if err := s.StartTurn(ctx, c, user, answer); err != nil {
				t.Errorf("turn %d: StartTurn: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ms := getMessages(t, s, conv.ID)
	if len(ms) != 2+2*turns {
		t.Fatalf("%d messages, want %d", len(ms), 2+2*turns)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].ParentID != ms[i-1].ID || ms[i].ID <= ms[i-1].ID {
			t.Errorf("message %d (id %d) follows %d, want the one before it, %d", i, ms[i].ID, ms[i].ParentID, ms[i-1].ID)
		}
	}
	if c := getConversation(t, s, session, conv.ID); c.CurrentID != ms[len(ms)-1].ID {
		t.Errorf("current message %d, want the last answer %d", c.CurrentID, ms[len(ms)-1].ID)
	}
}

// titled starts the first turn of a new conversation of session with its own
// title, and finishes the answer with reply.
func titled(t *testing.T, s hxchat.Store, session, title, question, reply string) *hxchat.Conversation {
	t.Helper()
	conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: session, Title: title}
	_, answer := turn(t, s, conv, question)
	finish(t, s, answer.ID, hxchat.StateDone, reply)
	return conv
}

// search returns what SearchConversations finds, failing t on an error.
func search(t *testing.T, s hxchat.Store, session, query string) []hxchat.Conversation {
	t.Helper()
	cs, err := s.SearchConversations(t.Context(), session, query)
	if err != nil {
		t.Fatalf("SearchConversations(%q): %v", query, err)
	}
	return cs
}

// wantSearch fails t unless searching session for query finds exactly ids,
// in that order, each as Conversation returns it.
func wantSearch(t *testing.T, s hxchat.Store, session, query string, ids ...string) {
	t.Helper()
	cs := search(t, s, session, query)
	wantIDs(t, fmt.Sprintf("SearchConversations(%q)", query), cs, ids...)
	for _, c := range cs {
		if c.SessionID == session {
			wantConversation(t, fmt.Sprintf("SearchConversations(%q): %s", query, c.ID), c, *getConversation(t, s, session, c.ID))
		}
	}
}

func testSearch(t *testing.T, s hxchat.Store) {
	sid, other := newSession(t, s), newSession(t, s)

	// Created oldest first; each later one comes first in the list.
	trip := titled(t, s, sid, "Trip planning", "What should I see in 東京 next spring?", "Visit Asakusa and the Skytree.")
	tick()
	goConv := titled(t, s, sid, "Go generics", "How do type parameters work?", "Use square brackets: func F[T any]().")
	tick()
	kyoto := titled(t, s, sid, "京都旅行の計画", "大阪から日帰りできますか？", "はい、電車で約三十分です。")
	tick()
	// Another session's conversations match every query below; they must
	// never be found in sid.
	theirs := titled(t, s, other, "東京 京都 Go generics trip", "Skytree brackets 電車", "東京 SKYTREE")

	// By title, whatever the case of ASCII letters.
	wantSearch(t, s, sid, "generics", goConv.ID)
	wantSearch(t, s, sid, "GO GENERICS", goConv.ID)
	wantSearch(t, s, sid, "trip PLAN", trip.ID)
	// By the text of a user message and of an answer.
	wantSearch(t, s, sid, "type parameters", goConv.ID)
	wantSearch(t, s, sid, "skytree", trip.ID)
	wantSearch(t, s, sid, "SQUARE Brackets", goConv.ID)
	// Japanese, which has no spaces between words: two characters, one, in
	// a title or a message.
	wantSearch(t, s, sid, "東京", trip.ID)
	wantSearch(t, s, sid, "京都", kyoto.ID)
	wantSearch(t, s, sid, "電車", kyoto.ID)
	wantSearch(t, s, sid, "京", kyoto.ID, trip.ID)
	// Within a word, in titles and messages alike.
	wantSearch(t, s, sid, "A", goConv.ID, trip.ID)
	wantSearch(t, s, sid, "nothing like this")
	wantSearch(t, s, sid, "東京駅")

	// Most recently updated first: a turn in trip brings it to the top.
	tick()
	turn(t, s, trip, "And in 京都?")
	wantSearch(t, s, sid, "京", trip.ID, kyoto.ID)
	wantSearch(t, s, sid, "a", trip.ID, goConv.ID)

	// Only the session's own conversations, never another's.
	wantSearch(t, s, other, "東京", theirs.ID)
	wantSearch(t, s, other, "type parameters")
	wantSearch(t, s, hxchat.NewID(), "東京")

	// An empty or blank query lists what Conversations lists.
	all := getConversations(t, s, sid)
	wantIDs(t, "Conversations", all, trip.ID, kyoto.ID, goConv.ID)
	for _, q := range []string{"", " ", " \t\n　"} {
		cs := search(t, s, sid, q)
		if len(cs) != len(all) {
			t.Errorf("SearchConversations(%q) = %d conversations, want the %d of Conversations", q, len(cs), len(all))
			continue
		}
		for i := range cs {
			wantConversation(t, fmt.Sprintf("SearchConversations(%q)[%d]", q, i), cs[i], all[i])
		}
	}
	if cs := search(t, s, hxchat.NewID(), ""); len(cs) != 0 {
		t.Errorf("SearchConversations(unknown session, \"\") = %+v, want none", cs)
	}
}

// testSearchLiteral: %, _ and \ in a query are plain characters, not LIKE
// wildcards or an escape.
func testSearchLiteral(t *testing.T, s hxchat.Store) {
	sid := newSession(t, s)
	percent := titled(t, s, sid, "100% sure", "a discount of 50% on item_1", "OK.")
	tick()
	// What each query would match if its % or _ were a wildcard, or its \
	// an escape.
	decoy := titled(t, s, sid, "100 percent surely", "500 items, itemA1, itemsX1", "Copy C:temp to D:")
	tick()
	path := titled(t, s, sid, "Windows paths", `Copy C:\temp\ to D:\`, "Done.")

	wantSearch(t, s, sid, "50%", percent.ID)
	wantSearch(t, s, sid, "100%", percent.ID)
	wantSearch(t, s, sid, "%", percent.ID)
	wantSearch(t, s, sid, "item_1", percent.ID)
	wantSearch(t, s, sid, "_", percent.ID)
	wantSearch(t, s, sid, "%_")
	wantSearch(t, s, sid, `C:\temp`, path.ID)
	wantSearch(t, s, sid, `temp\`, path.ID)
	wantSearch(t, s, sid, `\`, path.ID)
	wantSearch(t, s, sid, `D:\`, path.ID)
	wantSearch(t, s, sid, "C:temp", decoy.ID)
}

// testSearchFolded: text and query are compared folded, as a Japanese
// reader types them: full-width and half-width Latin letters and digits,
// full-width and half-width katakana (with their voicing marks) find each
// other; a conversation found through a message says where it matched.
func testSearchFolded(t *testing.T, s hxchat.Store) {
	sid := newSession(t, s)
	full := titled(t, s, sid, "ストリーミング", "ＳＳＥ で回答を流すには？", "ＨＴＴＰ の接続を開いたままにします。")
	tick()
	half := titled(t, s, sid, "ﾒﾓ", "ｶﾞｲﾄﾞを読んだ", "ｻｰﾊﾞｰ側で描画します。")
	tick()
	plain := titled(t, s, sid, "Server-Sent Events", "How does SSE reconnect?", "With Last-Event-ID, on version 2.")

	// Half-width query, full-width text, and back; ASCII case too.
	wantSearch(t, s, sid, "SSE", plain.ID, full.ID)
	wantSearch(t, s, sid, "ＳＳＥ", plain.ID, full.ID)
	wantSearch(t, s, sid, "sse", plain.ID, full.ID)
	wantSearch(t, s, sid, "ｓｓｅ", plain.ID, full.ID)
	wantSearch(t, s, sid, "http", full.ID)
	wantSearch(t, s, sid, "２", plain.ID)
	// Katakana of either width, with voicing marks joined or apart.
	wantSearch(t, s, sid, "ガイド", half.ID)
	wantSearch(t, s, sid, "ｶﾞｲﾄﾞ", half.ID)
	wantSearch(t, s, sid, "サーバー", half.ID)
	wantSearch(t, s, sid, "ｽﾄﾘｰﾐﾝｸﾞ", full.ID)
	wantSearch(t, s, sid, "メモ", half.ID)
	// Hiragana is not katakana: a different word.
	wantSearch(t, s, sid, "がいど")

	// Where it matched: the text of the first matching message, as written.
	snippets := map[string]string{}
	for _, c := range search(t, s, sid, "sse") {
		snippets[c.ID] = c.Snippet
	}
	if got := snippets[full.ID]; got != "ＳＳＥ で回答を流すには？" {
		t.Errorf("snippet of the full-width match: %q", got)
	}
	if got := snippets[plain.ID]; got != "How does SSE reconnect?" {
		t.Errorf("snippet of the plain match: %q", got)
	}
	for _, c := range search(t, s, sid, "メモ") {
		if c.Snippet != "" {
			t.Errorf("a match of the title alone has the snippet %q", c.Snippet)
		}
	}
	long := titled(t, s, sid, "long", strings.Repeat("前置き。", 40)+"ここで ＳＳＥ の話。"+strings.Repeat("後書き。", 40), "OK.")
	for _, c := range search(t, s, sid, "sse") {
		if c.ID == long.ID && (!strings.HasPrefix(c.Snippet, "…") || !strings.HasSuffix(c.Snippet, "…") ||
			!strings.Contains(c.Snippet, "ここで ＳＳＥ の話。") || len([]rune(c.Snippet)) > 100) {
			t.Errorf("snippet of a long message: %q", c.Snippet)
		}
	}
}

// testSearchStreaming: an answer is found by the text of its last
// checkpoint while it streams, by its final text once it ends, and by the
// text it kept when it was interrupted.
func testSearchStreaming(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)
	conv, _, answer := newConversation(t, s, sid, "a question")
	if err := s.Checkpoint(ctx, answer.ID, "ＳＴＲＥＡＭＩＮＧ text so far"); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	wantSearch(t, s, sid, "streaming text", conv.ID)
	if err := s.Checkpoints(ctx, []hxchat.Partial{{ID: answer.ID, Content: "more ｶﾀｶﾅ text"}}); err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	wantSearch(t, s, sid, "カタカナ text", conv.ID)
	wantSearch(t, s, sid, "streaming text")
	finish(t, s, answer.ID, hxchat.StateDone, "the final ＡＮＳＷＥＲ")
	wantSearch(t, s, sid, "final answer", conv.ID)
	wantSearch(t, s, sid, "カタカナ")

	_, cut := turn(t, s, conv, "another one")
	if err := s.Checkpoint(ctx, cut.ID, "cut short right here"); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if _, err := s.InterruptStreaming(ctx); err != nil {
		t.Fatalf("InterruptStreaming: %v", err)
	}
	wantSearch(t, s, sid, "short right", conv.ID)
}

func testRename(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid, other := newSession(t, s), newSession(t, s)
	a, user, answer := newConversation(t, s, sid, "first question")
	tick()
	b, _, _ := newConversation(t, s, sid, "second question")
	theirs, _, _ := newConversation(t, s, other, "their question")
	wantIDs(t, "Conversations before renaming", getConversations(t, s, sid), b.ID, a.ID)

	// rename renames id and checks that only the title changed.
	rename := func(id, title, want string) {
		t.Helper()
		before := getConversation(t, s, sid, id)
		tick()
		if err := s.RenameConversation(ctx, sid, id, title); err != nil {
			t.Fatalf("RenameConversation(%q): %v", title, err)
		}
		got := getConversation(t, s, sid, id)
		if got.Title != want {
			t.Errorf("RenameConversation(%s): title %s, want %s", short(title), short(got.Title), short(want))
		}
		w := *before
		w.Title = got.Title
		wantConversation(t, "conversation after RenameConversation", *got, w)
		if !got.ChangedAt.After(before.UpdatedAt) || !got.ChangedAt.After(before.ChangedAt) {
			t.Errorf("RenameConversation: ChangedAt %v, not after the conversation's last change %v, %v", got.ChangedAt, before.UpdatedAt, before.ChangedAt)
		}
	}

	// The oldest conversation renamed stays last: UpdatedAt does not move.
	rename(a.ID, "  Renamed \t\n", "Renamed")
	wantIDs(t, "Conversations after renaming a", getConversations(t, s, sid), b.ID, a.ID)
	wantSearch(t, s, sid, "renamed", a.ID)
	wantSearch(t, s, sid, "first", a.ID) // still in its message
	rename(a.ID, "Renamed", "Renamed")   // the same title again is fine
	rename(a.ID, "東京　旅行 🍣", "東京　旅行 🍣")
	wantIDs(t, "Conversations after renaming a again", getConversations(t, s, sid), b.ID, a.ID)
	// The messages are untouched.
	ms := getMessages(t, s, a.ID)
	if len(ms) != 2 {
		t.Fatalf("Messages after RenameConversation: %d, want 2", len(ms))
	}
	wantMessage(t, "user message after RenameConversation", ms[0], *user)
	wantMessage(t, "answer after RenameConversation", ms[1], *answer)

	// Long titles are cut at 200 characters, not bytes; 200 are kept.
	exact := strings.Repeat("題", 200)
	rename(b.ID, exact, exact)
	long := strings.Repeat("あ", 199) + "🍣" + strings.Repeat("い", 50)
	rename(b.ID, long, strings.Repeat("あ", 199)+"🍣")
	if got := getConversation(t, s, sid, b.ID).Title; !utf8.ValidString(got) || utf8.RuneCountInString(got) != 200 {
		t.Errorf("long title stored as %d runes, valid UTF-8 %v; want 200, true", utf8.RuneCountInString(got), utf8.ValidString(got))
	}
	rename(b.ID, " "+strings.Repeat("x", 300)+" ", strings.Repeat("x", 200))
	wantIDs(t, "Conversations after renaming b", getConversations(t, s, sid), b.ID, a.ID)

	// An empty or blank title is refused and changes nothing.
	before := getConversation(t, s, sid, a.ID)
	for _, title := range []string{"", " ", "\t\n　 "} {
		err := s.RenameConversation(ctx, sid, a.ID, title)
		wantCode(t, fmt.Sprintf("RenameConversation(%q)", title), err, hxchat.EInvalid)
		if _, ok := errors.AsType[*hxchat.Error](err); err != nil && !ok {
			t.Errorf("RenameConversation(%q): %T, want an *hxchat.Error", title, err)
		}
	}
	wantConversation(t, "conversation after refused renames", *getConversation(t, s, sid, a.ID), *before)

	// Another session's conversation, a missing one, an unknown session:
	// not found, and nothing changes.
	for _, tc := range []struct{ what, session, id string }{
		{"another session's conversation", sid, theirs.ID},
		{"my conversation, by another session", other, a.ID},
		{"a missing conversation", sid, hxchat.NewID()},
		{"an unknown session", hxchat.NewID(), a.ID},
	} {
		err := s.RenameConversation(ctx, tc.session, tc.id, "Hijacked")
		wantCode(t, "RenameConversation of "+tc.what, err, hxchat.ENotFound)
	}
	wantConversation(t, "my conversation after foreign renames", *getConversation(t, s, sid, a.ID), *before)
	wantConversation(t, "their conversation after foreign renames", *getConversation(t, s, other, theirs.ID), *theirs)
}

func testDelete(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid, other := newSession(t, s), newSession(t, s)
	a, u1, a1 := newConversation(t, s, sid, "delete me")
	finish(t, s, a1.ID, hxchat.StateDone, "unique answer text")
	tick()
	u2, a2 := turn(t, s, a, "second turn") // left streaming
	tick()
	b, bUser, bAnswer := newConversation(t, s, sid, "keep me")
	bDone := finish(t, s, bAnswer.ID, hxchat.StateDone, "kept")
	theirs, tUser, tAnswer := newConversation(t, s, other, "keep theirs")
	tDone := finish(t, s, tAnswer.ID, hxchat.StateDone, "theirs kept")
	bStored, tStored := getMessage(t, s, b.ID, bAnswer.ID), getMessage(t, s, theirs.ID, tAnswer.ID)
	if bStored.Content != bDone.Content || tStored.Content != tDone.Content {
		t.Fatalf("finished answers not stored: %q, %q", bStored.Content, tStored.Content)
	}

	// Another session, a missing conversation, an unknown session: not
	// found, and nothing is deleted.
	for _, tc := range []struct{ what, session, id string }{
		{"my conversation, by another session", other, a.ID},
		{"another session's conversation", sid, theirs.ID},
		{"a missing conversation", sid, hxchat.NewID()},
		{"an unknown session", hxchat.NewID(), a.ID},
	} {
		err := s.DeleteConversation(ctx, tc.session, tc.id)
		wantCode(t, "DeleteConversation of "+tc.what, err, hxchat.ENotFound)
	}
	getConversation(t, s, sid, a.ID)
	getConversation(t, s, other, theirs.ID)
	if ms := getMessages(t, s, a.ID); len(ms) != 4 {
		t.Fatalf("after foreign deletes, Messages(a) = %d, want 4", len(ms))
	}

	if err := s.DeleteConversation(ctx, sid, a.ID); err != nil {
		t.Fatalf("DeleteConversation: %v", err)
	}
	c, err := s.Conversation(ctx, sid, a.ID)
	wantCode(t, "Conversation after DeleteConversation", err, hxchat.ENotFound)
	if c != nil {
		t.Errorf("Conversation after DeleteConversation returned %+v", c)
	}
	wantIDs(t, "Conversations after DeleteConversation", getConversations(t, s, sid), b.ID)
	wantSearch(t, s, sid, "unique answer")
	wantSearch(t, s, sid, "me", b.ID)

	// Its messages are gone with it.
	for _, m := range []*hxchat.Message{u1, a1, u2, a2} {
		got, err := s.Message(ctx, a.ID, m.ID)
		wantCode(t, fmt.Sprintf("Message(%d) of a deleted conversation", m.ID), err, hxchat.ENotFound)
		if got != nil {
			t.Errorf("Message(%d) of a deleted conversation returned %+v", m.ID, got)
		}
	}
	if ms, err := s.Messages(ctx, a.ID); err != nil {
		wantCode(t, "Messages of a deleted conversation", err, hxchat.ENotFound)
	} else if len(ms) != 0 {
		t.Errorf("Messages of a deleted conversation = %d messages", len(ms))
	}
	// Its streaming answer too: nothing is left to interrupt.
	if n, err := s.InterruptStreaming(ctx); err != nil || n != 0 {
		t.Errorf("InterruptStreaming after deleting the conversation of the only streaming answer = %d, %v; want 0, nil", n, err)
	}
	// No turn can be added to it, and a second delete finds nothing.
	ghost := *a
	err = s.StartTurn(ctx, &ghost, &hxchat.Message{Content: "still there?"}, &hxchat.Message{})
	wantCode(t, "StartTurn in a deleted conversation", err, hxchat.ENotFound)
	wantCode(t, "DeleteConversation again", s.DeleteConversation(ctx, sid, a.ID), hxchat.ENotFound)
	wantCode(t, "RenameConversation of a deleted conversation", s.RenameConversation(ctx, sid, a.ID, "x"), hxchat.ENotFound)

	// The other conversations are untouched.
	wantConversation(t, "b after DeleteConversation", *getConversation(t, s, sid, b.ID), *b)
	if ms := getMessages(t, s, b.ID); len(ms) != 2 {
		t.Errorf("Messages(b) after DeleteConversation: %d, want 2", len(ms))
	} else {
		wantMessage(t, "b's user message", ms[0], *bUser)
		wantMessage(t, "b's answer", ms[1], *bStored)
	}
	wantConversation(t, "theirs after DeleteConversation", *getConversation(t, s, other, theirs.ID), *theirs)
	if ms := getMessages(t, s, theirs.ID); len(ms) != 2 {
		t.Errorf("Messages(theirs) after DeleteConversation: %d, want 2", len(ms))
	} else {
		wantMessage(t, "their user message", ms[0], *tUser)
		wantMessage(t, "their answer", ms[1], *tStored)
	}

	// Message ids are not given again.
	_, _, next := newConversation(t, s, sid, "after the delete")
	if next.ID <= a2.ID {
		t.Errorf("a message after DeleteConversation got id %d, not after the deleted %d", next.ID, a2.ID)
	}
}

// edit calls EditTurn on a copy of the stored user message id of conv with
// content, and returns the stored user message and the new answer.
func edit(t *testing.T, s hxchat.Store, conv string, id int64, content string) (*hxchat.Message, *hxchat.Message) {
	t.Helper()
	user := getMessage(t, s, conv, id)
	user.Content = content
	answer := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "model-2"}
	if err := s.EditTurn(t.Context(), user, answer); err != nil {
		t.Fatalf("EditTurn(%d, %q): %v", id, content, err)
	}
	return user, answer
}

func testEditTurn(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)
	conv, u1, a1 := newConversation(t, s, sid, "first question")
	a1 = finish(t, s, a1.ID, hxchat.StateDone, "first answer")
	u2, a2 := turn(t, s, conv, "second question, with a typo")
	finish(t, s, a2.ID, hxchat.StateDone, "second answer, about the typo")
	_, a3 := turn(t, s, conv, "third question")
	finish(t, s, a3.ID, hxchat.StateError, "third answer failed")
	tick()
	other, _, _ := newConversation(t, s, sid, "another conversation")
	wantIDs(t, "Conversations before EditTurn", getConversations(t, s, sid), other.ID, conv.ID)
	convBefore := getConversation(t, s, sid, conv.ID)
	before := getMessages(t, s, conv.ID)

	// Edit the second question: a new version of it, after the first
	// answer, with a new answer; every message before stays as it was.
	tick()
	text := "second question, 誤字なし\n  with its spaces kept  "
	user, answer := edit(t, s, conv.ID, u2.ID, text)
	if user.ID <= a3.ID || user.ConversationID != conv.ID || user.ParentID != a1.ID || user.Role != hxchat.RoleUser ||
		user.State != hxchat.StateDone || user.Content != text {
		t.Errorf("new version of the question after EditTurn = %+v", user)
	}
	checkTime(t, "new version CreatedAt", user.CreatedAt)
	checkTime(t, "new version UpdatedAt", user.UpdatedAt)
	if answer.ID <= user.ID {
		t.Errorf("new answer id %d, not after the new question %d", answer.ID, user.ID)
	}
	if answer.ConversationID != conv.ID || answer.ParentID != user.ID || answer.Role != hxchat.RoleAssistant || answer.State != hxchat.StateStreaming ||
		answer.Content != "" || answer.Model != "model-2" || answer.ErrorCode != "" || answer.FinishReason != "" {
		t.Errorf("new answer after EditTurn = %+v", answer)
	}
	checkTime(t, "new answer CreatedAt", answer.CreatedAt)
	checkTime(t, "new answer UpdatedAt", answer.UpdatedAt)

	ms := getMessages(t, s, conv.ID)
	if len(ms) != len(before)+2 {
		t.Fatalf("Messages after EditTurn: %d, want %d (all kept, two new)", len(ms), len(before)+2)
	}
	for i := range before {
		wantMessage(t, fmt.Sprintf("Messages[%d] after EditTurn", i), ms[i], before[i])
	}
	wantMessage(t, "new question in Messages", ms[len(before)], *user)
	wantMessage(t, "new answer in Messages", ms[len(before)+1], *answer)
	th := hxchat.NewThread(ms)
	if v := th.Versions(user.ID); len(v) != 2 || v[0] != u2.ID || v[1] != user.ID {
		t.Errorf("versions of the second question: %v, want [%d %d]", v, u2.ID, user.ID)
	}
	// The old version's branch goes on to the third turn.
	if b := th.Branch(u2.ID); len(b) != 6 || b[5].ID != a3.ID {
		t.Errorf("branch of the old version: %d messages, want 6 ending with %d", len(b), a3.ID)
	}
	wantSearch(t, s, sid, "typo", conv.ID) // every version is searched
	wantSearch(t, s, sid, "誤字なし", conv.ID)

	// The conversation moved forward and to the top, showing the new branch.
	convAfter := getConversation(t, s, sid, conv.ID)
	if !convAfter.UpdatedAt.After(convBefore.UpdatedAt) {
		t.Errorf("EditTurn: conversation UpdatedAt %v, not after %v", convAfter.UpdatedAt, convBefore.UpdatedAt)
	}
	w := *convBefore
	w.UpdatedAt, w.CurrentID = convAfter.UpdatedAt, answer.ID
	wantConversation(t, "conversation after EditTurn", *convAfter, w)
	wantIDs(t, "Conversations after EditTurn", getConversations(t, s, sid), conv.ID, other.ID)

	// The new answer streams and ends like any other, and can be generated
	// again.
	if err := s.Checkpoint(ctx, answer.ID, "partial"); err != nil {
		t.Fatalf("Checkpoint(new answer): %v", err)
	}
	finish(t, s, answer.ID, hxchat.StateDone, "the answer to the edited question")
	again := &hxchat.Message{}
	if err := s.RestartAnswer(ctx, getMessage(t, s, conv.ID, answer.ID), again); err != nil {
		t.Fatalf("RestartAnswer after EditTurn: %v", err)
	}
	finish(t, s, again.ID, hxchat.StateStopped, "")

	// Editing a version that is not shown, and the first question: a first
	// question's versions follow nothing. The same text is fine too.
	_, answer2 := edit(t, s, conv.ID, u2.ID, "second question, with a typo")
	if answer2.ID <= again.ID {
		t.Errorf("after editing an old version: new answer %d, not after %d", answer2.ID, again.ID)
	}
	finish(t, s, answer2.ID, hxchat.StateError, "")
	first, answer3 := edit(t, s, conv.ID, u1.ID, "first question, rephrased")
	if first.ParentID != 0 || first.Content != "first question, rephrased" || answer3.ParentID != first.ID {
		t.Errorf("after editing the first question: %+v, answer after %d", first, answer3.ParentID)
	}
	if b := hxchat.NewThread(getMessages(t, s, conv.ID)).Branch(getConversation(t, s, sid, conv.ID).CurrentID); len(b) != 2 || b[0].ID != first.ID || b[1].ID != answer3.ID {
		t.Errorf("branch shown after editing the first question: %d messages", len(b))
	}
	wantMessage(t, "first question's first version", *getMessage(t, s, conv.ID, u1.ID), *u1)
	// The title stays: it is the conversation's, not the first message's.
	if got := getConversation(t, s, sid, conv.ID); got.Title != convBefore.Title {
		t.Errorf("title after editing the first question: %q, want %q", got.Title, convBefore.Title)
	}

	// The other conversation is untouched, and only the new answer streams.
	if ms := getMessages(t, s, other.ID); len(ms) != 2 {
		t.Errorf("Messages(other) after EditTurn: %d, want 2", len(ms))
	}
	if n, err := s.InterruptStreaming(ctx); err != nil || n != 2 {
		t.Errorf("InterruptStreaming after EditTurn = %d, %v; want 2 (the new answer and the other conversation's), nil", n, err)
	}
}

func testEditTurnConflicts(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)
	conv, u1, a1 := newConversation(t, s, sid, "first")
	finish(t, s, a1.ID, hxchat.StateDone, "done")
	u2, a2 := turn(t, s, conv, "second") // left streaming
	b, bUser, bAnswer := newConversation(t, s, sid, "in b")
	finish(t, s, bAnswer.ID, hxchat.StateDone, "b is done")

	// refused calls EditTurn and expects code, a *hxchat.Error, and no
	// change to the store or to its arguments.
	refused := func(what string, user *hxchat.Message, code hxchat.ErrorCode) {
		t.Helper()
		convs := map[string][]hxchat.Message{conv.ID: getMessages(t, s, conv.ID), b.ID: getMessages(t, s, b.ID)}
		list := getConversations(t, s, sid)
		userBefore := *user
		answer := &hxchat.Message{Model: "model-2"}
		err := s.EditTurn(ctx, user, answer)
		wantCode(t, what, err, code)
		if _, ok := errors.AsType[*hxchat.Error](err); err != nil && !ok {
			t.Errorf("%s: %T, want an *hxchat.Error", what, err)
		}
		if *user != userBefore || *answer != (hxchat.Message{Model: "model-2"}) {
			t.Errorf("%s changed its arguments: user %+v, answer %+v", what, user, answer)
		}
		for id, before := range convs {
			after := getMessages(t, s, id)
			if len(after) != len(before) {
				t.Errorf("%s: conversation %s has %d messages, had %d", what, id, len(after), len(before))
				continue
			}
			for i := range after {
				wantMessage(t, fmt.Sprintf("%s: %s Messages[%d]", what, id, i), after[i], before[i])
			}
		}
		after := getConversations(t, s, sid)
		if len(after) != len(list) {
			t.Fatalf("%s: %d conversations, had %d", what, len(after), len(list))
		}
		for i := range after {
			wantConversation(t, fmt.Sprintf("%s: Conversations[%d]", what, i), after[i], list[i])
		}
	}
	with := func(m *hxchat.Message, content string) *hxchat.Message {
		c := *m
		c.Content = content
		return &c
	}

	// An answer of the conversation is streaming: neither the question it
	// answers nor an earlier one can be edited.
	refused("EditTurn(question of the streaming answer)", with(getMessage(t, s, conv.ID, u2.ID), "edited"), hxchat.EConflict)
	refused("EditTurn(earlier question, an answer streaming)", with(getMessage(t, s, conv.ID, u1.ID), "edited"), hxchat.EConflict)

	finish(t, s, a2.ID, hxchat.StateDone, "now done")
	// Not a user message: an answer.
	refused("EditTurn(an answer)", with(getMessage(t, s, conv.ID, a1.ID), "edited"), hxchat.ENotFound)
	// A user message of another conversation, named as one of this one.
	forged := with(getMessage(t, s, b.ID, bUser.ID), "edited")
	forged.ConversationID = conv.ID
	refused("EditTurn(user message of another conversation)", forged, hxchat.ENotFound)
	// A user message of this conversation, named as one of another.
	moved := with(getMessage(t, s, conv.ID, u1.ID), "edited")
	moved.ConversationID = b.ID
	refused("EditTurn(user message, wrong conversation)", moved, hxchat.ENotFound)
	// Missing: no such message, no such conversation, no conversation given.
	missing := with(getMessage(t, s, conv.ID, u1.ID), "edited")
	missing.ID = bAnswer.ID + 1000
	refused("EditTurn(missing message)", missing, hxchat.ENotFound)
	ghost := with(getMessage(t, s, conv.ID, u1.ID), "edited")
	ghost.ConversationID = hxchat.NewID()
	refused("EditTurn(missing conversation)", ghost, hxchat.ENotFound)
	blank := with(getMessage(t, s, conv.ID, u1.ID), "edited")
	blank.ConversationID = ""
	refused("EditTurn(no conversation)", blank, hxchat.ENotFound)

	// Another conversation's streaming answer does not block this one.
	_, bStreaming := turn(t, s, b, "b again")
	user, answer := edit(t, s, conv.ID, u1.ID, "edited at last")
	if user.Content != "edited at last" || answer.ID <= bStreaming.ID {
		t.Errorf("EditTurn with another conversation streaming: user %+v, answer %+v", user, answer)
	}
	// And now this conversation streams again.
	refused("EditTurn(while the edit's answer streams)", with(user, "once more"), hxchat.EConflict)
	finish(t, s, answer.ID, hxchat.StateDone, "")
	finish(t, s, bStreaming.ID, hxchat.StateDone, "")
}

func testConversationOptions(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)

	// A conversation created without options has none.
	plain, _, _ := newConversation(t, s, sid, "no options")
	if c := getConversation(t, s, sid, plain.ID); c.SystemPrompt != "" || c.Model != "" {
		t.Errorf("conversation created without options: prompt %q, model %q; want empty", c.SystemPrompt, c.Model)
	}

	// StartTurn stores the options of a new conversation, and every lookup
	// returns them.
	tick()
	prompt := "You are a helpful assistant.\nAnswer briefly."
	conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, Title: "With options", SystemPrompt: prompt, Model: "gpt-4o-mini"}
	turn(t, s, conv, "hello")
	if conv.SystemPrompt != prompt || conv.Model != "gpt-4o-mini" {
		t.Errorf("conversation after StartTurn: prompt %q, model %q", conv.SystemPrompt, conv.Model)
	}
	wantConversation(t, "Conversation with options", *getConversation(t, s, sid, conv.ID), *conv)
	cs := getConversations(t, s, sid)
	wantIDs(t, "Conversations", cs, conv.ID, plain.ID)
	if len(cs) == 2 {
		wantConversation(t, "Conversations[0]", cs[0], *conv)
	}
	wantSearch(t, s, sid, "with options", conv.ID)

	// A second turn keeps them.
	loaded := getConversation(t, s, sid, conv.ID)
	turn(t, s, loaded, "again")
	if loaded.SystemPrompt != prompt || loaded.Model != "gpt-4o-mini" {
		t.Errorf("conversation after a second turn: prompt %q, model %q", loaded.SystemPrompt, loaded.Model)
	}
	*conv = *loaded

	// set sets the options of id and checks that only they changed.
	set := func(id, prompt, model string) {
		t.Helper()
		before := getConversation(t, s, sid, id)
		tick()
		if err := s.SetConversationOptions(ctx, sid, id, prompt, model); err != nil {
			t.Fatalf("SetConversationOptions(%s, %q): %v", short(prompt), model, err)
		}
		got := getConversation(t, s, sid, id)
		if got.SystemPrompt != prompt || got.Model != model {
			t.Errorf("SetConversationOptions: prompt %s, model %q; want %s, %q", short(got.SystemPrompt), got.Model, short(prompt), model)
		}
		w := *before
		w.SystemPrompt, w.Model = prompt, model
		wantConversation(t, "conversation after SetConversationOptions", *got, w)
		if !got.ChangedAt.After(before.UpdatedAt) || !got.ChangedAt.After(before.ChangedAt) {
			t.Errorf("SetConversationOptions: ChangedAt %v, not after the conversation's last change %v, %v", got.ChangedAt, before.UpdatedAt, before.ChangedAt)
		}
	}

	// Japanese, several lines, spaces around: stored exactly. The older
	// conversation stays last: UpdatedAt does not move.
	ja := "  あなたは丁寧な日本語で答えるアシスタントです。\n\n- 箇条書きで\n- 絵文字 🍣 は使わない\n\t"
	set(plain.ID, ja, "gpt-4o")
	wantIDs(t, "Conversations after SetConversationOptions", getConversations(t, s, sid), conv.ID, plain.ID)
	cs = getConversations(t, s, sid)
	if len(cs) == 2 && (cs[1].SystemPrompt != ja || cs[1].Model != "gpt-4o") {
		t.Errorf("Conversations[1]: prompt %q, model %q", cs[1].SystemPrompt, cs[1].Model)
	}
	found := search(t, s, sid, "no options")
	if len(found) != 1 || found[0].SystemPrompt != ja || found[0].Model != "gpt-4o" {
		t.Errorf("SearchConversations after SetConversationOptions = %+v", found)
	}
	// The prompt is not a message: searching for it finds nothing.
	wantSearch(t, s, sid, "箇条書き")
	// The same again, then back to nothing: the defaults.
	set(plain.ID, ja, "gpt-4o")
	set(plain.ID, "", "")
	// The longest prompt accepted: 32 KiB exactly, multi-byte.
	longest := strings.Repeat("あ", 32<<10/3) + "ab"
	if len(longest) != 32<<10 {
		t.Fatalf("test prompt is %d bytes", len(longest))
	}
	set(conv.ID, longest, "gpt-4o-mini")
	wantIDs(t, "Conversations after setting the longest prompt", getConversations(t, s, sid), conv.ID, plain.ID)

	// The messages are untouched, and a new turn uses what was set.
	if ms := getMessages(t, s, conv.ID); len(ms) != 4 {
		t.Errorf("Messages after SetConversationOptions: %d, want 4", len(ms))
	}
	loaded = getConversation(t, s, sid, conv.ID)
	turn(t, s, loaded, "a third turn")
	if loaded.SystemPrompt != longest || loaded.Model != "gpt-4o-mini" {
		t.Errorf("conversation after a turn: prompt %s, model %q", short(loaded.SystemPrompt), loaded.Model)
	}
}

func testOptionsRefused(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid, other := newSession(t, s), newSession(t, s)
	mine, _, _ := newConversation(t, s, sid, "mine")
	if err := s.SetConversationOptions(ctx, sid, mine.ID, "Be brief.", "gpt-4o"); err != nil {
		t.Fatalf("SetConversationOptions: %v", err)
	}
	theirs := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: other, SystemPrompt: "Theirs.", Model: "their-model"}
	turn(t, s, theirs, "theirs")
	before := getConversation(t, s, sid, mine.ID)

	refused := func(what string, err error, code hxchat.ErrorCode) {
		t.Helper()
		wantCode(t, what, err, code)
		if _, ok := errors.AsType[*hxchat.Error](err); err != nil && !ok {
			t.Errorf("%s: %T, want an *hxchat.Error", what, err)
		}
	}
	// Over 32 KiB, by one byte: too large.
	tooLarge := strings.Repeat("x", 32<<10+1)
	refused("SetConversationOptions(32 KiB + 1)", s.SetConversationOptions(ctx, sid, mine.ID, tooLarge, "gpt-4o"), hxchat.ETooLarge)
	refused("SetConversationOptions(1 MiB)", s.SetConversationOptions(ctx, sid, mine.ID, strings.Repeat("長", 1<<20/3), ""), hxchat.ETooLarge)

	// Another session's conversation, a missing one, an unknown session.
	for _, tc := range []struct{ what, session, id string }{
		{"another session's conversation", sid, theirs.ID},
		{"my conversation, by another session", other, mine.ID},
		{"a missing conversation", sid, hxchat.NewID()},
		{"an unknown session", hxchat.NewID(), mine.ID},
	} {
		refused("SetConversationOptions of "+tc.what, s.SetConversationOptions(ctx, tc.session, tc.id, "Hijacked", "evil"), hxchat.ENotFound)
	}
	wantConversation(t, "my conversation after refused options", *getConversation(t, s, sid, mine.ID), *before)
	wantConversation(t, "their conversation after refused options", *getConversation(t, s, other, theirs.ID), *theirs)
}

// branchIDs returns the ids of the branch of conv that the store shows.
func branchIDs(t *testing.T, s hxchat.Store, session, conv string) []int64 {
	t.Helper()
	c := getConversation(t, s, session, conv)
	var ids []int64
	for _, m := range hxchat.NewThread(getMessages(t, s, conv)).Branch(c.CurrentID) {
		ids = append(ids, m.ID)
	}
	return ids
}

func wantBranch(t *testing.T, s hxchat.Store, session, conv string, ids ...int64) {
	t.Helper()
	if got := branchIDs(t, s, session, conv); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("branch shown = %v, want %v", got, ids)
	}
}

// testVersions: a conversation of three turns whose first question is
// edited keeps the old branch; choosing it brings it back, and the choice
// is stored; a turn follows the branch chosen, or the message named.
func testVersions(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid := newSession(t, s)
	conv, u1, a1 := newConversation(t, s, sid, "one")
	finish(t, s, a1.ID, hxchat.StateDone, "answer one")
	u2, a2 := turn(t, s, conv, "two")
	finish(t, s, a2.ID, hxchat.StateDone, "answer two")
	u3, a3 := turn(t, s, conv, "three")
	finish(t, s, a3.ID, hxchat.StateDone, "answer three")
	wantBranch(t, s, sid, conv.ID, u1.ID, a1.ID, u2.ID, a2.ID, u3.ID, a3.ID)

	e1, ea1 := edit(t, s, conv.ID, u1.ID, "one, edited")
	finish(t, s, ea1.ID, hxchat.StateDone, "answer to the edit")
	wantBranch(t, s, sid, conv.ID, e1.ID, ea1.ID)

	// Back to the first version: its latest leaf, the third answer.
	tick()
	listed := getConversation(t, s, sid, conv.ID)
	if err := s.SelectBranch(ctx, sid, conv.ID, a3.ID); err != nil {
		t.Fatalf("SelectBranch: %v", err)
	}
	wantBranch(t, s, sid, conv.ID, u1.ID, a1.ID, u2.ID, a2.ID, u3.ID, a3.ID)
	got := getConversation(t, s, sid, conv.ID)
	w := *listed
	w.CurrentID = a3.ID
	wantConversation(t, "conversation after SelectBranch (UpdatedAt unchanged)", *got, w)
	if cs := getConversations(t, s, sid); len(cs) != 1 || cs[0].CurrentID != a3.ID {
		t.Errorf("Conversations after SelectBranch = %+v", cs)
	}

	// Regenerate the second answer there: a third branch, shown.
	finish(t, s, func() int64 {
		r := &hxchat.Message{Model: "m"}
		if err := s.RestartAnswer(ctx, getMessage(t, s, conv.ID, a2.ID), r); err != nil {
			t.Fatalf("RestartAnswer(an earlier answer): %v", err)
		}
		if r.ParentID != u2.ID {
			t.Errorf("regenerated answer follows %d, want %d", r.ParentID, u2.ID)
		}
		wantBranch(t, s, sid, conv.ID, u1.ID, a1.ID, u2.ID, r.ID)
		return r.ID
	}(), hxchat.StateDone, "answer two again")
	r2 := getConversation(t, s, sid, conv.ID).CurrentID

	// A new turn follows the branch shown (ParentID 0)...
	u4, a4 := turn(t, s, conv, "four")
	if u4.ParentID != r2 || a4.ParentID != u4.ID || conv.CurrentID != a4.ID {
		t.Errorf("turn after the branch shown: question after %d (want %d), answer after %d, current %d", u4.ParentID, r2, a4.ParentID, conv.CurrentID)
	}
	finish(t, s, a4.ID, hxchat.StateDone, "answer four")
	wantBranch(t, s, sid, conv.ID, u1.ID, a1.ID, u2.ID, r2, u4.ID, a4.ID)
	// ...or the message named, which need not be shown.
	loaded := getConversation(t, s, sid, conv.ID)
	u5 := &hxchat.Message{Content: "five", ParentID: ea1.ID}
	a5 := &hxchat.Message{}
	if err := s.StartTurn(ctx, loaded, u5, a5); err != nil {
		t.Fatalf("StartTurn after a named message: %v", err)
	}
	if u5.ParentID != ea1.ID || a5.ParentID != u5.ID || loaded.CurrentID != a5.ID {
		t.Errorf("turn after a named message: question after %d, answer after %d, current %d", u5.ParentID, a5.ParentID, loaded.CurrentID)
	}
	wantBranch(t, s, sid, conv.ID, e1.ID, ea1.ID, u5.ID, a5.ID)
	finish(t, s, a5.ID, hxchat.StateDone, "answer five")

	// A turn after a message of another conversation, or a missing one:
	// not found, nothing stored.
	b, _, bAnswer := newConversation(t, s, sid, "b")
	finish(t, s, bAnswer.ID, hxchat.StateDone, "b")
	n := len(getMessages(t, s, conv.ID))
	for _, parent := range []int64{bAnswer.ID, bAnswer.ID + 1000} {
		c := getConversation(t, s, sid, conv.ID)
		err := s.StartTurn(ctx, c, &hxchat.Message{Content: "lost", ParentID: parent}, &hxchat.Message{})
		wantCode(t, fmt.Sprintf("StartTurn after message %d of no conversation or another", parent), err, hxchat.ENotFound)
	}
	if got := len(getMessages(t, s, conv.ID)); got != n {
		t.Errorf("refused turns stored messages: %d, was %d", got, n)
	}
	wantBranch(t, s, sid, conv.ID, e1.ID, ea1.ID, u5.ID, a5.ID)
	wantBranch(t, s, sid, b.ID, getMessages(t, s, b.ID)[0].ID, bAnswer.ID)
}

// testSelectBranchRefused: only the owner may choose a branch, and only
// among the conversation's own messages.
func testSelectBranchRefused(t *testing.T, s hxchat.Store) {
	ctx := t.Context()
	sid, other := newSession(t, s), newSession(t, s)
	mine, mu, ma := newConversation(t, s, sid, "mine")
	finish(t, s, ma.ID, hxchat.StateDone, "a")
	theirs, _, ta := newConversation(t, s, other, "theirs")
	before := getConversation(t, s, sid, mine.ID)
	for _, tc := range []struct {
		what, session, conv string
		id                  int64
	}{
		{"another session's message, in my conversation", sid, mine.ID, ta.ID},
		{"my conversation, by another session", other, mine.ID, ma.ID},
		{"another session's conversation", sid, theirs.ID, ta.ID},
		{"a missing message", sid, mine.ID, ta.ID + 1000},
		{"a missing conversation", sid, hxchat.NewID(), ma.ID},
		{"message 0", sid, mine.ID, 0},
	} {
		err := s.SelectBranch(ctx, tc.session, tc.conv, tc.id)
		wantCode(t, "SelectBranch of "+tc.what, err, hxchat.ENotFound)
	}
	wantConversation(t, "my conversation after refused SelectBranch", *getConversation(t, s, sid, mine.ID), *before)
	wantConversation(t, "their conversation after refused SelectBranch", *getConversation(t, s, other, theirs.ID), *theirs)
	// A message that is not a leaf may be chosen: the branch goes on to its
	// latest leaf.
	if err := s.SelectBranch(ctx, sid, mine.ID, mu.ID); err != nil {
		t.Fatalf("SelectBranch(question): %v", err)
	}
	wantBranch(t, s, sid, mine.ID, mu.ID, ma.ID)
}

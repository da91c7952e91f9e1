package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hxchat/hxchat"
)

// The operations of the store, as the label op says them.
const (
	opCreateSession = iota
	opSessionExists
	opConversation
	opConversations
	opSearch
	opRename
	opDelete
	opMessages
	opMessage
	opStartTurn
	opRestartAnswer
	opEditTurn
	opSelectBranch
	opSetOptions
	opCheckpoint
	opFinishAnswer
	opInterruptStreaming
	opPing
	opOwnedMessage
	numOps
)

var opNames = [numOps]string{
	"create_session", "session_exists", "conversation", "conversations", "search",
	"rename_conversation", "delete_conversation", "messages", "message", "start_turn",
	"restart_answer", "edit_turn", "select_branch", "set_conversation_options", "checkpoint",
	"finish_answer", "interrupt_streaming", "ping", "owned_message",
}

// Store returns s with every call timed into hxchat_store_duration_seconds
// and every failure counted into hxchat_store_errors_total, by operation (a
// call whose caller went away, context.Canceled, is no failure of the store).
// Checkpoint and Checkpoints are both "checkpoint". It answers Ping when s
// does (hxchat.Pinger). A method that hxchat.Store gains later is passed on
// to s untimed until it is added here; a method of s beyond hxchat.Store is
// reached through Unwrap. On a nil *Metrics it returns s itself.
func (m *Metrics) Store(s hxchat.Store) hxchat.Store {
	if m == nil {
		return s
	}
	t := &timedStore{Store: s}
	for i, name := range opNames {
		t.ops[i] = timedOp{m.storeSeconds.WithLabelValues(name), m.storeErrors.WithLabelValues(name)}
	}
	return t
}

// timedStore times the calls of the Store it embeds.
type timedStore struct {
	hxchat.Store
	ops [numOps]timedOp
}

// timedOp is the series of one operation, resolved once.
type timedOp struct {
	seconds prometheus.Observer
	errors  prometheus.Counter
}

// Unwrap returns the store underneath.
func (t *timedStore) Unwrap() hxchat.Store { return t.Store }

// done records a call of op that began at start and returned err.
func (t *timedStore) done(op int, start time.Time, err error) {
	o := &t.ops[op]
	o.seconds.Observe(time.Since(start).Seconds())
	if err == nil {
		return
	}
	if c := hxchat.Code(err); c == hxchat.ENotFound || c == hxchat.EConflict || errors.Is(err, context.Canceled) {
		return
	}
	o.errors.Inc()
}

// Ping asks the store underneath whether its database answers; a store that
// cannot tell is taken to answer.
func (t *timedStore) Ping(ctx context.Context) error {
	p, ok := t.Store.(hxchat.Pinger)
	if !ok {
		return nil
	}
	start := time.Now()
	err := p.Ping(ctx)
	t.done(opPing, start, err)
	return err
}

func (t *timedStore) CreateSession(ctx context.Context, id string) error {
	start := time.Now()
	err := t.Store.CreateSession(ctx, id)
	t.done(opCreateSession, start, err)
	return err
}

func (t *timedStore) SessionExists(ctx context.Context, id string) (bool, error) {
	start := time.Now()
	ok, err := t.Store.SessionExists(ctx, id)
	t.done(opSessionExists, start, err)
	return ok, err
}

func (t *timedStore) Conversation(ctx context.Context, sessionID, id string) (*hxchat.Conversation, error) {
	start := time.Now()
	c, err := t.Store.Conversation(ctx, sessionID, id)
	t.done(opConversation, start, err)
	return c, err
}

func (t *timedStore) Conversations(ctx context.Context, sessionID string) ([]hxchat.Conversation, error) {
	start := time.Now()
	cs, err := t.Store.Conversations(ctx, sessionID)
	t.done(opConversations, start, err)
	return cs, err
}

func (t *timedStore) SearchConversations(ctx context.Context, sessionID, query string) ([]hxchat.Conversation, error) {
	start := time.Now()
	cs, err := t.Store.SearchConversations(ctx, sessionID, query)
	t.done(opSearch, start, err)
	return cs, err
}

func (t *timedStore) RenameConversation(ctx context.Context, sessionID, id, title string) error {
	start := time.Now()
	err := t.Store.RenameConversation(ctx, sessionID, id, title)
	t.done(opRename, start, err)
	return err
}

func (t *timedStore) DeleteConversation(ctx context.Context, sessionID, id string) error {
	start := time.Now()
	err := t.Store.DeleteConversation(ctx, sessionID, id)
	t.done(opDelete, start, err)
	return err
}

func (t *timedStore) Messages(ctx context.Context, conversationID string) ([]hxchat.Message, error) {
	start := time.Now()
	ms, err := t.Store.Messages(ctx, conversationID)
	t.done(opMessages, start, err)
	return ms, err
}

func (t *timedStore) Message(ctx context.Context, conversationID string, id int64) (*hxchat.Message, error) {
	start := time.Now()
	msg, err := t.Store.Message(ctx, conversationID, id)
	t.done(opMessage, start, err)
	return msg, err
}

func (t *timedStore) OwnedMessage(ctx context.Context, sessionID, conversationID string, id int64) (*hxchat.Message, error) {
	start := time.Now()
	msg, err := t.Store.OwnedMessage(ctx, sessionID, conversationID, id)
	t.done(opOwnedMessage, start, err)
	return msg, err
}

func (t *timedStore) StartTurn(ctx context.Context, conv *hxchat.Conversation, user, answer *hxchat.Message) error {
	start := time.Now()
	err := t.Store.StartTurn(ctx, conv, user, answer)
	t.done(opStartTurn, start, err)
	return err
}

func (t *timedStore) RestartAnswer(ctx context.Context, old, answer *hxchat.Message) error {
	start := time.Now()
	err := t.Store.RestartAnswer(ctx, old, answer)
	t.done(opRestartAnswer, start, err)
	return err
}

func (t *timedStore) EditTurn(ctx context.Context, user, answer *hxchat.Message) error {
	start := time.Now()
	err := t.Store.EditTurn(ctx, user, answer)
	t.done(opEditTurn, start, err)
	return err
}

func (t *timedStore) SelectBranch(ctx context.Context, sessionID, conversationID string, id int64) error {
	start := time.Now()
	err := t.Store.SelectBranch(ctx, sessionID, conversationID, id)
	t.done(opSelectBranch, start, err)
	return err
}

func (t *timedStore) SetConversationOptions(ctx context.Context, sessionID, id, systemPrompt, model string) error {
	start := time.Now()
	err := t.Store.SetConversationOptions(ctx, sessionID, id, systemPrompt, model)
	t.done(opSetOptions, start, err)
	return err
}

func (t *timedStore) Checkpoint(ctx context.Context, id int64, content string) error {
	start := time.Now()
	err := t.Store.Checkpoint(ctx, id, content)
	t.done(opCheckpoint, start, err)
	return err
}

func (t *timedStore) Checkpoints(ctx context.Context, parts []hxchat.Partial) error {
	start := time.Now()
	err := t.Store.Checkpoints(ctx, parts)
	t.done(opCheckpoint, start, err)
	return err
}

func (t *timedStore) FinishAnswer(ctx context.Context, msg *hxchat.Message) error {
	start := time.Now()
	err := t.Store.FinishAnswer(ctx, msg)
	t.done(opFinishAnswer, start, err)
	return err
}

func (t *timedStore) InterruptStreaming(ctx context.Context) (int, error) {
	start := time.Now()
	n, err := t.Store.InterruptStreaming(ctx)
	t.done(opInterruptStreaming, start, err)
	return n, err
}

package postgres_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/postgres"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// replicas opens n stores on one fresh schema, as n processes would.
func replicas(t *testing.T, n int) []*postgres.Store {
	t.Helper()
	url := pgtest.URL(t)
	var ss []*postgres.Store
	for range n {
		s, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		ss = append(ss, s)
	}
	return ss
}

// startAnswer stores a turn of a new conversation of session on s and
// returns the streaming answer.
func startAnswer(t *testing.T, s *postgres.Store, session string) *hxchat.Message {
	t.Helper()
	conv := &hxchat.Conversation{SessionID: session}
	user := &hxchat.Message{Role: hxchat.RoleUser, Content: "Hello?", State: hxchat.StateDone}
	answer := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
	if err := s.StartTurn(t.Context(), conv, user, answer); err != nil {
		t.Fatalf("StartTurn: %v", err)
	}
	return answer
}

// state returns the stored state and text of message m.
func state(t *testing.T, s *postgres.Store, m *hxchat.Message) (hxchat.State, string) {
	t.Helper()
	got, err := s.Message(t.Context(), m.ConversationID, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got.State, got.Content
}

// TestLeaseTakenAfterTTL: an answer started by replica A holds A's lease;
// B finds A as its owner and does not take it while A's heartbeat goes on,
// however often B sweeps. Once A is silent, B takes it only after the TTL:
// stored interrupted with its last checkpoint, after which A's own end
// changes nothing (EConflict) and the answer has no owner.
func TestLeaseTakenAfterTTL(t *testing.T) {
	ss := replicas(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()
	aID, err := a.Join(ctx, "http://a.invalid:8080")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, "http://b.invalid:8080"); err != nil {
		t.Fatal(err)
	}
	answer := startAnswer(t, a, "s1")
	if err := a.Checkpoint(ctx, answer.ID, "So far"); err != nil {
		t.Fatal(err)
	}
	const ttl = 600 * time.Millisecond
	owner, ok, err := b.Owner(ctx, answer.ID, ttl)
	if err != nil || !ok || owner.ID != aID || owner.URL != "http://a.invalid:8080" {
		t.Fatalf("Owner = %+v, %v, %v; want A", owner, ok, err)
	}

	// A beats every 100 ms for five TTLs; B sweeps every 20 ms.
	end := time.Now().Add(5 * ttl)
	for next := time.Now(); time.Now().Before(end); {
		if time.Now().After(next) {
			if err := a.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			next = time.Now().Add(100 * time.Millisecond)
		}
		if n, err := b.TakeExpired(ctx, ttl); err != nil || n != 0 {
			t.Fatalf("TakeExpired while A beats = %d, %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A falls silent now.
	if err := a.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	silent := time.Now()
	taken := 0
	for taken == 0 {
		n, err := b.TakeExpired(ctx, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && time.Since(silent) < ttl {
			t.Fatalf("taken %v after A's last heartbeat, before the TTL of %v", time.Since(silent), ttl)
		}
		taken = n
		if time.Since(silent) > 3*ttl {
			t.Fatal("not taken within three TTLs")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if taken != 1 {
		t.Errorf("taken %d answers, want 1", taken)
	}
	if st, text := state(t, b, answer); st != hxchat.StateInterrupted || text != "So far" {
		t.Errorf("after takeover: %s %q, want interrupted %q", st, text, "So far")
	}
	if _, ok, _ := b.Owner(ctx, answer.ID, ttl); ok {
		t.Error("a taken answer still has an owner")
	}
	// A, cut off, ends its answer late: nothing changes.
	late := *answer
	late.State, late.Content = hxchat.StateDone, "So far, and more"
	if err := a.FinishAnswer(ctx, &late); hxchat.Code(err) != hxchat.EConflict {
		t.Errorf("FinishAnswer after takeover: %v, want a conflict", err)
	}
	if err := a.Checkpoint(ctx, answer.ID, "So far, and more"); err != nil {
		t.Fatal(err)
	}
	if st, text := state(t, b, answer); st != hxchat.StateInterrupted || text != "So far" {
		t.Errorf("after A's late writes: %s %q", st, text)
	}
	// A comes back: its heartbeat brings its row back, and its next
	// answers hold its lease again.
	if err := a.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	next := startAnswer(t, a, "s1")
	if owner, ok, _ := b.Owner(ctx, next.ID, ttl); !ok || owner.ID != aID {
		t.Errorf("A's answer after its return: owner %+v, %v", owner, ok)
	}
}

// TestLeaseNone: an answer that holds no lease (stored by a process that did
// not join, as before replicas) is taken by the first sweep; one whose
// replica left is taken at once too. Final answers are never touched.
func TestLeaseNone(t *testing.T) {
	ss := replicas(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()
	orphan := startAnswer(t, a, "s1")
	done := startAnswer(t, a, "s1")
	done.State, done.Content = hxchat.StateDone, "Finished."
	if err := a.FinishAnswer(ctx, done); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, "http://b.invalid"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Owner(ctx, orphan.ID, time.Minute); ok {
		t.Error("an answer without a lease has an owner")
	}
	if n, err := b.TakeExpired(ctx, time.Minute); err != nil || n != 1 {
		t.Fatalf("TakeExpired = %d, %v; want the answer without a lease", n, err)
	}
	if st, _ := state(t, b, done); st != hxchat.StateDone {
		t.Errorf("a finished answer became %s", st)
	}

	if _, err := a.Join(ctx, "http://a.invalid"); err != nil {
		t.Fatal(err)
	}
	left := startAnswer(t, a, "s2")
	if n, _ := b.TakeExpired(ctx, time.Minute); n != 0 {
		t.Fatalf("took %d answers of a live replica", n)
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.TakeExpired(ctx, time.Minute); err != nil || n != 1 {
		t.Fatalf("TakeExpired after A left = %d, %v", n, err)
	}
	if st, _ := state(t, b, left); st != hxchat.StateInterrupted {
		t.Errorf("the answer of a replica that left is %s", st)
	}
}

// TestLeaseRestartAndEdit: Retry (RestartAnswer) and Edit (EditTurn) start
// answers that hold the lease of the replica that stores them.
func TestLeaseRestartAndEdit(t *testing.T) {
	ss := replicas(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()
	bID, err := b.Join(ctx, "http://b.invalid")
	if err != nil {
		t.Fatal(err)
	}
	first := startAnswer(t, b, "s1")
	first.State = hxchat.StateStopped
	if err := b.FinishAnswer(ctx, first); err != nil {
		t.Fatal(err)
	}
	retry := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
	if err := b.RestartAnswer(ctx, first, retry); err != nil {
		t.Fatal(err)
	}
	if owner, ok, _ := a.Owner(ctx, retry.ID, time.Minute); !ok || owner.ID != bID {
		t.Errorf("Retry's answer: owner %+v, %v", owner, ok)
	}
	retry.State = hxchat.StateDone
	if err := b.FinishAnswer(ctx, retry); err != nil {
		t.Fatal(err)
	}
	user := &hxchat.Message{ID: first.ParentID, ConversationID: first.ConversationID, Content: "Hello again?"}
	edit := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
	if err := b.EditTurn(ctx, user, edit); err != nil {
		t.Fatal(err)
	}
	if owner, ok, _ := a.Owner(ctx, edit.ID, time.Minute); !ok || owner.ID != bID {
		t.Errorf("Edit's answer: owner %+v, %v", owner, ok)
	}
}

// TestClusterSecret: every replica gets the same random secret, also when
// they ask together on a new database.
func TestClusterSecret(t *testing.T) {
	ss := replicas(t, 3)
	secrets := make([][]byte, len(ss))
	errs := make([]error, len(ss))
	done := make(chan int)
	for i, s := range ss {
		go func() { secrets[i], errs[i] = s.Secret(context.Background()); done <- i }()
	}
	for range ss {
		<-done
	}
	for i := range ss {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(secrets[i]) != 32 || !bytes.Equal(secrets[i], secrets[0]) {
			t.Errorf("replica %d's secret %x, replica 0's %x", i, secrets[i], secrets[0])
		}
	}
	if bytes.Equal(secrets[0], make([]byte, 32)) {
		t.Error("the secret is all zeros")
	}
}

// TestStreamingAnswers counts a session's running answers on every replica.
func TestStreamingAnswers(t *testing.T) {
	ss := replicas(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()
	a.Join(ctx, "http://a.invalid")
	b.Join(ctx, "http://b.invalid")
	startAnswer(t, a, "s1")
	m := startAnswer(t, b, "s1")
	startAnswer(t, b, "s2")
	if n, err := a.StreamingAnswers(ctx, "s1"); err != nil || n != 2 {
		t.Errorf("StreamingAnswers(s1) = %d, %v; want 2", n, err)
	}
	m.State = hxchat.StateDone
	if err := b.FinishAnswer(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.StreamingAnswers(ctx, "s1"); n != 1 {
		t.Errorf("after one ended: %d, want 1", n)
	}
}

// TestOwnedAnswer: a stream's request on replica B finds, in one query, the
// answer that its session owns and the replica A that generates it, as
// OwnedMessage and Owner would; another session's answer is not found; an
// ended answer, or one whose replica is silent for the TTL, has no owner.
func TestOwnedAnswer(t *testing.T) {
	ss := replicas(t, 2)
	a, b := ss[0], ss[1]
	ctx := t.Context()
	idA, err := a.Join(ctx, "http://a")
	if err != nil {
		t.Fatal(err)
	}
	session := hxchat.NewID()
	m := startAnswer(t, a, session)
	got, r, ok, err := b.OwnedAnswer(ctx, session, m.ConversationID, m.ID, time.Minute)
	if err != nil || !ok || r != (hxchat.Replica{ID: idA, URL: "http://a"}) {
		t.Fatalf("OwnedAnswer = %v, %v, %v; want replica A", r, ok, err)
	}
	want, err := b.OwnedMessage(ctx, session, m.ConversationID, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *want {
		t.Errorf("OwnedAnswer's message %+v, OwnedMessage's %+v", got, want)
	}
	if _, _, _, err := b.OwnedAnswer(ctx, hxchat.NewID(), m.ConversationID, m.ID, time.Minute); hxchat.Code(err) != hxchat.ENotFound {
		t.Errorf("another session's answer: %v, want ENotFound", err)
	}
	if _, _, _, err := b.OwnedAnswer(ctx, session, hxchat.NewID(), m.ID, time.Minute); hxchat.Code(err) != hxchat.ENotFound {
		t.Errorf("an answer under another conversation: %v, want ENotFound", err)
	}
	time.Sleep(20 * time.Millisecond)
	if got, _, ok, err := b.OwnedAnswer(ctx, session, m.ConversationID, m.ID, 10*time.Millisecond); err != nil || ok || got.ID != m.ID {
		t.Errorf("a silent replica's answer: %v, %v; want the answer, without owner", ok, err)
	}
	m.State = hxchat.StateDone
	if err := a.FinishAnswer(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, _, ok, err := b.OwnedAnswer(ctx, session, m.ConversationID, m.ID, time.Minute); err != nil || ok || got.State != hxchat.StateDone {
		t.Errorf("an ended answer: %+v, %v, %v; want it done, without owner", got, ok, err)
	}
}

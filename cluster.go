package hxchat

import (
	"context"
	"time"
)

// Cluster is what a Store that several replicas of hxchat share offers
// besides the Store: postgres.Store implements it, sqlite.Store does not
// (SQLite serves one process). Callers find it with a type assertion on
// their Store.
//
// A replica joins with a random id and the URL where the others reach it.
// Every answer it starts from then on holds its lease: the answer names the
// replica, in the same transaction that stores it (StartTurn, RestartAnswer,
// EditTurn). The replica renews all its leases at once with a heartbeat, one
// write whatever the number of answers or tokens. An answer whose replica
// has not been seen for a time (the lease's TTL) is taken by any replica:
// stored interrupted, with the text of its last checkpoint.
type Cluster interface {
	// Join records this process as a live replica reachable at url, under
	// a new random id, which it returns. Answers that the store starts
	// afterwards hold this replica's lease.
	Join(ctx context.Context, url string) (id string, err error)
	// Heartbeat renews the joined replica's leases: one write that says it
	// is alive now, by the database's clock.
	Heartbeat(ctx context.Context) error
	// Leave removes the joined replica (on a clean exit, once its answers
	// have ended); answers that still name it are then taken at once.
	Leave(ctx context.Context) error
	// TakeExpired stores as interrupted, with the text of their last
	// checkpoint, the streaming answers whose replica has not been seen for
	// ttl or longer, or that hold no lease at all, in one statement; it
	// returns how many.
	TakeExpired(ctx context.Context, ttl time.Duration) (int, error)
	// Owner returns the replica whose lease answer id holds, if the answer
	// is streaming and that replica was seen within ttl; ok is false
	// otherwise (the answer is final, or its lease has expired).
	Owner(ctx context.Context, id int64, ttl time.Duration) (r Replica, ok bool, err error)
	// OwnedAnswer is Store.OwnedMessage and Owner in one query, for the
	// stream of an answer that a reader asks of a replica that does not
	// generate it: the message id of conversation conversationID if
	// sessionID owns the conversation (else ENotFound), and the replica
	// whose lease it holds, as Owner returns it.
	OwnedAnswer(ctx context.Context, sessionID, conversationID string, id int64, ttl time.Duration) (m *Message, r Replica, ok bool, err error)
	// Secret returns the key that the replicas' internal requests carry:
	// random, made by the first replica and stored, the same for all.
	Secret(ctx context.Context) ([]byte, error)
	// StreamingAnswers counts the answers being written, on every replica,
	// in the conversations of session (the owner of Runner's limits).
	StreamingAnswers(ctx context.Context, session string) (int, error)
}

// Replica is one process of hxchat that shares the store with others.
type Replica struct {
	ID  string // random, new at every start
	URL string // where the other replicas reach it, like http://10.0.0.5:8080
}

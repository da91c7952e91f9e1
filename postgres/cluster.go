package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat"
)

var _ hxchat.Cluster = (*Store)(nil)

// Join implements hxchat.Cluster: it records the replica in the replicas
// table, seen now, and from then on every streaming answer this store
// inserts names it in messages.replica_id.
func (s *Store) Join(ctx context.Context, url string) (string, error) {
	r := &hxchat.Replica{ID: hxchat.NewID(), URL: url}
	if err := s.beat(ctx, r); err != nil {
		return "", wrap("join", err)
	}
	s.replica.Store(r)
	return r.ID, nil
}

// Heartbeat implements hxchat.Cluster: one upsert of the replica's row, so
// that a replica whose row another one removed (it was silent for longer
// than the TTL) is back as soon as it can write.
func (s *Store) Heartbeat(ctx context.Context) error {
	r := s.replica.Load()
	if r == nil {
		return invalid("Heartbeat before Join.")
	}
	if err := s.beat(ctx, r); err != nil {
		return wrap("heartbeat", err)
	}
	return nil
}

// beat says that replica r is alive now, by the database's clock.
func (s *Store) beat(ctx context.Context, r *hxchat.Replica) error {
	_, err := s.beats.Exec(ctx, "INSERT INTO replicas (id, url, seen_at) VALUES ($1, $2, clock_timestamp()) "+
		"ON CONFLICT (id) DO UPDATE SET url = excluded.url, seen_at = excluded.seen_at", r.ID, r.URL)
	return err
}

// Leave implements hxchat.Cluster.
func (s *Store) Leave(ctx context.Context) error {
	r := s.replica.Load()
	if r == nil {
		return nil
	}
	if _, err := s.beats.Exec(ctx, "DELETE FROM replicas WHERE id = $1", r.ID); err != nil {
		return wrap("leave", err)
	}
	return nil
}

// takeSQL stores as interrupted the streaming answers whose replica was not
// seen within the TTL ($2, in microseconds), or holds no lease, and removes
// the rows of replicas that silent, in one statement. The streaming answers
// are few, and found through the partial index messages_streaming; a sweep
// that finds nothing to take writes nothing.
const takeSQL = "WITH gone AS (DELETE FROM replicas WHERE seen_at <= clock_timestamp() - $2 * interval '1 microsecond') " +
	"UPDATE messages m SET state = 'interrupted', updated_at = $1 " +
	"WHERE m.state = 'streaming' AND NOT EXISTS (SELECT 1 FROM replicas r " +
	"WHERE r.id = m.replica_id AND r.seen_at > clock_timestamp() - $2 * interval '1 microsecond')"

// TakeExpired implements hxchat.Cluster.
func (s *Store) TakeExpired(ctx context.Context, ttl time.Duration) (int, error) {
	tag, err := s.beats.Exec(ctx, takeSQL, now(), ttl.Microseconds())
	if err != nil {
		return 0, wrap("take expired answers", err)
	}
	return int(tag.RowsAffected()), nil
}

// Owner implements hxchat.Cluster.
func (s *Store) Owner(ctx context.Context, id int64, ttl time.Duration) (hxchat.Replica, bool, error) {
	var r hxchat.Replica
	err := s.pool.QueryRow(ctx, "SELECT r.id, r.url FROM messages m JOIN replicas r ON r.id = m.replica_id "+
		"WHERE m.id = $1 AND m.state = 'streaming' AND r.seen_at > clock_timestamp() - $2 * interval '1 microsecond'",
		id, ttl.Microseconds()).Scan(&r.ID, &r.URL)
	if errors.Is(err, pgx.ErrNoRows) {
		return hxchat.Replica{}, false, nil
	}
	if err != nil {
		return hxchat.Replica{}, false, wrap("owner", err)
	}
	return r, true, nil
}

// OwnedAnswer implements hxchat.Cluster: OwnedMessage's query with Owner's
// join, one round trip where a relayed stream's request made two.
func (s *Store) OwnedAnswer(ctx context.Context, sessionID, conversationID string, id int64, ttl time.Duration) (*hxchat.Message, hxchat.Replica, bool, error) {
	var m hxchat.Message
	var rid, url *string
	err := scanMessage(s.pool.QueryRow(ctx,
		"SELECT "+messageColumns+", r.id, r.url FROM messages m JOIN conversations c ON c.id = m.conversation_id "+
			"LEFT JOIN replicas r ON r.id = m.replica_id AND m.state = 'streaming' "+
			"AND r.seen_at > clock_timestamp() - $4 * interval '1 microsecond' "+
			"WHERE m.id = $1 AND m.conversation_id = $2 AND c.session_id = $3",
		id, text(conversationID), text(sessionID), ttl.Microseconds()), &m, &rid, &url)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hxchat.Replica{}, false, hxchat.ErrNotFound
	}
	if err != nil {
		return nil, hxchat.Replica{}, false, wrap("owned answer", err)
	}
	if rid == nil {
		return &m, hxchat.Replica{}, false, nil
	}
	return &m, hxchat.Replica{ID: *rid, URL: *url}, true, nil
}

// Secret implements hxchat.Cluster: 32 random bytes, stored by the first
// replica that asks; replicas that ask together get the same.
func (s *Store) Secret(ctx context.Context) ([]byte, error) {
	b := make([]byte, 32)
	rand.Read(b)
	// Two statements: the SELECT, a statement of its own, sees the row of
	// a replica whose INSERT this one's waited for.
	if _, err := s.pool.Exec(ctx, "INSERT INTO cluster_secret (secret) VALUES ($1) ON CONFLICT (one) DO NOTHING", b); err != nil {
		return nil, wrap("cluster secret", err)
	}
	var secret []byte
	if err := s.pool.QueryRow(ctx, "SELECT secret FROM cluster_secret").Scan(&secret); err != nil {
		return nil, wrap("cluster secret", err)
	}
	return secret, nil
}

// StreamingAnswers implements hxchat.Cluster.
func (s *Store) StreamingAnswers(ctx context.Context, session string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "+
		"WHERE c.session_id = $1 AND m.state = 'streaming'", session).Scan(&n)
	if err != nil {
		return 0, wrap("count streaming answers", err)
	}
	return n, nil
}

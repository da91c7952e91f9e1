package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat"
)

var _ hxchat.SignInStore = (*Store)(nil)

// StartSignIn records a sign-in flow (hxchat.SignInStore).
func (s *Store) StartSignIn(ctx context.Context, f *hxchat.SignInFlow) error {
	if f.Key == "" {
		return invalid("The sign-in key is empty.")
	}
	tag, err := s.pool.Exec(ctx,
		"INSERT INTO signin_flows (key, nonce, verifier, next, expires) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
		text(f.Key), text(f.Nonce), text(f.Verifier), text(f.Next), f.Expires.UTC())
	if err != nil {
		return wrap("start sign-in", err)
	}
	if tag.RowsAffected() == 0 {
		return hxchat.Errorf(hxchat.EConflict, "The sign-in exists already.")
	}
	return nil
}

// TakeSignIn returns and deletes a sign-in flow in one statement, so that
// of two replicas given one state only one gets it (hxchat.SignInStore).
func (s *Store) TakeSignIn(ctx context.Context, key string, now time.Time) (*hxchat.SignInFlow, error) {
	f := &hxchat.SignInFlow{Key: key}
	err := s.pool.QueryRow(ctx, "DELETE FROM signin_flows WHERE key = $1 RETURNING nonce, verifier, next, expires",
		text(key)).Scan(&f.Nonce, &f.Verifier, &f.Next, &f.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	} else if err != nil {
		return nil, wrap("take sign-in", err)
	}
	f.Expires = f.Expires.UTC()
	if !now.Before(f.Expires) {
		return nil, hxchat.ErrNotFound
	}
	return f, nil
}

// CreateSignInSession records a sign-in session (hxchat.SignInStore).
func (s *Store) CreateSignInSession(ctx context.Context, ss *hxchat.SignInSession) error {
	if ss.Key == "" {
		return invalid("The sign-in session key is empty.")
	}
	tag, err := s.pool.Exec(ctx,
		"INSERT INTO signin_sessions (key, source, subject, email, name, admin, id_token, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key) DO NOTHING",
		text(ss.Key), text(ss.Source), text(ss.Subject), text(ss.Email), text(ss.Name), ss.Admin, text(ss.IDToken), ss.Expires.UTC())
	if err != nil {
		return wrap("create sign-in session", err)
	}
	if tag.RowsAffected() == 0 {
		return hxchat.Errorf(hxchat.EConflict, "The sign-in session exists already.")
	}
	return nil
}

// SignInSession returns a sign-in session that has not expired at now
// (hxchat.SignInStore).
func (s *Store) SignInSession(ctx context.Context, key string, now time.Time) (*hxchat.SignInSession, error) {
	ss := &hxchat.SignInSession{Key: key}
	err := s.pool.QueryRow(ctx,
		"SELECT source, subject, email, name, admin, id_token, expires FROM signin_sessions WHERE key = $1 AND expires > $2",
		text(key), now.UTC()).Scan(&ss.Source, &ss.Subject, &ss.Email, &ss.Name, &ss.Admin, &ss.IDToken, &ss.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	} else if err != nil {
		return nil, wrap("sign-in session", err)
	}
	ss.Expires = ss.Expires.UTC()
	return ss, nil
}

// DeleteSignInSession deletes a sign-in session (hxchat.SignInStore).
func (s *Store) DeleteSignInSession(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM signin_sessions WHERE key = $1", text(key)); err != nil {
		return wrap("delete sign-in session", err)
	}
	return nil
}

// DeleteExpiredSignIns deletes the flows and sessions expired at now, in
// one statement (hxchat.SignInStore).
func (s *Store) DeleteExpiredSignIns(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `WITH f AS (DELETE FROM signin_flows WHERE expires <= $1 RETURNING 1),
		s AS (DELETE FROM signin_sessions WHERE expires <= $1 RETURNING 1)
		SELECT (SELECT count(*) FROM f) + (SELECT count(*) FROM s)`, now.UTC()).Scan(&n)
	if err != nil {
		return 0, wrap("delete expired sign-ins", err)
	}
	return n, nil
}

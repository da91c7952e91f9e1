package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hxchat/hxchat"
)

var _ hxchat.SignInStore = (*Store)(nil)

// StartSignIn records a sign-in flow (hxchat.SignInStore).
func (s *Store) StartSignIn(ctx context.Context, f *hxchat.SignInFlow) error {
	if f.Key == "" {
		return invalid("The sign-in key is empty.")
	}
	res, err := s.exec(ctx,
		"INSERT INTO signin_flows (key, nonce, verifier, next, expires) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
		f.Key, f.Nonce, f.Verifier, f.Next, f.Expires.UnixMilli())
	if err != nil {
		return wrap("start sign-in", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("start sign-in", err)
	} else if n == 0 {
		return hxchat.Errorf(hxchat.EConflict, "The sign-in exists already.")
	}
	return nil
}

// TakeSignIn returns and deletes a sign-in flow in one statement
// (hxchat.SignInStore).
func (s *Store) TakeSignIn(ctx context.Context, key string, now time.Time) (*hxchat.SignInFlow, error) {
	st, err := s.prepared(ctx, "DELETE FROM signin_flows WHERE key = ? RETURNING nonce, verifier, next, expires")
	if err != nil {
		return nil, wrap("take sign-in", err)
	}
	f := &hxchat.SignInFlow{Key: key}
	var expires int64
	err = st.QueryRowContext(ctx, key).Scan(&f.Nonce, &f.Verifier, &f.Next, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	} else if err != nil {
		return nil, wrap("take sign-in", err)
	}
	f.Expires = fromMillis(expires)
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
	res, err := s.exec(ctx,
		"INSERT INTO signin_sessions (key, source, subject, email, name, admin, id_token, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
		ss.Key, ss.Source, ss.Subject, ss.Email, ss.Name, ss.Admin, ss.IDToken, ss.Expires.UnixMilli())
	if err != nil {
		return wrap("create sign-in session", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("create sign-in session", err)
	} else if n == 0 {
		return hxchat.Errorf(hxchat.EConflict, "The sign-in session exists already.")
	}
	return nil
}

// SignInSession returns a sign-in session that has not expired at now
// (hxchat.SignInStore).
func (s *Store) SignInSession(ctx context.Context, key string, now time.Time) (*hxchat.SignInSession, error) {
	ss := &hxchat.SignInSession{Key: key}
	var expires int64
	err := s.r.QueryRowContext(ctx,
		"SELECT source, subject, email, name, admin, id_token, expires FROM signin_sessions WHERE key = ? AND expires > ?",
		key, now.UnixMilli()).Scan(&ss.Source, &ss.Subject, &ss.Email, &ss.Name, &ss.Admin, &ss.IDToken, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	} else if err != nil {
		return nil, wrap("sign-in session", err)
	}
	ss.Expires = fromMillis(expires)
	return ss, nil
}

// DeleteSignInSession deletes a sign-in session (hxchat.SignInStore).
func (s *Store) DeleteSignInSession(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, "DELETE FROM signin_sessions WHERE key = ?", key); err != nil {
		return wrap("delete sign-in session", err)
	}
	return nil
}

// DeleteExpiredSignIns deletes the flows and sessions expired at now, in
// one transaction (hxchat.SignInStore).
func (s *Store) DeleteExpiredSignIns(ctx context.Context, now time.Time) (int, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, wrap("delete expired sign-ins", err)
	}
	defer tx.Rollback()
	n := 0
	for _, q := range []string{"DELETE FROM signin_flows WHERE expires <= ?", "DELETE FROM signin_sessions WHERE expires <= ?"} {
		st, err := tx.stmt(ctx, q)
		if err != nil {
			return 0, wrap("delete expired sign-ins", err)
		}
		res, err := st.ExecContext(ctx, now.UnixMilli())
		if err != nil {
			return 0, wrap("delete expired sign-ins", err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	if err := tx.Commit(); err != nil {
		return 0, wrap("delete expired sign-ins", err)
	}
	return n, nil
}

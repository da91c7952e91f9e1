package hxchat

import (
	"context"
	"time"
)

// SignInFlow is a sign-in on its way through the OpenID Connect provider:
// what the callback needs to finish it.
type SignInFlow struct {
	// Key is the SHA-256 of the flow's state, in hex: the store holds
	// nothing that a callback could carry.
	Key string
	// Nonce must come back in the ID token; Verifier is the PKCE code
	// verifier; Next is the page to go to once signed in.
	Nonce, Verifier, Next string
	Expires               time.Time
}

// SignInSession is the server-side session of a person who signed in with
// OpenID Connect.
type SignInSession struct {
	// Key is the SHA-256 of the session id that the browser's cookie
	// holds, in hex: the store holds nothing that a cookie could carry.
	Key string
	// Source and Subject say who the person is (web.Identity); Email and
	// Name are shown; Admin says whether they are an administrator.
	Source, Subject, Email, Name string
	Admin                        bool
	// IDToken is the raw ID token of the sign-in, sent back to the provider
	// as id_token_hint at sign-out.
	IDToken string
	Expires time.Time
}

// SignInStore keeps hxchat's own sign-ins (-auth oidc) in the store, so
// that they survive a restart and any replica serves any request: the
// flows on their way through the provider and the sessions of people signed
// in. sqlite/ and postgres/ implement it besides Store; every method is
// safe for concurrent use.
type SignInStore interface {
	// StartSignIn records a flow. A key that is recorded already is an
	// EConflict error.
	StartSignIn(ctx context.Context, f *SignInFlow) error
	// TakeSignIn returns the flow under key and deletes it, in one step: of
	// two callbacks with one state, on any replicas, one gets it. A flow
	// that is missing, taken already or expired at now is ENotFound.
	TakeSignIn(ctx context.Context, key string, now time.Time) (*SignInFlow, error)
	// CreateSignInSession records a session. A key that is recorded already
	// is an EConflict error.
	CreateSignInSession(ctx context.Context, s *SignInSession) error
	// SignInSession returns the session under key; a missing one, or one
	// expired at now, is ENotFound.
	SignInSession(ctx context.Context, key string, now time.Time) (*SignInSession, error)
	// DeleteSignInSession deletes the session under key (sign-out); a
	// missing one is no error.
	DeleteSignInSession(ctx context.Context, key string) error
	// DeleteExpiredSignIns deletes the flows and sessions expired at now,
	// and returns how many there were.
	DeleteExpiredSignIns(ctx context.Context, now time.Time) (int, error)
}

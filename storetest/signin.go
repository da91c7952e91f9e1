package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
)

// signIns returns s as an hxchat.SignInStore: every store of hxchat keeps
// the sign-ins of -auth oidc.
func signIns(t *testing.T, s hxchat.Store) hxchat.SignInStore {
	t.Helper()
	// A store wrapped by another (the metrics' timing) is reached through
	// Unwrap, as hxchat's main reaches the store as opened.
	for {
		u, ok := s.(interface{ Unwrap() hxchat.Store })
		if _, signs := s.(hxchat.SignInStore); signs || !ok {
			break
		}
		s = u.Unwrap()
	}
	ss, ok := s.(hxchat.SignInStore)
	if !ok {
		t.Fatalf("%T does not implement hxchat.SignInStore", s)
	}
	return ss
}

// testSignInFlows: a flow is taken once, with what was recorded; an
// expired, unknown or taken one is ENotFound; of many callbacks at once
// with one state, one gets it.
func testSignInFlows(t *testing.T, s hxchat.Store) {
	ctx, ss := t.Context(), signIns(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	f := hxchat.SignInFlow{Key: "flow-1", Nonce: "n1", Verifier: "v1", Next: "/c/abc?x=1", Expires: now.Add(10 * time.Minute)}
	if err := ss.StartSignIn(ctx, &f); err != nil {
		t.Fatalf("StartSignIn: %v", err)
	}
	again := f
	wantCode(t, "StartSignIn of a key recorded already", ss.StartSignIn(ctx, &again), hxchat.EConflict)
	wantCode(t, "StartSignIn without key", ss.StartSignIn(ctx, &hxchat.SignInFlow{Expires: f.Expires}), hxchat.EInvalid)
	got, err := ss.TakeSignIn(ctx, "flow-1", now)
	if err != nil {
		t.Fatalf("TakeSignIn: %v", err)
	}
	if *got != f {
		t.Errorf("TakeSignIn = %+v, want %+v", *got, f)
	}
	_, err = ss.TakeSignIn(ctx, "flow-1", now)
	wantCode(t, "TakeSignIn a second time", err, hxchat.ENotFound)
	_, err = ss.TakeSignIn(ctx, "flow-unknown", now)
	wantCode(t, "TakeSignIn of an unknown key", err, hxchat.ENotFound)

	old := hxchat.SignInFlow{Key: "flow-old", Nonce: "n", Verifier: "v", Next: "/", Expires: now.Add(time.Minute)}
	if err := ss.StartSignIn(ctx, &old); err != nil {
		t.Fatal(err)
	}
	_, err = ss.TakeSignIn(ctx, "flow-old", now.Add(time.Minute))
	wantCode(t, "TakeSignIn at its expiry", err, hxchat.ENotFound)

	race := hxchat.SignInFlow{Key: "flow-race", Nonce: "n", Verifier: "v", Next: "/", Expires: now.Add(time.Minute)}
	if err := ss.StartSignIn(ctx, &race); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 8 {
		wg.Go(func() {
			_, err := ss.TakeSignIn(ctx, "flow-race", now)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				taken++
			} else if hxchat.Code(err) != hxchat.ENotFound {
				t.Errorf("TakeSignIn at once: %v", err)
			}
		})
	}
	wg.Wait()
	if taken != 1 {
		t.Errorf("8 callbacks at once took one flow %d times", taken)
	}
}

// testSignInSessions: a session reads back as recorded until it expires;
// deleted (sign-out), it is gone; expired flows and sessions are deleted,
// and live ones kept.
func testSignInSessions(t *testing.T, s hxchat.Store) {
	ctx, ss := t.Context(), signIns(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := hxchat.SignInSession{Key: "sess-a", Source: "oidc", Subject: "https://idp.example.com alice", Email: "alice@example.com",
		Name: "Alice 愛", Admin: true, IDToken: "eyJ.a.b", Expires: now.Add(12 * time.Hour)}
	b := hxchat.SignInSession{Key: "sess-b", Source: "oidc", Subject: "https://idp.example.com bob", Expires: now.Add(time.Hour)}
	for _, x := range []*hxchat.SignInSession{&a, &b} {
		if err := ss.CreateSignInSession(ctx, x); err != nil {
			t.Fatalf("CreateSignInSession(%s): %v", x.Key, err)
		}
	}
	dup := b
	wantCode(t, "CreateSignInSession of a key recorded already", ss.CreateSignInSession(ctx, &dup), hxchat.EConflict)
	wantCode(t, "CreateSignInSession without key", ss.CreateSignInSession(ctx, &hxchat.SignInSession{Expires: b.Expires}), hxchat.EInvalid)
	got, err := ss.SignInSession(ctx, "sess-a", now)
	if err != nil {
		t.Fatalf("SignInSession: %v", err)
	}
	if *got != a {
		t.Errorf("SignInSession = %+v, want %+v", *got, a)
	}
	_, err = ss.SignInSession(ctx, "sess-b", b.Expires)
	wantCode(t, "SignInSession at its expiry", err, hxchat.ENotFound)
	_, err = ss.SignInSession(ctx, "sess-unknown", now)
	wantCode(t, "SignInSession of an unknown key", err, hxchat.ENotFound)

	if err := ss.DeleteSignInSession(ctx, "sess-a"); err != nil {
		t.Fatalf("DeleteSignInSession: %v", err)
	}
	_, err = ss.SignInSession(ctx, "sess-a", now)
	wantCode(t, "SignInSession after sign-out", err, hxchat.ENotFound)
	if err := ss.DeleteSignInSession(ctx, "sess-a"); err != nil {
		t.Errorf("DeleteSignInSession of a missing session: %v", err)
	}

	c := hxchat.SignInSession{Key: "sess-c", Source: "oidc", Subject: "carol", Expires: now.Add(3 * time.Hour)}
	if err := ss.CreateSignInSession(ctx, &c); err != nil {
		t.Fatal(err)
	}
	for _, f := range []hxchat.SignInFlow{{Key: "f-old", Expires: now.Add(time.Minute)}, {Key: "f-new", Expires: now.Add(3 * time.Hour)}} {
		if err := ss.StartSignIn(ctx, &f); err != nil {
			t.Fatal(err)
		}
	}
	n, err := ss.DeleteExpiredSignIns(ctx, now.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Errorf("DeleteExpiredSignIns = %d, %v; want 2 (sess-b and f-old)", n, err)
	}
	if _, err := ss.SignInSession(ctx, "sess-c", now); err != nil {
		t.Errorf("a live session was deleted: %v", err)
	}
	if _, err := ss.TakeSignIn(ctx, "f-new", now); err != nil {
		t.Errorf("a live flow was deleted: %v", err)
	}
	// Deleted, not merely hidden: a clock set back does not bring it back.
	_, err = ss.SignInSession(ctx, "sess-b", now)
	wantCode(t, "SignInSession of a deleted expired session", err, hxchat.ENotFound)
}

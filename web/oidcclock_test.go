package web

import "time"

// SetOIDCClock sets the clock by which o's sessions and sign-ins expire.
func SetOIDCClock(o *OIDC, now func() time.Time) { o.now = now }

package web

import (
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hxchat/hxchat"
)

// limits holds what each browser session may still do: a budget of requests
// (a token bucket that refills at a steady rate) and a count of its open
// answer streams. A request without a session is counted against its client
// address, with a budget several sessions wide, since many users may share
// an address behind a company proxy.
type limits struct {
	rate       rate.Limit // requests per second of one session; 0: no limit
	burst      int        // requests a session may make at once
	maxStreams int        // open streams of one session; 0: no limit

	mu      sync.Mutex
	buckets map[string]*bucket
	streams map[string]int
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// addressShare is how many sessions' worth of requests one client address
// may make without a session.
const addressShare = 4

func newLimits(perSecond float64, maxStreams int) *limits {
	l := &limits{maxStreams: maxStreams, buckets: map[string]*bucket{}, streams: map[string]int{}}
	if perSecond > 0 {
		l.rate = rate.Limit(perSecond)
		l.burst = max(int(math.Ceil(perSecond*10)), 1) // ten seconds' worth
	}
	return l
}

// allow takes one request from key's budget. When the budget is spent it
// returns how long until the next request would be allowed.
func (l *limits) allow(key string, share int, now time.Time) (wait time.Duration, ok bool) {
	if l.rate == 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate*rate.Limit(share), l.burst*share)}
		l.buckets[key] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now) // a refused request costs nothing
		return d, false
	}
	return 0, true
}

// sweep forgets, once a minute, the buckets that have refilled: a session
// that comes back starts from a full budget either way.
func (l *limits) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	full := time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
}

// openStream counts an open stream of session; release uncounts it.
func (l *limits) openStream(session string) (release func(), ok bool) {
	if l.maxStreams == 0 {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams[session] >= l.maxStreams {
		return nil, false
	}
	l.streams[session]++
	return sync.OnceFunc(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.streams[session]--; l.streams[session] <= 0 {
			delete(l.streams, session)
		}
	}), true
}

// limitRequests refuses a request over its session's budget with 429, a
// Retry-After and a message saying when to try again.
func (s *Server) limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, share := sessionID(r), 1
		if key == "" {
			key, share = "addr "+s.clientIP(r), addressShare
		}
		if wait, ok := s.limits.allow(key, share, time.Now()); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			s.writeError(w, r, &localError{code: hxchat.ETooMany, key: "error.rate", args: []any{secs}, retryAfter: wait})
			return
		}
		next.ServeHTTP(w, r)
	})
}

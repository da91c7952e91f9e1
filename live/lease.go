package live

import (
	"context"
	"log/slog"
	"time"

	"github.com/hxchat/hxchat"
)

// LeaseOptions configures Leases.
type LeaseOptions struct {
	// Cluster is the shared store, joined already (hxchat.Cluster.Join).
	Cluster hxchat.Cluster
	// URL is where the other replicas reach this one, as it joined: a
	// replica that fenced itself joins again with it, under a new id.
	URL string
	// Runner generates this replica's answers; it is fenced (Runner.Fence)
	// when the leases cannot be renewed.
	Runner *Runner
	// TTL is how long a replica may be silent before its answers are
	// taken; default 15 s. The heartbeat and the sweep run every fifth of
	// it.
	TTL    time.Duration
	Logger *slog.Logger
	// OnTakeover, when set, is called with the number of answers of silent
	// replicas that a sweep took (more than 0), for metrics.
	OnTakeover func(n int)
}

// Leases keeps a replica's leases alive and takes those of replicas that are
// gone. Every fifth of the TTL it renews all its leases with one heartbeat
// write, then sweeps: the streaming answers of replicas silent for the TTL
// are stored interrupted, with their last checkpointed text. An answer is
// thus taken at most a TTL after its replica died, and never while its
// replica is alive. A replica that has not renewed its leases for the TTL
// less two intervals (the store could not be written, or the process was
// paused) fences itself: it ends its own answers, which another
// replica is about to take, rather than go on writing them as if it owned
// them. Once it can write again it joins anew, under a new id: answers whose
// end it could not store (the store was out of reach) still name the old
// one, which nobody renews, and are taken as any silent replica's.
//
// The writes to the store do not grow with answers or tokens: a heartbeat
// is one row; a sweep writes only the answers it takes.
type Leases struct {
	o     LeaseOptions
	every time.Duration
	stop  context.CancelFunc
	done  chan struct{}
}

// StartLeases starts the heartbeat and the sweep, on a goroutine of their
// own, until Stop.
func StartLeases(o LeaseOptions) *Leases {
	if o.TTL <= 0 {
		o.TTL = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Leases{o: o, every: o.TTL / 5, stop: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

// Stop ends the heartbeat and the sweep, and waits for them to end.
func (l *Leases) Stop() {
	l.stop()
	<-l.done
}

func (l *Leases) run(ctx context.Context) {
	defer close(l.done)
	renewed := time.Now() // Join has just written the first heartbeat
	fenced := false
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		// The ticks come every interval, give or take: with two intervals
		// of margin, the fence comes a whole interval before the TTL.
		if silent := start.Sub(renewed); !fenced && silent+2*l.every > l.o.TTL {
			// Before the next heartbeat, the others may take this
			// replica's answers (the store could not be written, or
			// this process was paused): end them now.
			fenced = true
			n := l.o.Runner.Fence()
			l.o.Logger.Error("leases not renewed for nearly their TTL: this replica's answers are ended as interrupted",
				"answers", n, "silent", silent.Round(time.Millisecond), "ttl", l.o.TTL)
		}
		hctx, cancel := context.WithTimeout(ctx, l.every)
		var err error
		if fenced {
			var id string
			if id, err = l.o.Cluster.Join(hctx, l.o.URL); err == nil {
				l.o.Logger.Warn("the store answers again: this replica joined anew", "replica", id)
			}
		} else {
			err = l.o.Cluster.Heartbeat(hctx)
		}
		cancel()
		switch {
		case err == nil:
			renewed, fenced = start, false
		case ctx.Err() != nil:
			return
		default:
			l.o.Logger.Error("renew this replica's leases", "err", err, "silent", time.Since(renewed).Round(time.Millisecond))
			continue // a store this replica cannot write to cannot be swept
		}
		sctx, cancel := context.WithTimeout(ctx, l.every)
		n, err := l.o.Cluster.TakeExpired(sctx, l.o.TTL)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.o.Logger.Error("take the answers of silent replicas", "err", err)
			}
			continue
		}
		if n > 0 {
			l.o.Logger.Warn("answers of silent replicas taken: stored interrupted", "answers", n, "ttl", l.o.TTL)
			if l.o.OnTakeover != nil {
				l.o.OnTakeover(n)
			}
		}
	}
}

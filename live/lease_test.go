package live_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
)

// cutCluster is the part of a shared store that Leases uses, with a switch
// that cuts this replica off from it (its heartbeats fail), and a count of
// answers that the next sweep takes. (The store's own semantics are tested
// in postgres/ against PostgreSQL.)
type cutCluster struct {
	hxchat.Cluster // not used by Leases beyond the methods below

	mu     sync.Mutex
	cut    bool
	beats  int
	joins  []string // the URLs of Join calls
	take   int
	sweeps []time.Duration
}

func (c *cutCluster) Heartbeat(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return errors.New("connection refused")
	}
	c.beats++
	return nil
}

func (c *cutCluster) Join(_ context.Context, url string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return "", errors.New("connection refused")
	}
	c.joins = append(c.joins, url)
	return hxchat.NewID(), nil
}

func (c *cutCluster) TakeExpired(_ context.Context, ttl time.Duration) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweeps = append(c.sweeps, ttl)
	n := c.take
	c.take = 0
	return n, nil
}

// TestLeasesSweep: the heartbeat and the sweep run every fifth of the TTL,
// the sweep with the TTL; what a sweep takes reaches OnTakeover.
func TestLeasesSweep(t *testing.T) {
	c := &cutCluster{take: 2}
	taken := make(chan int, 1)
	f := newFixture(t, &script{pieces: []string{"a"}})
	l := live.StartLeases(live.LeaseOptions{Cluster: c, Runner: f.runner, TTL: 100 * time.Millisecond,
		OnTakeover: func(n int) { taken <- n }})
	defer l.Stop()
	select {
	case n := <-taken:
		if n != 2 {
			t.Errorf("OnTakeover(%d), want 2", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnTakeover was not called")
	}
	time.Sleep(100 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.beats < 2 || len(c.sweeps) < 2 || c.sweeps[0] != 100*time.Millisecond {
		t.Errorf("in 100 ms or more: %d heartbeats, sweeps with %v", c.beats, c.sweeps)
	}
}

// TestLeasesFence: a replica cut off from the store ends its own running
// answers, stored interrupted with their text, before the TTL has passed
// since its last heartbeat; while its heartbeats go through, it never does.
// Once the store answers again, the replica joins anew (a new id, the same
// URL), so that answers still naming the old id are taken by the others.
func TestLeasesFence(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	f := newFixture(t, &script{pieces: []string{"So ", "far", " and more"}, gate: gate, after: 2})
	c := &cutCluster{}
	const ttl = time.Second
	l := live.StartLeases(live.LeaseOptions{Cluster: c, URL: "http://10.0.0.5:8080", Runner: f.runner, TTL: ttl})
	defer l.Stop()
	a := f.start(t)
	time.Sleep(2 * ttl)
	if m, _ := f.store.Message(context.Background(), f.conv.ID, a.ID); m.State != hxchat.StateStreaming {
		t.Fatalf("fenced while the heartbeats go through: %s", m.State)
	}
	c.mu.Lock()
	c.cut = true
	c.mu.Unlock()
	cut := time.Now()
	m := f.wait(t, a.ID, "the fence", final)
	if took := time.Since(cut); took > ttl {
		t.Errorf("fenced %v after the last heartbeat, later than the TTL %v", took, ttl)
	}
	if m.State != hxchat.StateInterrupted || m.Content != "So far" {
		t.Errorf("fenced answer: %s %q, want interrupted %q", m.State, m.Content, "So far")
	}
	c.mu.Lock()
	c.cut, c.beats = false, 0
	c.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		joins, beats := c.joins, c.beats
		c.mu.Unlock()
		if len(joins) == 1 && beats > 0 {
			if joins[0] != "http://10.0.0.5:8080" {
				t.Errorf("joined anew at %q", joins[0])
			}
			break
		}
		if len(joins) > 1 || time.Now().After(deadline) {
			t.Fatalf("after the store came back: joins %q, then %d heartbeats; want one join, then heartbeats", joins, beats)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/web"
)

// defaultLeaseTTL is the leases' time to live when the configuration has
// none (a Config made by hand).
const defaultLeaseTTL = 15 * time.Second

// join makes this process a replica of the cluster that shares the store:
// it advertises its URL, reads (or, first, makes) the cluster's secret, and
// takes the answers of replicas that are gone.
// It is called once the server listens (the URL has its port) and before it
// serves (every answer it starts holds its lease).
func (m *Main) join(ctx context.Context, c hxchat.Cluster) (*web.Cluster, error) {
	url := m.Config.ReplicaURL
	if url == "" {
		url = defaultReplicaURL(m.ln.Addr())
	}
	id, err := c.Join(ctx, url)
	if err != nil {
		return nil, err
	}
	secret, err := c.Secret(ctx)
	if err != nil {
		return nil, err
	}
	ttl := cmp.Or(m.Config.LeaseTTL, defaultLeaseTTL)
	m.Logger.Info("joined the replicas of the database", "replica", id, "replica_url", url, "lease_ttl", ttl)
	// A sweep now, not a fifth of the TTL later: a replica that restarts
	// after a crash shows the answers it left, if their lease has expired,
	// as interrupted at once, as a single process on SQLite does.
	if n, err := c.TakeExpired(ctx, ttl); err != nil {
		return nil, err
	} else if n > 0 {
		m.Logger.Warn("answers of silent replicas taken: stored interrupted", "answers", n, "ttl", ttl)
		m.tookOver(n)
	}
	return &web.Cluster{Store: c, Self: id, URL: url, Secret: secret, TTL: ttl, MaxPerSession: m.Config.MaxAnswersPerSession}, nil
}

// tookOver counts answers of silent replicas that this one took, in the
// metrics and for OnTakeover.
func (m *Main) tookOver(n int) {
	m.metrics.LeaseTakeovers(n)
	if m.OnTakeover != nil {
		m.OnTakeover(n)
	}
}

// defaultReplicaURL is where other replicas reach this one when
// -replica-url is not set: the address it listens on, or, when that is
// every interface, the host's first IPv4 address that is not loopback
// (127.0.0.1 when it has none).
func defaultReplicaURL(addr net.Addr) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
		if ifs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range ifs {
				if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
					host = n.IP.String()
					break
				}
			}
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// drainReplica shuts a replica down without a gap for its readers: it
// refuses new turns (503, retry), ends its readers' streams without their
// final events so that they resume on other replicas, which relay this
// one's answers, and keeps serving those relays until its answers end or
// the drain time passes; then it stores the rest interrupted, stops its
// server and leaves the cluster.
func (m *Main) drainReplica() error {
	m.web.MoveStreams()
	drain, cancel := context.WithTimeout(context.Background(), m.Config.Drain)
	defer cancel()
	m.runner.Shutdown(drain)
	m.web.CloseStreams()
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	err := m.srv.Shutdown(ctx)
	if err != nil {
		m.srv.Close()
	}
	if e := <-m.served; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	m.leases.Stop()
	if e := m.store.(hxchat.Cluster).Leave(ctx); e != nil {
		err = errors.Join(err, fmt.Errorf("leave the replicas: %w", e))
	}
	return errors.Join(err, m.stopMetrics(), m.store.Close())
}

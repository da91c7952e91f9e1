package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// WatchPool adds the metrics of a PostgreSQL connection pool, read from stat
// at every scrape (postgres.Store's PoolStat): its connections by state, its
// size, and how often and how long callers waited for a connection. A pool
// whose acquired connections stay at its maximum, with waits growing, is too
// small for the load (pool_max_conns in the database URL).
func (m *Metrics) WatchPool(stat func() *pgxpool.Stat) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&poolCollector{stat: stat})
}

var (
	poolConns = prometheus.NewDesc("hxchat_db_pool_connections",
		"Connections of the PostgreSQL pool, by state: acquired (in use), idle, constructing.", []string{"state"}, nil)
	poolMax = prometheus.NewDesc("hxchat_db_pool_max_connections",
		"The most connections the PostgreSQL pool opens (pool_max_conns).", nil, nil)
	poolAcquires = prometheus.NewDesc("hxchat_db_pool_acquires_total",
		"Connections taken from the PostgreSQL pool.", nil, nil)
	poolEmptyAcquires = prometheus.NewDesc("hxchat_db_pool_acquires_waited_total",
		"Connections taken from the PostgreSQL pool that had to wait: none was idle.", nil, nil)
	poolEmptyWait = prometheus.NewDesc("hxchat_db_pool_acquire_wait_seconds_total",
		"Time spent waiting for a connection of the PostgreSQL pool when none was idle.", nil, nil)
	poolCanceled = prometheus.NewDesc("hxchat_db_pool_acquires_canceled_total",
		"Waits for a connection of the PostgreSQL pool that ended without one (the caller gave up).", nil, nil)
	poolNewConns = prometheus.NewDesc("hxchat_db_pool_connects_total",
		"Connections the PostgreSQL pool opened.", nil, nil)
)

// poolCollector turns a pool's Stat into metrics at each scrape.
type poolCollector struct {
	stat func() *pgxpool.Stat
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolConns, poolMax, poolAcquires, poolEmptyAcquires, poolEmptyWait, poolCanceled, poolNewConns} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(poolConns, gauge, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(poolConns, gauge, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(poolConns, gauge, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(poolMax, gauge, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquires, counter, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolEmptyAcquires, counter, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolEmptyWait, counter, s.EmptyAcquireWaitTime().Seconds())
	ch <- prometheus.MustNewConstMetric(poolCanceled, counter, float64(s.CanceledAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolNewConns, counter, float64(s.NewConnsCount()))
}

// Package cputime reports the CPU time a benchmark's whole process used per
// op: its own goroutine's work, and what it set off in others (a store's
// writer, an answer's generation, the garbage collector). Wall time per op
// says little on a host whose cores other processes share, and nothing of
// work done on other goroutines while the benchmark's loop waits.
package cputime

import (
	"testing"
	"time"
)

// Meter is the process's CPU time at the start of a measurement.
type Meter struct {
	start time.Duration
	ok    bool
}

// Start starts measuring; call it just before the benchmark's loop.
func Start() Meter {
	t, ok := process()
	return Meter{start: t, ok: ok}
}

// Report reports the CPU time used since Start, divided by b.N, as the
// metric cpu-ns/op (user and system time of every thread of the process).
// On a system where the process's CPU time cannot be read it reports
// nothing.
func (m Meter) Report(b *testing.B) {
	t, ok := process()
	if !ok || !m.ok || b.N == 0 {
		return
	}
	b.ReportMetric(float64((t-m.start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// ReportPer reports the CPU time used since Start, divided by n, as the
// metric cpu-ns/unit: per token, say, when an op is a whole stream.
func (m Meter) ReportPer(b *testing.B, n float64, unit string) {
	t, ok := process()
	if !ok || !m.ok || n == 0 {
		return
	}
	b.ReportMetric(float64((t-m.start).Nanoseconds())/n, "cpu-ns/"+unit)
}

// Since returns the CPU time the process has used since Start; false on a
// system where it cannot be read. For a benchmark that measures only parts
// of each op and reports per unit of its own.
func (m Meter) Since() (time.Duration, bool) {
	t, ok := process()
	return t - m.start, ok && m.ok
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/metrics"
	"syscall"
)

// memProfileOnSignal is a hook for developers: with HXCHAT_MEMPROFILE=FILE,
// each SIGUSR1 writes every scalar of runtime/metrics (the memory's classes,
// stacks, goroutines, the GC's goal) and the process's /proc status to
// FILE.txt and, in a binary built with -tags memprofile, a heap profile of
// the live objects to FILE (go tool pprof -sample_index=inuse_space FILE),
// each write replacing the last. The load benchmark passes the variable on
// and sends the signal in the middle of a rung, when every stream is live.
// It returns a function that stops listening.
//
// The heap profile needs a build tag because a binary that can write one
// samples its allocations from the start: the runtime's profiling buckets
// alone take more than a megabyte, which the usual binary is spared.
func memProfileOnSignal(path string, log *slog.Logger) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sig:
				if err := writeMemProfile(path); err != nil {
					log.Warn("HXCHAT_MEMPROFILE", "err", err)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}

// writeHeapProfile writes the heap profile; nil unless the binary is built
// with -tags memprofile (memprofile_heap.go).
var writeHeapProfile func(io.Writer) error

// writeMemProfile writes the runtime's metrics to path + ".txt" and, when
// the binary can, the heap profile to path.
func writeMemProfile(path string) error {
	if writeHeapProfile != nil {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := writeHeapProfile(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if d.Kind == metrics.KindUint64 || d.Kind == metrics.KindFloat64 {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	t, err := os.Create(path + ".txt")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(t)
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(w, "%s %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64:
			fmt.Fprintf(w, "%s %g\n", s.Name, s.Value.Float64())
		}
	}
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		w.Write(status)
	}
	if err := w.Flush(); err != nil {
		t.Close()
		return err
	}
	return t.Close()
}

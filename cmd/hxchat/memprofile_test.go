package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMemProfileSignal: with HXCHAT_MEMPROFILE's hook on, SIGUSR1 writes the
// runtime's metrics and the process's status to FILE.txt, and the heap
// profile to FILE only in a binary built to write one.
func TestMemProfileSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heap.pprof")
	stop := memProfileOnSignal(path, slog.New(slog.DiscardHandler))
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var text []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		// The file is written, then closed: read it once it is whole.
		if b, err := os.ReadFile(path + ".txt"); err == nil && strings.Contains(string(b), "VmHWM:") {
			text = b
			break
		}
	}
	for _, want := range []string{"/sched/goroutines:goroutines ", "/memory/classes/heap/stacks:bytes ", "/gc/stack/starting-size:bytes ", "VmRSS:"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("%s.txt has no %q:\n%s", path, want, text)
		}
	}
	_, err := os.Stat(path)
	if wrote := err == nil; wrote != (writeHeapProfile != nil) {
		t.Errorf("heap profile written: %v, in a binary that can write one: %v", wrote, writeHeapProfile != nil)
	}
}

package main

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkLoopbackToken measures the least the harness can spend on one
// token on this host (see loopback): a write(2) and a read(2) over TCP on
// loopback, on one pair and on 1,000 pairs used in turn. The ladder
// measures the same before its rungs and prints it in its report.
//
//	go test -run '^$' -bench LoopbackToken ./bench
func BenchmarkLoopbackToken(b *testing.B) {
	for _, pairs := range []int{1, 1000} {
		name := "1pair"
		if pairs > 1 {
			name = "1000pairs"
		}
		b.Run(name, func(b *testing.B) {
			l, err := newLoopback(pairs)
			if err != nil {
				b.Fatal(err)
			}
			defer l.close()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.SetBytes(int64(len(loopbackChunk)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := l.token(i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLoopbackCost: the measurement the ladder prints gives a figure.
func TestLoopbackCost(t *testing.T) {
	d, err := loopbackCost(100, 50*time.Millisecond)
	if err != nil || d <= 0 {
		t.Fatalf("loopbackCost: %v, %v", d, err)
	}
}

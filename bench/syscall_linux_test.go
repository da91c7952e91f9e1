package main

import (
	"net"
	"syscall"
	"testing"
)

// BenchmarkLoopbackToken measures the least the harness can spend on one
// token: the fake model's write(2) of a chunk to the server's socket and
// the browser's read(2) of an event from its own, over TCP on loopback, as
// the ticker and the epoll client do them (non-blocking sockets, one system
// call each, nothing else). The writer pays for the kernel's delivery to the
// other end, as the ticker does. The pairs are used in turn, so that the
// kernel's state of one socket is cold when it is used again, as it is in
// a rung of many streams. Whatever the harness does beyond these two calls
// (epoll_wait, parsing, the timing) comes on top:
//
//	go test -run '^$' -bench LoopbackToken ./bench
func BenchmarkLoopbackToken(b *testing.B) {
	for _, pairs := range []int{1, 1000} {
		b.Run(map[int]string{1: "1pair", 1000: "1000pairs"}[pairs], func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			type pair struct{ w, r int }
			ps := make([]pair, pairs)
			var keep []net.Conn // the Go side of each socket, closed at the end
			defer func() {
				for _, c := range keep {
					c.Close()
				}
			}()
			fd := func(c net.Conn) int {
				f, err := c.(*net.TCPConn).File() // a duplicate, blocking: made non-blocking below
				if err != nil {
					b.Fatal(err)
				}
				n := int(f.Fd())
				if err := syscall.SetNonblock(n, true); err != nil {
					b.Fatal(err)
				}
				keep = append(keep, c)
				return n
			}
			for i := range ps {
				w, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				r, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				ps[i] = pair{w: fd(w), r: fd(r)}
			}
			// A chunk the size of the fake model's (about 60 bytes of JSON
			// in an SSE line) one way; the event read in a buffer the size
			// of the epoll client's.
			chunk := []byte(`data: {"choices":[{"index":0,"delta":{"content":" token"}}]}` + "\n\n")
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := ps[i%len(ps)]
				if _, err := syscall.Write(p.w, chunk); err != nil {
					b.Fatal(err)
				}
				// On a busy host the kernel may deliver the bytes a moment
				// later (from its softirq thread): read until they are there,
				// as the epoll client would after its next epoll_wait.
				for {
					_, err := syscall.Read(p.r, buf)
					if err == nil {
						break
					}
					if err != syscall.EAGAIN {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			for _, p := range ps {
				syscall.Close(p.w)
				syscall.Close(p.r)
			}
		})
	}
}

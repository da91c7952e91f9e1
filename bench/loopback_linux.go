package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"
)

// loopback is pairs of connected TCP sockets on loopback, non-blocking, to
// measure what one token's two system calls cost the harness on this host:
// the fake model's write(2) of a chunk to the server's socket (which pays
// for the kernel's delivery to the other end, as the ticker's does) and the
// browser's read(2) of an event from its own, as the epoll client makes it.
// Nothing else: whatever the harness does beyond these two calls comes on
// top, so their cost is the least the harness can spend per token here.
type loopback struct {
	w, r  []int      // each pair's writing and reading end
	keep  []net.Conn // the Go side of each socket, closed with them
	files []*os.File // the duplicates behind w and r: kept, or the collector closes them
	buf   []byte
}

// loopbackChunk is what the fake model writes for a token: about the size
// of its chunks.
var loopbackChunk = []byte(`data: {"choices":[{"index":0,"delta":{"content":" token"}}]}` + "\n\n")

// newLoopback connects n pairs.
func newLoopback(n int) (*loopback, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	l := &loopback{buf: make([]byte, 64<<10)}
	fd := func(c net.Conn) (int, error) {
		l.keep = append(l.keep, c)
		f, err := c.(*net.TCPConn).File() // a duplicate, blocking: made non-blocking below
		if err != nil {
			return 0, err
		}
		l.files = append(l.files, f)
		n := int(f.Fd())
		return n, syscall.SetNonblock(n, true)
	}
	for range n {
		w, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			l.close()
			return nil, err
		}
		r, err := ln.Accept()
		if err != nil {
			w.Close()
			l.close()
			return nil, err
		}
		wfd, err1 := fd(w)
		rfd, err2 := fd(r)
		if err1 != nil || err2 != nil {
			l.close()
			return nil, fmt.Errorf("loopback: %v %v", err1, err2)
		}
		l.w, l.r = append(l.w, wfd), append(l.r, rfd)
	}
	return l, nil
}

// token writes a chunk on pair i and reads it at the other end.
func (l *loopback) token(i int) error {
	i %= len(l.w)
	if _, err := syscall.Write(l.w[i], loopbackChunk); err != nil {
		return err
	}
	// On a busy host the kernel may deliver the bytes a moment later
	// (from its softirq thread): read until they are there, as the epoll
	// client would after its next epoll_wait.
	for {
		_, err := syscall.Read(l.r[i], l.buf)
		if err != syscall.EAGAIN {
			return err
		}
	}
}

func (l *loopback) close() {
	for _, f := range l.files {
		f.Close()
	}
	for _, c := range l.keep {
		c.Close()
	}
}

// loopbackCost measures the two system calls of a token on pairs used in
// turn (so that each socket's kernel state is cold when it is used again,
// as in a rung of many streams) for about d, and returns the CPU time the
// calling thread (locked to it) spent per token.
func loopbackCost(pairs int, d time.Duration) (time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l, err := newLoopback(pairs)
	if err != nil {
		return 0, err
	}
	defer l.close()
	start, t0 := threadCPU(), time.Now()
	n := 0
	for time.Since(t0) < d {
		for range pairs {
			if err := l.token(n); err != nil {
				return 0, err
			}
			n++
		}
	}
	return (threadCPU() - start) / time.Duration(n), nil
}

// threadCPU returns the CPU time of the calling thread, user and system.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

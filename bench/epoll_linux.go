package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// The epoll client: the browsers' event streams on one epoll set.
//
// With net/http every stream is a goroutine blocked in its body's read:
// each token wakes it, and reads it through bufio and the chunked reader
// (and often a second read finds nothing yet). Here a poller goroutine (or
// a few) waits on one epoll set for all stream sockets — non-blocking
// sockets made and connected here, not by net — and reads each ready socket
// with one read(2) into the poller's buffer; a wireParser per stream keeps
// only the partial lines between reads and calls the browser's event
// handler, on the poller's goroutine, for every event. The browser's own
// goroutine only opens the stream and waits for its end: it wakes once per
// connect, not once per token.

// poller is one epoll set and the goroutine that serves it.
type poller struct {
	epfd   int
	wakeR  int // a pipe's read end in the set: cancel and quit wake the loop
	wakeW  int
	buf    []byte // read(2) lands here; parsed at once
	more   bool   // a socket may still be ready after this round (a full read, a partial write)
	events []syscall.EpollEvent

	mu      sync.Mutex
	conns   map[int32]*estream // by socket
	cancels []*estream         // streams to end (their context ended)
	quit    bool
	exited  chan struct{}
}

// estream is one event stream request on a poller: written by its browser
// before it is added and after done is closed, by the poller in between.
type estream struct {
	fd      int
	req     []byte // request bytes not yet written
	writing bool   // connecting or writing the request
	p       wireParser
	err     error         // a connect or read error; io.EOF or io.ErrUnexpectedEOF at the connection's end
	done    chan struct{} // closed when the stream is over and its socket closed
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	var pfd [2]int
	if err := syscall.Pipe2(pfd[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil { // for Go's poller
		syscall.Close(epfd)
		return nil, err
	}
	p := &poller{epfd: epfd, wakeR: pfd[0], wakeW: pfd[1], buf: make([]byte, 64<<10),
		events: make([]syscall.EpollEvent, 256), conns: map[int32]*estream{}, exited: make(chan struct{})}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wakeR)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wakeR, &ev); err != nil {
		p.closeFDs()
		syscall.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	go p.loop()
	return p, nil
}

func (p *poller) closeFDs() {
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
}

func (p *poller) wake() {
	rawWrite(p.wakeW, []byte{0}) // EAGAIN: a wake-up is pending already
}

// stop ends every stream left and the loop.
func (p *poller) stop() {
	p.mu.Lock()
	p.quit = true
	p.mu.Unlock()
	p.wake()
	<-p.exited
	p.closeFDs()
}

// open connects a non-blocking socket to sa and adds the stream to the set;
// the request is written when the connection is up. Errors of connect(2)
// itself are returned; later ones end the stream (s.err).
func (p *poller) open(sa *syscall.SockaddrInet4, s *estream) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	a := *sa // Connect writes into the sockaddr: one of its own per call
	if err := syscall.Connect(fd, &a); err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return err
	}
	s.fd, s.writing, s.done = fd, true, make(chan struct{})
	p.mu.Lock()
	if p.quit {
		p.mu.Unlock()
		syscall.Close(fd)
		return errors.New("poller stopped")
	}
	p.conns[int32(fd)] = s
	p.mu.Unlock()
	// Level-triggered: a socket with more than one read's worth is simply
	// reported again.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, int32(fd))
		p.mu.Unlock()
		syscall.Close(fd)
		return err
	}
	return nil
}

// cancel ends the stream soon (its context ended); its done channel closes
// when the poller has let go of it.
func (p *poller) cancel(s *estream) {
	p.mu.Lock()
	p.cancels = append(p.cancels, s)
	p.mu.Unlock()
	p.wake()
}

// loop serves the set until stop. It does not block in epoll_wait(2)
// itself: a goroutine blocked in a system call keeps the runtime's sysmon
// thread waking every 20 µs to take its P away (a tenth of the harness's
// CPU when it did). The epoll fd is itself pollable, so it is handed to
// Go's own poller, which wakes this goroutine when the set has events;
// each round then takes them with a non-blocking epoll_wait until none
// are left.
func (p *poller) loop() {
	defer close(p.exited)
	ready := make([]*estream, 0, len(p.events))
	f := os.NewFile(uintptr(p.epfd), "epoll") // non-blocking: on Go's poller
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		panic("bench: epoll fd: " + err.Error())
	}
	quit := false
	for !quit {
		err := rc.Read(func(uintptr) bool {
			for {
				n := epollWait(p.epfd, p.events)
				if n == 0 {
					return false // wait for Go's poller to wake us
				}
				p.more = false
				if ready, quit = p.round(ready, n); quit {
					return true
				}
				if n < len(p.events) && !p.more {
					// Drained: what comes next wakes Go's poller. (A
					// socket left readable is reported again only to the
					// next epoll_wait, not to Go's poller: p.more.)
					return false
				}
			}
		})
		if err != nil {
			panic("bench: epoll fd: " + err.Error())
		}
	}
}

// round handles the n events of one epoll_wait and reports whether the
// poller is to quit.
func (p *poller) round(ready []*estream, n int) ([]*estream, bool) {
	// Find the streams first, under one lock: a socket closed below cannot
	// then be mistaken for a new one that got the same number.
	ready = ready[:0]
	woken := false
	p.mu.Lock()
	for _, ev := range p.events[:n] {
		if int(ev.Fd) == p.wakeR {
			woken = true
			ready = append(ready, nil)
			continue
		}
		ready = append(ready, p.conns[ev.Fd])
	}
	p.mu.Unlock()
	for i, s := range ready {
		if s != nil && s.done != nil {
			p.serve(s, p.events[i].Events)
		}
	}
	if !woken {
		return ready, false
	}
	var b [64]byte
	for {
		if n, _ := rawRead(p.wakeR, b[:]); n <= 0 {
			break
		}
	}
	p.mu.Lock()
	cancels, quit := p.cancels, p.quit
	p.cancels = nil
	var all []*estream
	if quit {
		for _, s := range p.conns {
			all = append(all, s)
		}
	}
	p.mu.Unlock()
	for _, s := range cancels {
		p.end(s, errCanceled)
	}
	for _, s := range all {
		p.end(s, errCanceled)
	}
	return ready, quit
}

// epollWait takes the set's ready events without waiting. Like rawRead and
// rawWrite it is a raw system call: it cannot block, so the runtime need
// not be told (entersyscall/exitsyscall, and sysmon handing the P off when
// one takes long).
func epollWait(epfd int, events []syscall.EpollEvent) int {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		if e == syscall.EINTR {
			return 0
		}
		panic("bench: epoll_pwait: " + e.Error())
	}
	return int(n)
}

// rawRead is read(2) on a non-blocking descriptor.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// rawWrite is write(2) on a non-blocking descriptor.
func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

var errCanceled = errors.New("canceled")

// serve handles one readiness event of s.
func (p *poller) serve(s *estream, events uint32) {
	if s.writing {
		if events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		if e, err := syscall.GetsockoptInt(s.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err != nil || e != 0 {
			if err == nil {
				err = syscall.Errno(e)
			}
			p.end(s, err)
			return
		}
		n, err := rawWrite(s.fd, s.req)
		if err != nil && err != syscall.EAGAIN {
			p.end(s, err)
			return
		}
		s.req = s.req[max(n, 0):]
		if len(s.req) > 0 {
			p.more = true
			return // the rest when the socket has room
		}
		s.writing = false
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(s.fd)}
		if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, s.fd, &ev); err != nil {
			p.end(s, err)
		}
		return
	}
	n, err := rawRead(s.fd, p.buf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return
	case err != nil:
		p.end(s, err)
		return
	case n == 0:
		p.end(s, s.p.eof())
		return
	}
	if n == len(p.buf) {
		p.more = true
	}
	s.p.feed(p.buf[:n])
	if s.p.done() {
		p.end(s, s.p.Err)
	}
}

// end closes the stream's socket (which takes it out of the set) and hands
// it back to its browser.
func (p *poller) end(s *estream, err error) {
	if s.done == nil {
		return
	}
	select {
	case <-s.done:
		return // ended already
	default:
	}
	p.mu.Lock()
	delete(p.conns, int32(s.fd))
	syscall.Close(s.fd)
	p.mu.Unlock()
	s.err = err
	close(s.done)
}

// sockaddr resolves an http://IP:PORT base URL for the epoll client (the
// harness always talks to 127.0.0.1).
func sockaddr(base string) (*syscall.SockaddrInet4, string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, "", err
	}
	if u.Scheme != "http" {
		return nil, "", fmt.Errorf("the epoll client speaks plain HTTP only, not %s", u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	var ip [4]byte
	parts := [4]int{}
	if n, _ := fmt.Sscanf(host, "%d.%d.%d.%d", &parts[0], &parts[1], &parts[2], &parts[3]); n != 4 {
		return nil, "", fmt.Errorf("the epoll client needs an IPv4 address, not %q", host)
	}
	for i, v := range parts {
		ip[i] = byte(v)
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return nil, "", fmt.Errorf("port %q: %w", port, err)
	}
	return &syscall.SockaddrInet4{Port: pn, Addr: ip}, u.Host, nil
}

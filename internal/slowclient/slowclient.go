// Package slowclient is a client that sends its request slowly, or not at
// all, for the tests of a server's timeouts against slow-loris clients.
package slowclient

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Probe writes Start at once, then trickles the bytes of Slow, one every
// Every, and measures how long the server takes to answer or to close the
// connection.
type Probe struct {
	Start, Slow string
	Every       time.Duration // between two bytes of Slow; 0 means 20 ms
	Limit       time.Duration // the timeout under test: the probe waits up to Limit + 2 s
	// Idle: Start is a whole request. The probe reads its answer, then
	// measures how long the server keeps the connection open, idle.
	Idle bool

	Took   time.Duration // until an answer or the end of the connection; Limit + 2 s: neither came
	Status int           // the status of the answer, if one came
	Closed bool          // the server closed the connection (after its answer, if any)
	Err    error         // the probe could not do its part
}

// Run probes the server at addr.
func (p *Probe) Run(addr string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		p.Err = err
		return
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(done); conn.Close(); wg.Wait() }()
	began := time.Now()
	if _, err := io.WriteString(conn, p.Start); err != nil {
		p.Err = err
		return
	}
	every := p.Every
	if every <= 0 {
		every = 20 * time.Millisecond
	}
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; i < len(p.Slow); i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{p.Slow[i]}); err != nil {
				return
			}
		}
	})
	wait := p.Limit + 2*time.Second
	conn.SetReadDeadline(time.Now().Add(wait + time.Second))
	br := bufio.NewReader(conn)
	if p.Idle {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			p.Err = err
			return
		}
		io.Copy(io.Discard, resp.Body)
		began = time.Now() // idle from here
		conn.SetReadDeadline(time.Now().Add(wait))
	}
	resp, err := http.ReadResponse(br, nil)
	p.Took = min(time.Since(began), wait)
	switch {
	case timeout(err):
		p.Took = wait
		return
	case err != nil:
		p.Closed = true // closed without an answer
		return
	}
	p.Status = resp.StatusCode
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err = io.Copy(io.Discard, resp.Body); err == nil {
		_, err = br.ReadByte()
	}
	p.Closed = err != nil && !timeout(err)
}

func timeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

// The epoll client is Linux only (epoll_linux.go); elsewhere -client epoll
// says so and the rung does not run.

var errNoEpoll = errors.New("the epoll client needs Linux; use -client nethttp")

type poller struct{}

type estream struct {
	req  []byte
	p    wireParser
	err  error
	done chan struct{}
}

var errCanceled = errors.New("canceled")

func newPoller() (*poller, error)                                  { return nil, errNoEpoll }
func (p *poller) stop()                                            {}
func (p *poller) open(sa *syscall.SockaddrInet4, s *estream) error { return errNoEpoll }
func (p *poller) cancel(s *estream)                                {}

func sockaddr(base string) (*syscall.SockaddrInet4, string, error) { return nil, "", errNoEpoll }

// rawWrite is write(2) (the ticker's).
func rawWrite(fd int, b []byte) (int, error) { return syscall.Write(fd, b) }

// loopbackCost measures the harness's two system calls a token on Linux
// only (loopback_linux.go).
func loopbackCost(int, time.Duration) (time.Duration, error) { return 0, errNoEpoll }

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Measurements of a process from /proc (Linux only).

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time (user + system) that process pid ("self" for
// this one) has used so far, all its threads included.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may contain spaces: skip past it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: bad utime/stime", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// procStatus returns a size field of /proc/PID/status (such as VmRSS or
// VmHWM) in bytes.
func procStatus(pid, field string) (int64, error) {
	return procStatusFile("/proc/"+pid+"/status", field)
}

// raiseNofile raises this process's open-file limit to at least want (up to
// the hard limit, or beyond it when allowed) and returns the limit in force.
// Child processes started afterwards inherit it: once a Go program calls
// Setrlimit(RLIMIT_NOFILE) itself, os/exec no longer restores the original
// soft limit in children.
func raiseNofile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Max < want {
		// Only a privileged process may raise the hard limit; try.
		up := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return want, nil
		}
	}
	lim.Cur = min(max(lim.Cur, want), lim.Max)
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur, err
}

// nofile returns the soft open-file limit in force.
func nofile() uint64 {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// ephemeralPorts returns how many local ports outgoing connections can use.
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28000
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 28000
	}
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	return hi - lo + 1
}

// hostCPU returns the CPU time the whole host has been busy so far (all
// cores: user, nice, system, irq, softirq, steal) from /proc/stat.
func hostCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: unexpected format")
	}
	var busy int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

// hostBusy returns how many cores the host kept busy on average over d.
func hostBusy(d time.Duration) float64 {
	a, err := hostCPU()
	if err != nil {
		return 0
	}
	t0 := time.Now()
	time.Sleep(d)
	b, _ := hostCPU()
	return float64(b-a) / float64(time.Since(t0))
}

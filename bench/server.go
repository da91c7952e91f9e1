package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hxchat as a child process: built from source, started on a loopback port
// against the fake upstream, measured through /proc, stopped with SIGTERM.

// moduleRoot returns the directory of the hxchat module (where go.mod is),
// as the go command finds it from the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the hxchat module: run the benchmark from the repository (or pass -src)")
	}
	return filepath.Dir(mod), nil
}

// buildHxchat builds ./cmd/hxchat of the module in src into out. With rev
// set, it builds that git revision (exported with git archive into a
// temporary directory) instead of the working tree.
func buildHxchat(ctx context.Context, src, rev, out string) error {
	if rev != "" {
		tree := out + "-src"
		if err := os.MkdirAll(tree, 0o755); err != nil {
			return err
		}
		archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", rev)
		archive.Dir = src
		tar, err := archive.Output()
		if err != nil {
			return fmt.Errorf("git archive %s: %w", rev, err)
		}
		untar := exec.CommandContext(ctx, "tar", "-x", "-C", tree)
		untar.Stdin = bytes.NewReader(tar)
		if out, err := untar.CombinedOutput(); err != nil {
			return fmt.Errorf("unpack %s: %v: %s", rev, err, out)
		}
		src = tree
	}
	return goBuild(ctx, src, "./cmd/hxchat", out)
}

// goBuild builds the package pkg of the module in src into the binary out.
func goBuild(ctx context.Context, src, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// hxchatProc is a running hxchat.
type hxchatProc struct {
	cmd    *exec.Cmd
	pid    string
	URL    string // base URL, like http://127.0.0.1:43121
	logs   *logSink
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// childEnv is the environment of hxchat: nothing of ours (no stray
// AZURE_*/OPENAI_*/HXCHAT_* settings) except the basics and the Go runtime's
// knobs, which a user may set on purpose (GOGC, GOMAXPROCS, GOMEMLIMIT,
// GODEBUG).
func childEnv(up *upstream) []string {
	env := []string{
		"OPENAI_BASE_URL=" + up.URL,
		"OPENAI_MODEL=bench",
		"OPENAI_API_KEY=bench",
	}
	if up.CAFile != "" {
		env = append(env, "SSL_CERT_FILE="+up.CAFile) // Go's TLS trusts the fake's certificate
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOGC", "GOMAXPROCS", "GOMEMLIMIT", "GODEBUG", "HXCHAT_CPUPROFILE", "HXCHAT_MEMPROFILE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

var reReady = regexp.MustCompile(`hxchat is ready.*\burl=(http://\S+)`)

// startHxchat starts the binary with its data in dataDir (also its working
// directory, so that no .env of the developer's is read) and waits until it
// says it is ready. Logs at info level: one line per request (the POST, the
// stream), none per token.
// With dbURL set, it uses that PostgreSQL database instead of SQLite, as
// replica number replica (from 1; 0 for a single process), which writes its
// profiles (HXCHAT_CPUPROFILE, HXCHAT_MEMPROFILE) to files of its own, the
// path and ".N".
func startHxchat(bin, dataDir, dbURL string, replica int, up *upstream) (*hxchatProc, error) {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-data", dataDir, "-log-level", "info", "-drain", "5s",
		// The ladder runs more answers at once than the default limit allows,
		// and its thousands of browsers come from one address.
		"-max-answers", "0", "-rate", "0")
	cmd.Dir = dataDir
	cmd.Env = childEnv(up)
	if dbURL != "" {
		cmd.Env = append(cmd.Env, "HXCHAT_DATABASE_URL="+dbURL)
	}
	if replica > 0 {
		for _, k := range []string{"HXCHAT_CPUPROFILE", "HXCHAT_MEMPROFILE"} {
			if prof := os.Getenv(k); prof != "" {
				cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%s.%d", k, prof, replica))
			}
		}
	}
	logs := &logSink{ready: make(chan string, 1)}
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &hxchatProc{cmd: cmd, pid: strconv.Itoa(cmd.Process.Pid), logs: logs, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	select {
	case p.URL = <-logs.ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("hxchat exited at start-up (%v): %s", p.err, logs.tail())
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, fmt.Errorf("hxchat not ready after 30s: %s", logs.tail())
	}
}

// stop sends SIGTERM and waits for the exit up to limit (then kills). It
// returns how long the exit took and whether it was clean (exit status 0).
func (p *hxchatProc) stop(limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(start), p.err == nil
	case <-time.After(limit):
		p.kill()
		return time.Since(start), false
	}
}

func (p *hxchatProc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// logSink collects hxchat's log: it finds the ready line and keeps the
// warnings and errors (the count, and the last few lines).
type logSink struct {
	mu     sync.Mutex
	buf    []byte
	ready  chan string
	seen   bool
	warns  int
	errors int
	last   []string
	byMsg  map[string]int // warnings and errors by level and message
}

func (l *logSink) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a runaway line
		l.line(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(b), nil
}

func (l *logSink) line(s string) {
	if !l.seen {
		if m := reReady.FindStringSubmatch(s); m != nil {
			l.seen = true
			l.ready <- m[1]
			return
		}
	}
	switch {
	case strings.Contains(s, "level=WARN"):
		l.warns++
	case strings.Contains(s, "level=ERROR"):
		l.errors++
	case strings.Contains(s, "level=INFO"):
		return
	}
	if m := reLevelMsg.FindStringSubmatch(s); m != nil {
		if l.byMsg == nil {
			l.byMsg = map[string]int{}
		}
		msg := m[1] + " " + m[2]
		if len(l.byMsg) < 100 || l.byMsg[msg] > 0 {
			l.byMsg[msg]++
		}
	}
	if len(l.last) == 8 {
		l.last = l.last[1:]
	}
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	l.last = append(l.last, s)
}

var reLevelMsg = regexp.MustCompile(`level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S+)`)

// counts returns the number of warnings and errors logged so far, and the
// last lines that were not info.
func (l *logSink) counts() (warns, errs int, last []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.warns, l.errors, append([]string(nil), l.last...)
}

// messages returns the warnings and errors by "LEVEL message".
func (l *logSink) messages() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.byMsg)
}

func (l *logSink) tail() string {
	_, _, last := l.counts()
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(append(last, string(l.buf)), "\n")
}

// gitDescribe returns the short commit of the module's HEAD (or of rev), and
// whether the working tree has changed or untracked files outside bench/.
func gitDescribe(src, rev string) (commit string, dirty bool) {
	if rev == "" {
		rev = "HEAD"
	}
	out, err := exec.Command("git", "-C", src, "rev-parse", "--short", rev).Output()
	if err != nil {
		return "unknown", false
	}
	commit = strings.TrimSpace(string(out))
	if rev != "HEAD" {
		return commit, false
	}
	// Changed or untracked files (outside bench/) are built too.
	st, _ := exec.Command("git", "-C", src, "status", "--porcelain", "--", ".", ":!bench").Output()
	return commit, len(bytes.TrimSpace(st)) > 0
}

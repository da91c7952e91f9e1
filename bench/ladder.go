package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// rungSpec is one rung of the ladder: Streams browsers each asking for
// Answers answers (one after another) of Tokens tokens, Every apart, the
// browsers starting evenly over Ramp.
type rungSpec struct {
	Streams int
	Tokens  int
	Every   time.Duration
	Ramp    time.Duration
	Answers int // answers per browser, in a row; 0 means 1
}

func (s rungSpec) String() string {
	r := fmt.Sprintf("%d×%d@%s", s.Streams, s.Tokens, s.Every)
	if s.Answers > 1 {
		r += fmt.Sprintf("×%d", s.Answers)
	}
	return r
}

// The ladder of issue 6. The single stream asks five answers in a row so
// that its time to first token has more than one sample.
var ladder = []rungSpec{
	{Streams: 1, Tokens: 200, Every: 10 * time.Millisecond, Answers: 5},
	{Streams: 60, Tokens: 200, Every: 10 * time.Millisecond, Ramp: time.Second},
	{Streams: 1000, Tokens: 200, Every: 50 * time.Millisecond, Ramp: 3 * time.Second},
	{Streams: 5000, Tokens: 100, Every: 250 * time.Millisecond, Ramp: 5 * time.Second},
}

// quickLadder is a smoke run of a few seconds.
var quickLadder = []rungSpec{
	{Streams: 1, Tokens: 20, Every: 10 * time.Millisecond, Answers: 3},
	{Streams: 20, Tokens: 50, Every: 10 * time.Millisecond, Ramp: 200 * time.Millisecond},
	{Streams: 100, Tokens: 40, Every: 50 * time.Millisecond, Ramp: 500 * time.Millisecond},
}

// parseRungs reads -rungs: a comma-separated list of ladder rungs by their
// stream count ("1,60"), or custom rungs "N×T@D" (also written NxT@D, with an
// optional "/RAMP" and "×A" answers per browser): "300x200@10ms/2s".
func parseRungs(s string, base []rungSpec) ([]rungSpec, error) {
	var out []rungSpec
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if n, err := strconv.Atoi(f); err == nil {
			i := slices.IndexFunc(base, func(r rungSpec) bool { return r.Streams == n })
			if i < 0 {
				return nil, fmt.Errorf("no rung of %d streams in the ladder (have %s); write a custom one as NxT@D", n, rungNames(base))
			}
			out = append(out, base[i])
			continue
		}
		r, err := parseRung(f)
		if err != nil {
			return nil, fmt.Errorf("rung %q: %w", f, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rungs in %q", s)
	}
	return out, nil
}

func rungNames(rs []rungSpec) string {
	var n []string
	for _, r := range rs {
		n = append(n, strconv.Itoa(r.Streams))
	}
	return strings.Join(n, ",")
}

func parseRung(f string) (rungSpec, error) {
	var r rungSpec
	f = strings.ReplaceAll(f, "×", "x")
	f, ramp, hasRamp := strings.Cut(f, "/")
	n, rest, ok := strings.Cut(f, "x")
	t, d, ok2 := strings.Cut(rest, "@")
	if !ok || !ok2 {
		return r, fmt.Errorf("want N×T@D, like 300x200@10ms")
	}
	d, answers, hasAnswers := strings.Cut(d, "x")
	var err error
	if r.Streams, err = strconv.Atoi(n); err != nil || r.Streams < 1 || r.Streams > 100000 {
		return r, fmt.Errorf("bad stream count %q", n)
	}
	if r.Tokens, err = strconv.Atoi(t); err != nil || r.Tokens < 1 || r.Tokens > 10000 {
		return r, fmt.Errorf("bad token count %q", t)
	}
	if r.Every, err = time.ParseDuration(d); err != nil || r.Every < 0 || r.Every > time.Minute {
		return r, fmt.Errorf("bad interval %q", d)
	}
	if hasRamp {
		if r.Ramp, err = time.ParseDuration(ramp); err != nil || r.Ramp < 0 || r.Ramp > 10*time.Minute {
			return r, fmt.Errorf("bad ramp %q", ramp)
		}
	}
	if hasAnswers {
		if r.Answers, err = strconv.Atoi(answers); err != nil || r.Answers < 1 || r.Answers > 1000 {
			return r, fmt.Errorf("bad answer count %q", answers)
		}
	}
	return r, nil
}

// harness runs rungs: one fake upstream for all, a fresh hxchat per rung.
type harness struct {
	clk      clock
	up       *upstream
	bin      string // the hxchat binary
	floor    bool   // bin is the floor relay
	work     string // a temporary directory for the rungs' data
	delay    time.Duration
	line     int
	code     bool // answers are one code block (-code)
	progress io.Writer
	trace    bool          // keep each answer's token order (tests)
	quiet    time.Duration // before a rung, wait up to this long for the host to be idle
	client   string        // the browsers' event stream client: clientEpoll or clientNetHTTP
	pollers  int           // the epoll client's pollers
	replicas int           // >0: that many hxchat processes on one PostgreSQL database (-replicas)
	dbURL    string        // the PostgreSQL server they use (-database); each rung gets a fresh database
}

// server names the server a rung runs against.
func (h *harness) server() string {
	switch {
	case h.floor:
		return "the floor relay"
	case h.replicas > 0:
		return fmt.Sprintf("hxchat (%d on PostgreSQL)", h.replicas)
	}
	return "hxchat"
}

// rungResult is the outcome of one rung.
type rungResult struct {
	Spec  rungSpec
	Floor bool // run against the floor relay (bench/floor), not hxchat
	// Replicas is how many hxchat processes shared one PostgreSQL
	// database; 0 for one process on SQLite (the default).
	Replicas int
	Delay    time.Duration // the fake model's delay before the first token
	Skipped  string        // why the rung did not run; "" when it ran

	Answers    int            // answers asked
	Failed     int            // answers that did not arrive whole
	Failures   map[string]int // failed answers by kind
	Reconnects int            // event stream reconnects (htmx-style)
	Wire       int64          // bytes of the answers' event streams
	Notes      map[string]int // reconnect causes by kind
	Details    []string       // a few failure details, for the log
	Tokens     int64          // tokens delivered (first seen by a browser)
	Expected   int64          // tokens asked
	PeakTPS    int64          // most tokens delivered in one second
	MaxOpen    int64          // most event streams open at once
	Wall       time.Duration  // the measured phase: first POST to last answer's end

	TTFT        []time.Duration // per answer: token 1's added latency
	PostToFirst []time.Duration // per answer: message sent → token 1 seen, minus the model's delay
	Lat         []time.Duration // per token: added latency (sorted)
	LatRelayed  []time.Duration // with replicas: of the readers on a replica that did not generate the answer (sorted)
	LatOwner    []time.Duration // ... and of those on the one that did (sorted)
	LatSteady   []time.Duration // the same, of tokens that came after the ramp (sorted)
	PerSecond   []secondStats   // delivery and latency second by second

	ServerCPU  time.Duration // hxchat's CPU over the measured phase
	HarnessCPU time.Duration // this process's CPU over the measured phase
	IdleRSS    int64         // hxchat's RSS after start-up and one page view
	// IdleFile is the part of IdleRSS that is the binary's own pages
	// (RssFile): the code start-up ran. It moves by a few MiB with how the
	// kernel caches the file just built, from one build to the next.
	IdleFile  int64
	PeakRSS   int64          // hxchat's VmHWM at the end of the rung
	EndRSS    int64          // hxchat's RSS at the end of the rung
	StopTime  time.Duration  // SIGTERM to exit
	StopClean bool           // exited 0 within the limit
	LogWarns  int            // hxchat's log lines at WARN
	LogErrors int            // ... and at ERROR
	LogLast   []string       // its last lines above INFO
	LogByMsg  map[string]int // its warnings and errors by level and message

	UpstreamLagMax time.Duration // latest token of the fake upstream behind schedule
	UpstreamStalls int64         // the ticker's writes that found hxchat's socket full
	UpstreamReqs   int64         // chat completion requests the fake upstream got
	UpstreamSent   int64         // tokens it wrote
	OthersCPU      time.Duration // CPU the host spent on other processes meanwhile
	QuietBefore    float64       // cores busy on the host just before the rung
	PGXacts        int64         // with replicas: transactions of the rung's database (commits and rollbacks)
	PGWrites       int64         // ... and rows it inserted, updated or deleted
	Orders         [][]int       // per answer, the order of new tokens (trace only)
}

// fdsNeeded is a generous count of the descriptors one side needs for n
// streams: each stream is a browser connection plus an upstream connection.
func fdsNeeded(n int) uint64 { return uint64(2*n + 512) }

func (h *harness) logf(format string, a ...any) {
	if h.progress != nil {
		fmt.Fprintf(h.progress, format+"\n", a...)
	}
}

// run runs one rung: it starts a fresh hxchat, lets the browsers loose over
// the ramp, waits for every answer (bounded), and measures.
func (h *harness) run(ctx context.Context, idx int, spec rungSpec) *rungResult {
	res := &rungResult{Spec: spec, Floor: h.floor, Delay: h.delay, Failures: map[string]int{}, Notes: map[string]int{}}
	answers := max(spec.Answers, 1)
	res.Answers = spec.Streams * answers
	res.Expected = int64(res.Answers) * int64(spec.Tokens)
	if lim := nofile(); lim < fdsNeeded(spec.Streams) {
		res.Skipped = fmt.Sprintf("needs about %d open files per process, the limit is %d (raise the hard limit: ulimit -Hn)", fdsNeeded(spec.Streams), lim)
		return res
	}
	if ports := ephemeralPorts(); 2*spec.Streams > ports-2000 {
		res.Skipped = fmt.Sprintf("needs about %d loopback ports, the local port range has %d", 2*spec.Streams, ports)
		return res
	}

	// Other processes' work on the host would distort everything: wait for
	// quiet (bounded), and measure what others use during the rung.
	deadlineQuiet := time.Now().Add(h.quiet)
	for h.quiet > 0 {
		res.QuietBefore = hostBusy(3 * time.Second)
		if res.QuietBefore < 0.15 || !time.Now().Before(deadlineQuiet) || ctx.Err() != nil {
			break
		}
		h.logf("rung %d: the host is busy (%.2f cores used by other processes); waiting for quiet", idx+1, res.QuietBefore)
	}

	dataDir := filepath.Join(h.work, fmt.Sprintf("rung%d", idx+1))
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		res.Skipped = err.Error()
		return res
	}
	res.Replicas = h.replicas
	var db *benchDB
	if h.replicas > 0 {
		var err error
		if db, err = createDB(ctx, h.dbURL, fmt.Sprintf("hxchat_bench_%d_%d", os.Getpid(), idx+1)); err != nil {
			res.Skipped = err.Error()
			return res
		}
		defer db.drop()
	}
	var procs []*hxchatProc
	defer func() {
		for _, p := range procs {
			select {
			case <-p.exited:
			default:
				p.kill()
			}
		}
	}()
	for i := range max(h.replicas, 1) {
		dbURL, replica := "", 0
		if db != nil {
			dbURL, replica = db.url, i+1
		}
		p, err := startHxchat(h.bin, dataDir, dbURL, replica, h.up)
		if err != nil {
			res.Skipped = err.Error()
			return res
		}
		procs = append(procs, p)
	}
	var bases []string
	for _, p := range procs {
		bases = append(bases, p.URL)
	}

	params := streamParams{Tokens: spec.Tokens, Every: spec.Every, Delay: h.delay, Line: h.line, Code: h.code}
	g := &loadGen{clk: h.clk, params: params, tr: newTransport(spec.Streams), trace: h.trace, client: h.client}
	defer g.tr.CloseIdleConnections()
	if err := g.setReplicas(bases...); err != nil {
		res.Skipped = err.Error()
		return res
	}
	if g.client == clientEpoll {
		if err := g.startPollers(h.pollers); err != nil {
			res.Skipped = "epoll client: " + err.Error()
			return res
		}
		defer g.stopPollers()
	}

	// Idle: after start-up and one page view, as the README measures it.
	for i := range procs {
		if err := g.newBrowser(i).page(ctx); err != nil {
			res.Skipped = "hxchat does not serve its page: " + err.Error()
			return res
		}
	}
	time.Sleep(300 * time.Millisecond)
	res.IdleRSS = sumProcs(procs, func(p *hxchatProc) int64 { n, _ := procStatus(p.pid, "VmRSS"); return n })
	res.IdleFile = sumProcs(procs, func(p *hxchatProc) int64 { n, _ := procStatus(p.pid, "RssFile"); return n })

	// Every loop below ends by this deadline: twice the rung's length, plus
	// half a minute.
	length := spec.Ramp + time.Duration(answers)*(h.delay+time.Duration(spec.Tokens)*spec.Every)
	deadline := 2*length + 30*time.Second
	rctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	g.perSecond = make([]atomic.Int64, int(deadline/time.Second)+2)

	var pids []string
	for _, p := range procs {
		pids = append(pids, p.pid)
	}
	h.logf("rung %d: %s (ramp %s, delay %s): %s pid %s idle RSS %.1f MiB; running (at most %s)",
		idx+1, spec, spec.Ramp, h.delay, h.server(), strings.Join(pids, ","), mib(res.IdleRSS), deadline.Round(time.Second))

	cpuOf := func(p *hxchatProc) int64 { d, _ := procCPU(p.pid); return int64(d) }
	cpu0 := sumProcs(procs, cpuOf)
	var pg0 pgStats
	if db != nil {
		pg0, _ = db.stats(ctx)
	}
	self0, _ := procCPU("self")
	host0, _ := hostCPU()
	start := h.clk.now()
	g.t0 = start
	h.up.lagMax.Store(0)
	reqs0, sent0, stalls0 := h.up.requests.Load(), h.up.sent.Load(), h.up.stalls.Load()

	// With HXCHAT_MEMPROFILE set, hxchat writes its heap profile and memory
	// metrics at SIGUSR1: sent when the last browser's first answer is half
	// written, when every stream is live.
	if os.Getenv("HXCHAT_MEMPROFILE") != "" {
		mid := spec.Ramp + h.delay + time.Duration(spec.Tokens)*spec.Every/2
		t := time.AfterFunc(mid, func() {
			for _, p := range procs {
				p.cmd.Process.Signal(syscall.SIGUSR1)
			}
		})
		defer t.Stop()
	}

	var (
		mu      sync.Mutex
		results = make([]*answerResult, 0, res.Answers)
		wg      sync.WaitGroup
	)
	for i := range spec.Streams {
		at := time.Duration(0)
		if spec.Streams > 1 {
			at = spec.Ramp * time.Duration(i) / time.Duration(spec.Streams-1)
		}
		wg.Go(func() {
			select {
			case <-time.After(at):
			case <-rctx.Done():
				return
			}
			b := g.newBrowser(i)
			var mine []*answerResult
			if err := b.page(rctx); err != nil {
				f := err.(*failure)
				for range answers {
					mine = append(mine, &answerResult{ttft: -1, postToFirst: -1, fail: f.kind, detail: f.detail})
				}
			} else {
				for range answers {
					r := b.answer(rctx)
					r.relayed = b.relayed()
					mine = append(mine, r)
				}
			}
			mu.Lock()
			results = append(results, mine...)
			mu.Unlock()
		})
	}

	// Progress, and a watch on hxchat: if it dies, say so.
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	crashed := false
	exited := anyExited(procs)
wait:
	for {
		select {
		case <-waited:
			break wait
		case <-exited:
			if !crashed {
				crashed = true
				for _, p := range procs {
					if p.err != nil {
						h.logf("  hxchat (pid %s) exited during the rung: %v", p.pid, p.err)
					}
				}
			}
		case <-tick.C:
			var n int64
			for i := range g.perSecond {
				n += g.perSecond[i].Load()
			}
			h.logf("  %4.0fs: %d streams open, %d tokens delivered", (h.clk.now() - start).Seconds(), g.open.Load(), n)
		}
	}
	end := h.clk.now()
	res.Wall = end - start
	cpu1 := sumProcs(procs, cpuOf)
	self1, _ := procCPU("self")
	host1, _ := hostCPU()
	res.HarnessCPU = self1 - self0
	if !crashed {
		// With several replicas, the sum of each one's peak: an upper
		// bound of the peak of their sum.
		res.ServerCPU = time.Duration(cpu1 - cpu0)
		res.PeakRSS = sumProcs(procs, func(p *hxchatProc) int64 { n, _ := procStatus(p.pid, "VmHWM"); return n })
		res.EndRSS = sumProcs(procs, func(p *hxchatProc) int64 { n, _ := procStatus(p.pid, "VmRSS"); return n })
	}
	res.UpstreamLagMax = time.Duration(h.up.lagMax.Load())
	res.UpstreamStalls = h.up.stalls.Load() - stalls0
	res.UpstreamReqs, res.UpstreamSent = h.up.requests.Load()-reqs0, h.up.sent.Load()-sent0
	res.OthersCPU = max(host1-host0-res.ServerCPU-res.HarnessCPU, 0)
	res.MaxOpen = g.maxOpen.Load()
	for i := range g.perSecond {
		res.PeakTPS = max(res.PeakTPS, g.perSecond[i].Load())
	}

	// Stop it as an operator would, and time it.
	// Replicas stop one by one, as a rolling deploy does.
	res.StopClean = !crashed
	for _, p := range procs {
		if crashed {
			break
		}
		d, clean := p.stop(20 * time.Second)
		res.StopTime = max(res.StopTime, d)
		res.StopClean = res.StopClean && clean
	}
	res.LogByMsg = map[string]int{}
	for _, p := range procs {
		w, e, last := p.logs.counts()
		res.LogWarns += w
		res.LogErrors += e
		res.LogLast = append(res.LogLast, last...)
		for k, n := range p.logs.messages() {
			res.LogByMsg[k] += n
		}
	}
	if db != nil {
		// Once the replicas are gone their backends have flushed their
		// statistics: the difference is the rung's, start-up aside.
		if pg1, err := db.stats(ctx); err == nil {
			res.PGXacts, res.PGWrites = pg1.xacts-pg0.xacts, pg1.writes-pg0.writes
		}
	}

	// Answers that never started (the deadline came first) count as timeouts.
	for len(results) < res.Answers {
		results = append(results, &answerResult{ttft: -1, postToFirst: -1, fail: "timeout", detail: "never started"})
	}
	for _, r := range results {
		res.Tokens += int64(len(r.lat))
		res.Lat = append(res.Lat, r.lat...)
		if res.Replicas > 0 {
			if r.relayed {
				res.LatRelayed = append(res.LatRelayed, r.lat...)
			} else {
				res.LatOwner = append(res.LatOwner, r.lat...)
			}
		}
		if r.ttft >= 0 {
			res.TTFT = append(res.TTFT, r.ttft)
			res.PostToFirst = append(res.PostToFirst, r.postToFirst)
		}
		res.Reconnects += r.reconnects
		res.Wire += r.wire
		for _, n := range r.notes {
			res.Notes[n]++
		}
		if r.fail != "" {
			res.Failed++
			res.Failures[r.fail]++
			if len(res.Details) < 5 {
				res.Details = append(res.Details, r.fail+": "+r.detail)
			}
		}
		if h.trace {
			res.Orders = append(res.Orders, r.order)
		}
	}
	res.PerSecond = perSecond(results, res.Wall)
	steady := spec.Ramp + h.delay
	for _, r := range results {
		for i, at := range r.at {
			if at >= steady {
				res.LatSteady = append(res.LatSteady, r.lat[i])
			}
		}
	}
	slices.Sort(res.LatSteady)
	slices.Sort(res.Lat)
	slices.Sort(res.LatRelayed)
	slices.Sort(res.LatOwner)
	slices.Sort(res.TTFT)
	slices.Sort(res.PostToFirst)
	return res
}

// secondStats is one second of a rung: tokens delivered, and their added
// latency's p99 and max.
type secondStats struct {
	Tokens   int
	P99, Max time.Duration
}

func perSecond(results []*answerResult, wall time.Duration) []secondStats {
	lats := make([][]time.Duration, int(wall/time.Second)+1)
	for _, r := range results {
		for i, at := range r.at {
			if s := int(at / time.Second); s >= 0 && s < len(lats) {
				lats[s] = append(lats[s], r.lat[i])
			}
		}
	}
	out := make([]secondStats, len(lats))
	for i, l := range lats {
		slices.Sort(l)
		out[i] = secondStats{Tokens: len(l), P99: pct(l, .99), Max: pct(l, 1)}
	}
	return out
}

// pct returns the q-quantile (nearest rank) of sorted values; -1 if none.
func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	i := int(math.Ceil(float64(len(sorted))*q)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// sumProcs adds up f over the processes.
func sumProcs(procs []*hxchatProc, f func(*hxchatProc) int64) int64 {
	var n int64
	for _, p := range procs {
		n += f(p)
	}
	return n
}

// anyExited returns a channel closed as soon as one of the processes has
// exited.
func anyExited(procs []*hxchatProc) <-chan struct{} {
	if len(procs) == 1 {
		return procs[0].exited
	}
	c := make(chan struct{})
	var once sync.Once
	for _, p := range procs {
		go func() {
			<-p.exited
			once.Do(func() { close(c) })
		}()
	}
	return c
}

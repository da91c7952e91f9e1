// Command bench is hxchat's load benchmark (issue 6). It starts a fake
// OpenAI-compatible model service that streams time-stamped tokens, builds
// and starts hxchat against it, and lets N simulated browsers chat with it
// as htmx would, measuring per token the latency hxchat adds, the time to
// first token, failures by kind, and hxchat's CPU and memory. One command
// runs the whole ladder and prints a table:
//
//	go run ./bench                 # the ladder: 1, 60, 1000 and 5000 streams
//	go run ./bench -rungs 1,60     # some rungs
//	go run ./bench -rungs 300x200@10ms/2s   # a custom rung: N×T@D/ramp
//	go run ./bench -quick          # a smoke run of a few seconds
//
// See bench/README.md for what each column means.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		rungs  = fs.String("rungs", "", "rungs to run: stream counts of the ladder (1,60,1000,5000) or custom NxT@D[/RAMP][xANSWERS] (default: the whole ladder)")
		quick  = fs.Bool("quick", false, "a smoke run of a few seconds (small rungs; writes no results unless -out is given)")
		delay  = fs.Duration("delay", 200*time.Millisecond, "the fake model's delay before the first token")
		line   = fs.Int("line", 20, "a paragraph break after every this many tokens (0: one long line)")
		code   = fs.Bool("code", false, "answers are one Go code block, a line of code every -line tokens")
		bin    = fs.String("hxchat", "", "a prebuilt hxchat binary (default: go build ./cmd/hxchat)")
		rev    = fs.String("rev", "", "build this git revision instead of the working tree (e.g. HEAD)")
		src    = fs.String("src", "", "the hxchat module's directory (default: found by go env GOMOD)")
		out    = fs.String("out", "", `the Markdown results file (default: bench/results/DATE.md; "-" for none)`)
		keep   = fs.Bool("keep", false, "keep the temporary directory (binary, databases)")
		quiet  = fs.Duration("quiet", time.Minute, "before each rung, wait up to this long for other processes to leave the host idle")
		prof   = fs.String("cpuprofile", "", "write the harness's own CPU profile to this file (to keep the harness cheap)")
		useTLS = fs.Bool("tls", false, "the fake model service speaks HTTPS with HTTP/2, as Azure OpenAI and OpenAI do (default: plain HTTP/1.1, as local model servers)")
		floor  = fs.Bool("floor", false, "run every rung also against the floor relay (bench/floor), which only relays tokens: what the host and harness cost")
		client = fs.String("client", clientEpoll, "how the browsers follow the event streams: epoll (all on a few epoll sets, cheap) or nethttp (net/http, a goroutine per stream)")
		pollsN = fs.Int("pollers", 1, "the epoll client's pollers (goroutines, each with its epoll set)")
		procs  = fs.Int("procs", 1, "GOMAXPROCS of the harness itself (0: the Go default, one per core; hxchat keeps its own)")
		reps   = fs.Int("replicas", 0, "run every rung also against this many hxchat replicas on one PostgreSQL database (-database), half of the browsers following their answers on a replica that does not generate them")
		dbURL  = fs.String("database", "postgres://127.0.0.1:5432/test?sslmode=disable", "with -replicas: a PostgreSQL server where each rung creates (and then drops) a database of its own")
		upMode = fs.String("upstream", "ticker", "how the fake model writes its streams over plain HTTP: ticker (one goroutine for all streams) or handler (a goroutine and a timer per stream); over TLS always handler")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench [flags]\n\nhxchat's load benchmark: a fake model, hxchat, and N browsers on this host.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	base := ladder
	if *quick {
		base = quickLadder
	}
	specs := base
	if *rungs != "" {
		var err error
		if specs, err = parseRungs(*rungs, base); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 2
		}
	}
	if *upMode != "ticker" && *upMode != "handler" {
		fmt.Fprintln(os.Stderr, "bench: -upstream must be ticker or handler")
		return 2
	}
	if *client != clientEpoll && *client != clientNetHTTP {
		fmt.Fprintln(os.Stderr, "bench: -client must be epoll or nethttp")
		return 2
	}
	if *reps < 0 || *reps > 8 {
		fmt.Fprintln(os.Stderr, "bench: -replicas must be within 0..8")
		return 2
	}
	if *delay < 0 || *delay > time.Minute || *line < 0 {
		fmt.Fprintln(os.Stderr, "bench: -delay must be within 0..1m and -line ≥ 0")
		return 2
	}

	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()

	// Open files: each stream is two connections in each process.
	need := uint64(0)
	for _, s := range specs {
		need = max(need, fdsNeeded(s.Streams))
	}
	if lim, err := raiseNofile(need); err != nil || lim < need {
		fmt.Fprintf(os.Stderr, "bench: open files limit %d (wanted %d): %v\n", lim, need, err)
	}

	dir := *src
	if dir == "" {
		var err error
		if dir, err = moduleRoot(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	work, err := os.MkdirTemp("", "hxchat-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "bench: keeping", work)
	} else {
		defer os.RemoveAll(work)
	}
	binary := *bin
	if binary == "" {
		binary = filepath.Join(work, "hxchat")
		what := "the working tree"
		if *rev != "" {
			what = *rev
		}
		fmt.Fprintf(os.Stderr, "bench: building hxchat from %s of %s\n", what, dir)
		if err := buildHxchat(ctx, dir, *rev, binary); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}

	floorBin := ""
	if *floor {
		floorBin = filepath.Join(work, "floor")
		fmt.Fprintf(os.Stderr, "bench: building the floor relay of %s\n", dir)
		if err := goBuild(ctx, dir, "./bench/floor", floorBin); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}

	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	clk := newClock()
	tlsDir := ""
	if *useTLS {
		tlsDir = work
	}
	up, err := startUpstream(clk, tlsDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: fake upstream:", err)
		return 1
	}
	defer up.close()
	up.HandlerLoop = *upMode == "handler"
	// How the harness works, for the report.
	browsers := "net/http"
	if *client == clientEpoll {
		browsers = fmt.Sprintf("the epoll client (pollers: %d)", max(*pollsN, 1))
	}
	writer := "one ticker"
	if up.HandlerLoop || *useTLS {
		writer = "a goroutine per stream"
	}
	harnessDesc := fmt.Sprintf("browsers' event streams through %s, the fake model's streams written by %s, GOMAXPROCS %d",
		browsers, writer, runtime.GOMAXPROCS(0))
	h := &harness{clk: clk, up: up, bin: binary, work: work, delay: *delay, line: *line, code: *code, progress: os.Stderr, quiet: *quiet, client: *client, pollers: *pollsN}

	// The harness's least cost a token on this host, for the report.
	loop, err := loopbackCost(1000, time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: measure a token's system calls on loopback:", err)
	} else {
		fmt.Fprintf(os.Stderr, "bench: a token's write(2) and read(2) on loopback: %s µs of CPU\n", perToken(loop, 1))
	}

	var results []*rungResult
	for i, s := range specs {
		if ctx.Err() != nil {
			break
		}
		runs := []*harness{h}
		if floorBin != "" {
			f := *h
			f.bin, f.floor = floorBin, true
			runs = append(runs, &f)
		}
		if *reps > 0 {
			c := *h
			c.replicas, c.dbURL = *reps, *dbURL
			runs = append(runs, &c)
		}
		for _, hh := range runs {
			if ctx.Err() != nil {
				break
			}
			r := hh.run(ctx, i, s)
			results = append(results, r)
			if r.Skipped != "" {
				fmt.Fprintf(os.Stderr, "rung %d: %s not run: %s\n", i+1, r.name(), r.Skipped)
			} else {
				fmt.Fprintf(os.Stderr, "rung %d: %s: %d tokens, failures %s, added p50 %s p99 %s ms, server %s µs/token, harness %s µs/token\n",
					i+1, r.name(), r.Tokens, r.failures(), ms(pct(r.Lat, .5)), ms(pct(r.Lat, .99)), perToken(r.ServerCPU, r.Tokens), perToken(r.HarnessCPU, r.Tokens))
			}
			runtime.GC() // the next rung starts with this process's memory back
		}
	}
	if len(results) == 0 {
		return 1
	}

	fmt.Println()
	fmt.Print(table(results))
	for _, n := range noisy(results) {
		fmt.Println("WARNING", n)
	}
	for _, t := range targets(results, loop) {
		mark := "met   "
		if !t.ok {
			mark = "MISSED"
		}
		fmt.Printf("%s %s (%s)\n", mark, t.what, t.got)
	}

	path := *out
	if path == "" && !*quick {
		path = filepath.Join(dir, "bench", "results", started.Format("2006-01-02")+".md")
	}
	if path != "" && path != "-" {
		cmd := "go run ./bench"
		if len(args) > 0 {
			cmd += " " + strings.Join(args, " ")
		}
		md := markdown(describeMachine(dir, *rev), settings{Command: cmd, Delay: *delay, Line: *line, Code: *code, TLS: *useTLS, Start: started, Harness: harnessDesc, Loopback: loop}, results)
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = os.WriteFile(path, []byte(md), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: write results:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "bench: results written to", path)
	}
	for _, r := range results {
		if r.Skipped != "" || r.Failed > 0 {
			return 1
		}
	}
	if ctx.Err() != nil {
		return 1
	}
	return 0
}

package main

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The table and the Markdown report.

// ms formats a duration in milliseconds, two decimals; "–" for none.
func ms(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

// perToken returns d per token in µs.
func perToken(d time.Duration, tokens int64) string {
	if tokens == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)/float64(tokens))
}

// kinds formats counts by kind: "timeout 2, http 503 1".
func kinds(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (r *rungResult) failures() string {
	s := "0"
	if r.Failed > 0 {
		s = fmt.Sprintf("%d (%s)", r.Failed, kinds(r.Failures))
	}
	if r.LogErrors > 0 {
		s += fmt.Sprintf("; hxchat logged %d errors", r.LogErrors)
	}
	return s
}

// rssPerStream is (peak − idle) / streams, in KiB.
func (r *rungResult) rssPerStream() string {
	if r.PeakRSS == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(r.PeakRSS-r.IdleRSS)/1024/float64(r.Spec.Streams))
}

// othersCores is how many cores other processes used on average during the
// rung.
func (r *rungResult) othersCores() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return r.OthersCPU.Seconds() / r.Wall.Seconds()
}

// noisy lists the rungs during which other processes used a noticeable
// share of the host: their figures are not hxchat's alone.
func noisy(results []*rungResult) []string {
	var out []string
	for _, r := range results {
		if r.Skipped == "" && r.othersCores() > 0.1 {
			out = append(out, fmt.Sprintf("%s: other processes used %.2f cores on average during the rung; its figures are distorted, run it again on a quiet host", r.name(), r.othersCores()))
		}
	}
	return out
}

// offered is the rate of tokens the upstream sends when every stream is on.
func (r *rungResult) offered() string {
	if r.Spec.Every <= 0 {
		return "unbounded"
	}
	return fmt.Sprintf("%.0f", float64(r.Spec.Streams)/r.Spec.Every.Seconds())
}

var tableHeader = []string{
	"rung", "streams", "tokens/s offered / peak", "failures",
	"TTFT added p50 / p99 (ms)", "added per token p50 / p99 / max (ms)",
	"server CPU µs/token", "× floor", "server peak RSS (MiB)", "RSS/stream (KiB)", "harness CPU µs/token",
}

// name is the rung's label: its spec, "floor" for the floor relay's run,
// and "2×pg" for two replicas on PostgreSQL.
func (r *rungResult) name() string {
	switch {
	case r.Floor:
		return r.Spec.String() + " floor"
	case r.Replicas > 0:
		return fmt.Sprintf("%s %d×pg", r.Spec, r.Replicas)
	}
	return r.Spec.String()
}

// cpuPerToken is the server's CPU per token in µs; 0 when unknown.
func (r *rungResult) cpuPerToken() float64 {
	if r == nil || r.Skipped != "" || r.Tokens == 0 {
		return 0
	}
	return float64(r.ServerCPU) / float64(time.Microsecond) / float64(r.Tokens)
}

// floorOf returns the floor relay's run of r's rung, if there was one.
func floorOf(results []*rungResult, r *rungResult) *rungResult {
	for _, f := range results {
		if f.Floor && f.Spec == r.Spec && f.Skipped == "" {
			return f
		}
	}
	return nil
}

// vsFloor is r's CPU per token as a multiple of the floor relay's in the
// same rung: "1.84×", or "–".
func vsFloor(results []*rungResult, r *rungResult) string {
	f := floorOf(results, r)
	if r.Floor || f == nil || f.cpuPerToken() == 0 || r.cpuPerToken() == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", r.cpuPerToken()/f.cpuPerToken())
}

func (r *rungResult) row(results []*rungResult) []string {
	if r.Skipped != "" {
		return []string{r.name(), fmt.Sprint(r.Spec.Streams), "not run: " + r.Skipped, "", "", "", "", "", "", "", ""}
	}
	return []string{
		r.name(),
		fmt.Sprint(r.Spec.Streams),
		r.offered() + " / " + fmt.Sprint(r.PeakTPS),
		r.failures(),
		ms(pct(r.TTFT, .5)) + " / " + ms(pct(r.TTFT, .99)),
		ms(pct(r.Lat, .5)) + " / " + ms(pct(r.Lat, .99)) + " / " + ms(pct(r.Lat, 1)),
		perToken(r.ServerCPU, r.Tokens),
		vsFloor(results, r),
		fmt.Sprintf("%.1f", mib(r.PeakRSS)),
		r.rssPerStream(),
		perToken(r.HarnessCPU, r.Tokens),
	}
}

// table renders results as a Markdown table, its columns padded.
func table(results []*rungResult) string {
	rows := [][]string{tableHeader}
	for _, r := range results {
		rows = append(rows, r.row(results))
	}
	width := make([]int, len(tableHeader))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(rows[0])
	b.WriteString("|")
	for i := range width {
		b.WriteString(strings.Repeat("-", width[i]+2) + "|")
	}
	b.WriteString("\n")
	for _, row := range rows[1:] {
		line(row)
	}
	return b.String()
}

// target is one figure of issue 13 checked against a rung.
type target struct {
	what string
	ok   bool
	got  string
}

// targets checks the results against the targets of issue 13, which are
// set for one 2-core host, hxchat measured beside the floor relay in the
// same run and with the same harness.
func targets(results []*rungResult, loop time.Duration) []target {
	harnessGot := func(us float64) string {
		if loop <= 0 {
			return fmt.Sprintf("%.1f µs", us)
		}
		return fmt.Sprintf("%.1f µs; this host's write(2) and read(2) of a token alone: %.1f µs", us, float64(loop)/float64(time.Microsecond))
	}
	var t []target
	for _, r := range results {
		if r.Skipped != "" || r.Floor {
			continue
		}
		s := r.Spec
		if !slices.ContainsFunc(ladder, func(l rungSpec) bool {
			return l.Streams == s.Streams && l.Tokens == s.Tokens && l.Every == s.Every
		}) {
			continue // the targets are set for the ladder's rungs only
		}
		name := r.name()
		p99 := pct(r.Lat, .99)
		harness := float64(r.HarnessCPU) / float64(time.Microsecond) / float64(max(r.Tokens, 1))
		switch s.Streams {
		case 1000:
			t = append(t, target{name + ": zero failures", r.Failed == 0, r.failures()})
			if r.Replicas > 0 {
				rp := pct(r.LatRelayed, .99)
				t = append(t, target{name + ": added p99 of the readers on a replica that does not generate the answer ≤ 100 ms", rp >= 0 && rp <= 100*time.Millisecond, ms(rp) + " ms"})
				break
			}
			t = append(t, target{name + ": added p99 ≤ 50 ms", p99 >= 0 && p99 <= 50*time.Millisecond, ms(p99) + " ms"})
			if f := floorOf(results, r); f != nil && f.cpuPerToken() > 0 {
				x := r.cpuPerToken() / f.cpuPerToken()
				t = append(t, target{name + ": server CPU per token ≤ 1.3× the floor relay's", x <= 1.3,
					fmt.Sprintf("%.2f×: %.1f against %.1f µs", x, r.cpuPerToken(), f.cpuPerToken())})
			}
			t = append(t, target{name + ": the harness's CPU ≤ 15 µs per token", harness <= 15, harnessGot(harness)})
		case 5000:
			t = append(t, target{name + ": zero failures", r.Failed == 0, r.failures()})
			t = append(t, target{name + ": added p99 ≤ 100 ms", p99 >= 0 && p99 <= 100*time.Millisecond, ms(p99) + " ms"})
			ttft := pct(r.PostToFirst, .99)
			t = append(t, target{name + ": time to first token p99 ≤ 1 s (message sent → token 1 seen, minus the model's delay)", ttft >= 0 && ttft <= time.Second, ms(ttft) + " ms"})
			per := float64(r.PeakRSS-r.IdleRSS) / 1024 / float64(s.Streams)
			idle := float64(r.IdleRSS) / float64(max(r.Replicas, 1))
			t = append(t, target{name + ": RSS ≤ 40 MB idle + ≤ 100 KiB per live stream", idle <= 40e6 && per <= 100,
				fmt.Sprintf("%.1f MiB idle (%.1f MiB of it the binary's pages) + %s KiB", mib(r.IdleRSS), mib(r.IdleFile), r.rssPerStream())})
			t = append(t, target{name + ": the harness's CPU ≤ 15 µs per token", harness <= 15, harnessGot(harness)})
		}
	}
	return t
}

// details renders what the table leaves out, per rung.
func details(r *rungResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", r.name())
	if r.Skipped != "" {
		fmt.Fprintf(&b, "Not run: %s\n\n", r.Skipped)
		return b.String()
	}
	answers := max(r.Spec.Answers, 1)
	fmt.Fprintf(&b, "- %d browser(s) × %d answer(s) of %d tokens %s apart, started over %s; measured phase %.1f s; at most %d event streams open at once\n",
		r.Spec.Streams, answers, r.Spec.Tokens, r.Spec.Every, r.Spec.Ramp, r.Wall.Seconds(), r.MaxOpen)
	fmt.Fprintf(&b, "- tokens delivered %d of %d; answers failed %d of %d", r.Tokens, r.Expected, r.Failed, r.Answers)
	if r.Failed > 0 {
		fmt.Fprintf(&b, " (%s)", kinds(r.Failures))
	}
	fmt.Fprintf(&b, "; reconnects %d", r.Reconnects)
	if r.Reconnects > 0 {
		fmt.Fprintf(&b, " (%s)", kinds(r.Notes))
	}
	if r.Answers > 0 {
		fmt.Fprintf(&b, "; event streams %.1f KiB an answer", float64(r.Wire)/1024/float64(r.Answers))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- added latency per token: p50 %s, p90 %s, p99 %s, p99.9 %s, max %s ms (%d samples)\n",
		ms(pct(r.Lat, .5)), ms(pct(r.Lat, .9)), ms(pct(r.Lat, .99)), ms(pct(r.Lat, .999)), ms(pct(r.Lat, 1)), len(r.Lat))
	fmt.Fprintf(&b, "- after the ramp (tokens seen %s or later after the first message): p50 %s, p99 %s, max %s ms (%d samples)\n",
		r.Spec.Ramp+r.Delay, ms(pct(r.LatSteady, .5)), ms(pct(r.LatSteady, .99)), ms(pct(r.LatSteady, 1)), len(r.LatSteady))
	fmt.Fprintf(&b, "- tokens/s offered at full overlap %s; delivered: peak %d in one second, %.0f on average over the measured phase\n",
		r.offered(), r.PeakTPS, float64(r.Tokens)/r.Wall.Seconds())
	fmt.Fprintf(&b, "- time to first token added (token 1 seen − sent): p50 %s, p99 %s, max %s ms; message sent → token 1 seen, minus the model's delay: p50 %s, p99 %s ms\n",
		ms(pct(r.TTFT, .5)), ms(pct(r.TTFT, .99)), ms(pct(r.TTFT, 1)), ms(pct(r.PostToFirst, .5)), ms(pct(r.PostToFirst, .99)))
	if r.Replicas > 0 {
		fmt.Fprintf(&b, "- %d replicas on one PostgreSQL database; readers on the replica that generates the answer: added p50 %s, p99 %s, max %s ms (%d samples); on another replica (relayed): p50 %s, p99 %s, max %s ms (%d samples)\n",
			r.Replicas, ms(pct(r.LatOwner, .5)), ms(pct(r.LatOwner, .99)), ms(pct(r.LatOwner, 1)), len(r.LatOwner),
			ms(pct(r.LatRelayed, .5)), ms(pct(r.LatRelayed, .99)), ms(pct(r.LatRelayed, 1)), len(r.LatRelayed))
		sec := r.Wall.Seconds()
		fmt.Fprintf(&b, "- PostgreSQL: %d transactions (%.0f a second, %.0f a second per replica; %.1f an answer), %d rows written (%.0f a second); reads count as transactions too\n",
			r.PGXacts, float64(r.PGXacts)/sec, float64(r.PGXacts)/sec/float64(r.Replicas), float64(r.PGXacts)/float64(max(r.Answers, 1)), r.PGWrites, float64(r.PGWrites)/sec)
	}
	fmt.Fprintf(&b, "- hxchat: CPU %.2f s (%s µs per token); RSS idle %.1f MiB (%.1f MiB of it the binary's pages), peak %.1f MiB, at the end %.1f MiB; SIGTERM to exit %s ms (%s); log: %d warnings, %d errors\n",
		r.ServerCPU.Seconds(), perToken(r.ServerCPU, r.Tokens), mib(r.IdleRSS), mib(r.IdleFile), mib(r.PeakRSS), mib(r.EndRSS),
		ms(r.StopTime), map[bool]string{true: "exit 0", false: "not clean"}[r.StopClean], r.LogWarns, r.LogErrors)
	fmt.Fprintf(&b, "- harness (fake upstream + browsers, one process): CPU %.2f s (%s µs per token); the upstream got %d requests, sent %d tokens, its latest token %s ms behind its schedule; %d writes found hxchat's socket full\n",
		r.HarnessCPU.Seconds(), perToken(r.HarnessCPU, r.Tokens), r.UpstreamReqs, r.UpstreamSent, ms(r.UpstreamLagMax), r.UpstreamStalls)
	if len(r.PerSecond) > 1 {
		b.WriteString("- second by second, tokens delivered / added p99 / max (ms):")
		for i, x := range r.PerSecond {
			if x.Tokens > 0 {
				fmt.Fprintf(&b, " %d: %d / %s / %s;", i, x.Tokens, ms(x.P99), ms(x.Max))
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "- the rest of the host (other processes, the kernel's own threads): %.2f CPU s during the rung, %.2f cores on average; %.2f cores busy just before it\n",
		r.OthersCPU.Seconds(), r.othersCores(), r.QuietBefore)
	for _, d := range r.Details {
		fmt.Fprintf(&b, "- failure: %s\n", d)
	}
	if len(r.LogByMsg) > 0 {
		b.WriteString("- hxchat's warnings and errors by message:")
		for _, k := range slices.Sorted(maps.Keys(r.LogByMsg)) {
			fmt.Fprintf(&b, " `%s` ×%d;", strings.ReplaceAll(k, "`", "'"), r.LogByMsg[k])
		}
		b.WriteString("\n")
	}
	for _, l := range r.LogLast[max(len(r.LogLast)-3, 0):] {
		fmt.Fprintf(&b, "- hxchat log: `%s`\n", strings.ReplaceAll(l, "`", "'"))
	}
	b.WriteString("\n")
	return b.String()
}

// machine describes the host.
type machine struct {
	CPU, Kernel, Go, Commit string
	Cores                   int
	Memory                  int64
	Dirty                   bool
	Nofile                  uint64
}

func describeMachine(src, rev string) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Nofile: nofile()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Memory, _ = procStatusFile("/proc/meminfo", "MemTotal")
	m.Commit, m.Dirty = gitDescribe(src, rev)
	return m
}

// procStatusFile reads a "Key: N kB" line of a /proc file, in bytes.
func procStatusFile(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && k == key {
			var kb int64
			_, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// settings is how the ladder was run.
type settings struct {
	Command string
	Delay   time.Duration
	Line    int
	Code    bool // answers were one code block
	TLS     bool // the fake model service spoke HTTPS with HTTP/2
	Start   time.Time
	Harness string // how the harness itself worked (client, upstream, GOMAXPROCS)
	// Loopback is what a token's two system calls cost the harness on
	// this host (loopbackCost), measured before the rungs; 0: not measured.
	Loopback time.Duration
}

// markdown renders the whole report.
func markdown(m machine, s settings, results []*rungResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# hxchat load benchmark, %s\n\n", s.Start.Format("2006-01-02"))
	fmt.Fprintf(&b, "`%s`, started %s. How to read it: [bench/README.md](../README.md).\n\n", s.Command, s.Start.Format("2006-01-02 15:04 MST"))
	b.WriteString("## Machine\n\n")
	commit := m.Commit
	if m.Dirty {
		commit += " plus uncommitted or untracked files of the working tree"
	}
	fmt.Fprintf(&b, "| | |\n|---|---|\n| CPU | %s, %d logical cores (nproc) |\n| memory | %.1f GiB |\n| kernel | Linux %s |\n| Go | %s |\n| hxchat | %s |\n| open files limit | %d |\n\n",
		m.CPU, m.Cores, float64(m.Memory)/(1<<30), m.Kernel, m.Go, commit, m.Nofile)
	proto := "plain HTTP/1.1 (a connection per answer, as with local model servers)"
	if s.TLS {
		proto = "HTTPS with HTTP/2 (answers share a few connections, as with Azure OpenAI and OpenAI)"
	}
	shape := fmt.Sprintf("with a paragraph break every %d tokens", s.Line)
	if s.Code {
		shape = fmt.Sprintf("each answer one Go code block, a line of code every %d tokens", s.Line)
	}
	fmt.Fprintf(&b, "hxchat, the fake upstream and the browsers share the host. The upstream speaks %s; it sends its first token %s after the request, then the rest at the rung's interval; tokens are about 17 bytes, %s.", proto, s.Delay, shape)
	if s.Harness != "" {
		fmt.Fprintf(&b, " The harness: %s.", s.Harness)
	}
	if s.Loopback > 0 {
		fmt.Fprintf(&b, " The least it can spend on a token here, its two system calls alone (the fake model's write(2) of a chunk and the browser's read(2) of it, on 1,000 pairs of loopback sockets in turn, before the rungs): %.1f µs of CPU.", float64(s.Loopback)/float64(time.Microsecond))
	}
	b.WriteString("\n\n")
	b.WriteString("## Results\n\n")
	b.WriteString(table(results))
	b.WriteString("\n")
	if slices.ContainsFunc(results, func(r *rungResult) bool { return r.Floor }) {
		b.WriteString("A rung marked floor ran right after hxchat's against the floor relay (bench/floor): the same browsers and fake model, with a server that only relays the tokens (no store, templates, Markdown or sessions). It is what this host and harness cost before hxchat does any work; × floor is hxchat's CPU per token as a multiple of it.\n\n")
	}
	if slices.ContainsFunc(results, func(r *rungResult) bool { return r.Replicas > 0 }) {
		b.WriteString("A rung marked N×pg ran N hxchat replicas on one PostgreSQL database (fresh for the rung): browser i posts to replica i mod N, and every other pair of browsers follows its answers on the next replica, which relays them from the one generating them. CPU and RSS are the replicas' sums; PostgreSQL's own CPU is not in them (it shows as the rest of the host).\n\n")
	}
	for _, n := range noisy(results) {
		fmt.Fprintf(&b, "**Warning**: %s.\n\n", n)
	}
	if t := targets(results, s.Loopback); len(t) > 0 {
		b.WriteString("## Targets of issue 13\n\n")
		for _, x := range t {
			mark := "met"
			if !x.ok {
				mark = "**missed**"
			}
			fmt.Fprintf(&b, "- %s: %s (%s)\n", x.what, mark, x.got)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Details\n\n")
	for _, r := range results {
		b.WriteString(details(r))
	}
	return b.String()
}

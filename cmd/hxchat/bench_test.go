package main

import (
	"bufio"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// BenchmarkTokenLatency measures what one answer's stream adds to each
// token: from the moment the fake upstream is let go to send a token to the
// moment the browser-side reader has its SSE event. The path in between is
// the whole of hxchat (SDK parsing, rendering, the hub, the SSE writer) plus
// the fake's own write. Reports p50 and p99 in µs.
//
//	go test -run '^$' -bench TokenLatency -benchtime 2000x ./cmd/hxchat
func BenchmarkTokenLatency(b *testing.B) {
	up, gate, tokens := latencyUpstream(b)
	cfg := testConfig(up, b.TempDir())
	cfg.LogLevel = 8 // errors only
	m := NewMain(cfg, discard{})
	if err := m.Run(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	defer close(gate)
	tokenLatency(b, gate, m, "http://"+m.Addr(), tokens)
}

// BenchmarkTokenLatencyReplicas is BenchmarkTokenLatency on two replicas
// on PostgreSQL: the answer is generated on A and read on A (owner) or on B,
// which relays it from A (relayed). The difference is what the relay adds
// to each token.
//
//	go test -run '^$' -bench TokenLatencyReplicas -benchtime 2000x ./cmd/hxchat
func BenchmarkTokenLatencyReplicas(b *testing.B) {
	for _, read := range []string{"owner", "relayed"} {
		b.Run(read, func(b *testing.B) {
			up, gate, tokens := latencyUpstream(b)
			cfg := testConfig(up, b.TempDir())
			cfg.LogLevel = 8 // errors only
			cfg.DatabaseURL = config.Secret(pgtest.URL(b))
			var ms []*Main
			for range 2 {
				m := NewMain(cfg, discard{})
				if err := m.Run(b.Context()); err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				ms = append(ms, m)
			}
			defer close(gate)
			reader := ms[0]
			if read == "relayed" {
				reader = ms[1]
			}
			tokenLatency(b, gate, ms[0], "http://"+reader.Addr(), tokens)
		})
	}
}

// latencyUpstream is a fake model service whose one answer has a token
// more than b.N, each let through gate after the first.
func latencyUpstream(b *testing.B) (*llmtest.Server, chan struct{}, []string) {
	up := llmtest.NewServer(b)
	gate := make(chan struct{})
	tokens := make([]string, b.N+1)
	for i := range tokens {
		tokens[i] = "token "
		if i%20 == 19 {
			tokens[i] = "token.\n\n" // paragraphs, as answers have
		}
	}
	up.Reply(llmtest.Reply{Tokens: tokens, Gate: gate, GateAfter: 1})
	return up, gate, tokens
}

// tokenLatency posts a message to m, reads its answer's stream at base,
// and measures each token from gate to the reader.
func tokenLatency(b *testing.B, gate chan struct{}, m *Main, base string, tokens []string) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	req, _ := http.NewRequest("POST", "http://"+m.Addr()+"/c", strings.NewReader("message=latency"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body := new(strings.Builder)
	bufio.NewReader(resp.Body).WriteTo(body)
	resp.Body.Close()
	events := reConnect.FindStringSubmatch(body.String())[1]
	for seqOf(m, answerID(events)) < 1 { // the first token passes the gate freely
		time.Sleep(time.Millisecond)
	}
	resp, err = c.Get(base + events)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	next := func() { // reads one event
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if line == "\n" {
				return
			}
		}
	}
	next() // the snapshot, with the first token
	lat := make([]time.Duration, 0, b.N)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		gate <- struct{}{}
		next()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	// The CPU of the whole process: the fake model, hxchat (both
	// replicas, when there are two) and the reader.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/token")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

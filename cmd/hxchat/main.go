// Command hxchat runs the hxchat web app: a chat with an LLM (Azure OpenAI,
// OpenAI, any OpenAI-compatible server, or the built-in offline demo model)
// whose answers stream into the browser and survive reloads and restarts.
//
// Run it with no settings to try it on the demo model; `hxchat -h` lists every
// setting. Settings come from flags, the environment and a .env file in the
// working directory, in that order of precedence.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	_ "time/tzdata" // the Markdown export's times in the reader's zone, also where the system has no zoneinfo

	"github.com/hxchat/hxchat/config"
)

func main() {
	// A busy hxchat's heap is mostly short-lived garbage (chunks, frames,
	// renderings); collecting it at 50 % growth instead of Go's 100 % keeps
	// about a fifth less memory per live answer at no CPU the load benchmark
	// can measure (1,000 streams: 207 → 167 KiB each). GOGC, when set, wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	cfg, warnings, err := config.Load(os.Args[1:], os.Getenv, ".env", os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hxchat:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := NewMain(cfg, os.Stderr)
	for _, w := range warnings {
		m.Logger.Warn(w)
	}
	// For developers: HXCHAT_CPUPROFILE=FILE profiles the process until it
	// shuts down (go tool pprof FILE); the load benchmark passes it on.
	if path := os.Getenv("HXCHAT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err != nil {
			m.Logger.Warn("HXCHAT_CPUPROFILE", "err", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			m.Logger.Warn("HXCHAT_CPUPROFILE", "err", err)
		} else {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	// HXCHAT_MEMPROFILE=FILE: a heap profile and the runtime's memory
	// metrics at each SIGUSR1 (see memProfileOnSignal).
	if path := os.Getenv("HXCHAT_MEMPROFILE"); path != "" {
		defer memProfileOnSignal(path, m.Logger)()
	}
	if err := m.Run(ctx); err != nil {
		m.Logger.Error("start", "err", err)
		os.Exit(1)
	}
	<-ctx.Done()
	stop() // a second Ctrl-C ends the process at once
	m.Logger.Info("shutting down", "drain", cfg.Drain)
	if err := m.Close(); err != nil {
		m.Logger.Error("shut down", "err", err)
		os.Exit(1)
	}
}

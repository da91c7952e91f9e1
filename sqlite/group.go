package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
)

// Group commit.
//
// The writes every answer makes — its turn (StartTurn) and its end
// (FinishAnswer) — each cost a transaction, and most of a small
// transaction's cost is its commit: SQLite writes every page the
// transaction changed to the WAL, a system call or two a page, and the
// turns of different conversations change the same pages (the ends of the
// tables and of their indexes). SQLite runs one writer at a time anyway, so
// the writes that wait for the writer while another transaction runs are
// run together, in one transaction, when it is their turn: each in a
// savepoint of its own, so that one that fails is rolled back alone and
// returns its own error, while the others commit. No write waits for
// others to come: a write that finds the writer free runs at once, alone,
// as before; only writes that would have queued anyway are grouped.
//
// A caller learns its write's outcome only once the group's transaction
// has committed, so nothing is reported stored that a crash could lose
// beyond what a transaction of its own could lose.
//
// There is no goroutine of its own: the caller whose write finds no group
// running runs one (it leads), taking every write queued by then (at most
// maxGroup); when it is done it hands the lead to the first write that
// queued meanwhile, whose caller runs the next group.

// maxGroup is the most writes in one group: a group holds its callers
// until its commit, and holds the writer from other work meanwhile (256
// turns are about 25 ms of work). Under load the writer is short of CPU
// like every goroutine, and the fewer groups the backlog takes the sooner
// it is through: at the load benchmark's 5,000 streams, in one pair of
// runs on a host busy with other work, groups of up to 256 rather than 64
// took the p99 of a POST's wait for StartTurn from 15.4 to 7.9 s (p50 6.7
// and 6.3 s).
const maxGroup = 256

// write is one caller's write in a group.
type write struct {
	ctx  context.Context
	op   string // for errors: "start turn"
	run  func(ctx context.Context, tx wtx) error
	done chan error // the write's outcome, or errLead
	lead bool       // the caller is to lead the next group (set under group.mu)
}

// group is the queue of writes waiting for the writer.
type group struct {
	mu      sync.Mutex
	running bool     // a caller leads a group, or is about to
	queue   []*write // waiting for the next group, oldest first
}

// errLead tells a waiting caller that it leads the next group; callers of
// grouped never see it.
var errLead = errors.New("sqlite: lead the next group")

// grouped runs run in a write transaction, grouped with other callers'
// writes when they wait for the writer at the same time, and returns its
// error, or the transaction's (begin, commit) annotated with op. run must
// change nothing outside the transaction before it has committed: it may
// be run a second time, in a transaction of its own, when the group's
// transaction fails as a whole. Its ctx is not cancelled with the caller's
// once it runs (a statement interrupted inside a group would roll the
// whole group back); a write whose caller has given up before it runs is
// not run, and returns the caller's ctx.Err().
func (s *Store) grouped(ctx context.Context, op string, run func(ctx context.Context, tx wtx) error) error {
	w := &write{ctx: ctx, op: op, run: run, done: make(chan error, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if !g.running {
		g.running = true
		g.mu.Unlock()
		s.lead()
		return <-w.done
	}
	g.mu.Unlock()
	var err error
	select {
	case err = <-w.done:
	case <-ctx.Done():
		g.mu.Lock()
		if i := slices.Index(g.queue, w); i >= 0 && !w.lead {
			g.queue = slices.Delete(g.queue, i, i+1)
			g.mu.Unlock()
			return ctx.Err()
		}
		g.mu.Unlock()
		// It runs already, or it leads the next group: wait for it.
		err = <-w.done
	}
	if err == errLead {
		s.lead()
		err = <-w.done
	}
	return err
}

// lead runs the writes queued now as one group, then hands the lead to
// the first write queued meanwhile, if any.
func (s *Store) lead() {
	g := &s.group
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()

	s.runGroup(batch)

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.running = false
		return
	}
	next := g.queue[0]
	next.lead = true
	next.done <- errLead
}

// runGroup runs writes in one transaction, each in a savepoint, and sends
// each its outcome. Should the transaction fail as a whole (begin, a
// savepoint that cannot be rolled back to, commit), the writes that have
// no outcome of their own yet run again, each in a transaction of its own,
// as they would have without a group.
func (s *Store) runGroup(ws []*write) {
	if len(ws) == 1 {
		ws[0].done <- s.runAlone(ws[0])
		return
	}
	ctx := context.Background()
	tx, err := s.begin(ctx)
	if err != nil {
		s.runEach(ws)
		return
	}
	var ok []*write // the writes that succeeded, committed with the group
	for i, w := range ws {
		if err := w.ctx.Err(); err != nil {
			w.done <- err // its caller gave up before it ran
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			tx.Rollback()
			s.runEach(append(ok, ws[i:]...))
			return
		}
		if err := w.call(context.WithoutCancel(w.ctx), tx); err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
				// SQLite has rolled back the whole transaction (a full
				// disk, an I/O error): the others run again, alone.
				w.done <- err
				tx.Rollback()
				s.runEach(append(ok, ws[i+1:]...))
				return
			}
			w.done <- err // the group goes on without it
		} else {
			ok = append(ok, w)
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
			tx.Rollback()
			s.runEach(append(ok, ws[i+1:]...))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		s.runEach(ok)
		return
	}
	for _, w := range ok {
		w.done <- nil
	}
}

// runEach runs writes one after the other, each in a transaction of its
// own, and sends each its outcome.
func (s *Store) runEach(ws []*write) {
	for _, w := range ws {
		w.done <- s.runAlone(w)
	}
}

// runAlone runs one write in a transaction of its own, with its caller's
// ctx: as the write would run without a group.
func (s *Store) runAlone(w *write) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	tx, err := s.begin(w.ctx)
	if err != nil {
		return wrap(w.op, err)
	}
	defer tx.Rollback()
	if err := w.call(w.ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap(w.op, err)
	}
	return nil
}

// call runs the write in tx and turns a panic in it into its error: the
// caller that leads a group runs the writes of others, and one write's bug
// must not leave their transaction open, nor them waiting for good.
func (w *write) call(ctx context.Context, tx wtx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("sqlite: %s: panic: %v\n%s", w.op, v, debug.Stack())
		}
	}()
	return w.run(ctx, tx)
}

package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/eventpost/eventpost/internal/platform/retry"
)

// ProcessState is where a process of the cluster is in its life, as the launcher's status
// lines name it.
type ProcessState string

const (
	// StateStarting is a process started whose /readyz has not answered 200 yet.
	StateStarting ProcessState = "starting"
	// StateReady is a process whose /readyz answered 200.
	StateReady ProcessState = "ready"
	// StateRestarting is a process that exited unexpectedly and that Supervise starts again
	// after a delay.
	StateRestarting ProcessState = "restarting"
	// StateExited is a process that exited and does not start again (Stop).
	StateExited ProcessState = "exited"
)

// The delays between restarts of a process that keeps exiting: restartMin after the first
// exit, doubling with each exit in a row up to restartMax; an exit after the process had
// been ready for healthyRun counts as the first again.
const (
	restartMin = 500 * time.Millisecond
	restartMax = 30 * time.Second
	healthyRun = time.Minute
)

// restartBackoff counts the exits in a row of one process and gives the delay before each
// restart (retry.Backoff, with its ±20% jitter).
type restartBackoff struct{ failures int }

// next returns the delay before restarting a process that exited after having been ready
// for ready (0 if it never was).
func (b *restartBackoff) next(ready time.Duration) time.Duration {
	if ready >= healthyRun {
		b.failures = 0
	}
	b.failures++
	return retry.Backoff(restartMin, restartMax, b.failures)
}

// Supervise keeps every process of the cluster running until ctx ends. A process that exits
// — it crashed, or Kill killed it — is started again after a delay: 0.5 s, doubling with
// each exit in a row up to 30 s (±20%), and 0.5 s again once it had been ready for a minute.
// Each change of a process's state is a status line on ClusterConfig.Log. Supervise returns
// when ctx is done and leaves the processes running: call Stop then (Stop while Supervise
// runs is also safe: nothing is restarted once Stop has begun).
func (c *Cluster) Supervise(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range c.Processes {
		wg.Go(func() { c.supervise(ctx, p) })
	}
	wg.Wait()
}

// supervise keeps p running until ctx ends or Stop begins.
func (c *Cluster) supervise(ctx context.Context, p *Process) {
	var backoff restartBackoff
	for {
		p.mu.Lock()
		done, state := p.done, p.state
		p.mu.Unlock()
		if done == nil {
			return // never started: Launch failed
		}
		if state == StateStarting {
			c.awaitReady(ctx, p, done)
		}
		select {
		case <-ctx.Done():
			return
		case <-done:
		}
		if c.stopping.Load() || ctx.Err() != nil {
			return // stopped with the cluster (Ctrl-C reaches every process of the terminal)
		}
		delay := backoff.next(p.readyFor())
		c.setState(p, StateRestarting, p.exitStatus(), delay)
		for {
			if !retry.Sleep(ctx, delay) {
				return
			}
			err := c.Start(p)
			if err == nil {
				break
			}
			if errors.Is(err, errStopped) {
				return
			}
			delay = backoff.next(0)
			c.log.Error("restart failed", "process", p.name(), "err", err, "restart_in", delay.Round(time.Millisecond).String())
		}
	}
}

// awaitReady polls p's /readyz until it answers 200, and then records p ready, or until p's
// process exits (done) or ctx ends.
func (c *Cluster) awaitReady(ctx context.Context, p *Process, done <-chan struct{}) {
	for {
		if answers200(ctx, p.readyURL()) {
			c.setState(p, StateReady, "", 0)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setState records p's new state and logs its status line; exit is how its process ended
// and delay when it starts again, each when it applies.
func (c *Cluster) setState(p *Process, state ProcessState, exit string, delay time.Duration) {
	p.mu.Lock()
	p.state, p.readyAt = state, time.Time{}
	if state == StateReady {
		p.readyAt = time.Now()
	}
	pid := 0
	if p.cmd != nil {
		pid = p.cmd.Process.Pid
	}
	p.mu.Unlock()
	c.logState(p, pid, state, exit, delay)
}

// logState logs p's status line: "<service>-<replica> <state>", with the process's service,
// replica, pid and address, its state, and when they apply its exit status and the delay
// before it starts again.
func (c *Cluster) logState(p *Process, pid int, state ProcessState, exit string, delay time.Duration) {
	msg, level := p.name()+" "+string(state), slog.LevelInfo
	attrs := []any{
		slog.Group("process", "service", p.Service, "replica", p.Index+1, "pid", pid, "addr", p.Addr),
		"state", string(state),
	}
	if exit != "" {
		attrs = append(attrs, "exit", exit)
	}
	if state == StateRestarting {
		in := delay.Round(time.Millisecond).String()
		msg, level = msg+" in "+in, slog.LevelWarn
		attrs = append(attrs, "restart_in", in)
	}
	c.log.Log(context.Background(), level, msg, attrs...)
}

// readyFor returns how long p has been ready, 0 when it is not.
func (p *Process) readyFor() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readyAt.IsZero() {
		return 0
	}
	return time.Since(p.readyAt)
}

// exitStatus describes how p's last process ended ("exit status 1", "signal: killed"), ""
// while it runs.
func (p *Process) exitStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return ""
	}
	select {
	case <-p.done: // cmd.Wait has set ProcessState
		return p.cmd.ProcessState.String()
	default:
		return ""
	}
}

// readyURL is the address of p's readiness endpoint.
func (p *Process) readyURL() string { return "http://" + hostPort(p.Addr) + "/readyz" }

package vcc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Download stall defaults (Config.StallTimeout, MinRate, MinRateWindow).
const (
	defaultStallTimeout  = 60 * time.Second
	defaultMinRate       = 4 << 10 // bytes per second
	defaultMinRateWindow = 60 * time.Second
)

// errStalled is why a stalled transfer was abandoned.
var errStalled = errors.New("stalled")

// stallRule says when a transfer counts as stalled: no byte for idle, or
// fewer than floor bytes a second averaged over window (floor 0: no floor).
// Only time spent waiting for the server counts: a caller slow to take the
// bytes (a bucket upload, say) does not make the server look slow.
type stallRule struct {
	idle   time.Duration
	floor  int64
	window time.Duration
}

// tick is how often the watchdog looks: a quarter of the shorter period,
// so a stall is seen at most a quarter late.
func (s stallRule) tick() time.Duration {
	d := s.idle
	if s.floor > 0 {
		d = min(d, s.window)
	}
	return max(d/4, time.Millisecond)
}

// watchedBody is a response body timed by a watchdog that cancels the
// request (cause errStalled) when the transfer stalls. A Read cut off so
// returns the cause, which names the rule it broke.
type watchedBody struct {
	body      io.ReadCloser
	ctx       context.Context
	cancel    context.CancelCauseFunc
	rule      stallRule
	stop      chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	reading   bool
	readStart time.Time
	busy      time.Duration // waited in finished reads
	bytes     int64
	winBusy   time.Duration // busy and bytes when the rate window began
	winBytes  int64
}

// watch starts timing body, the response of a request made with ctx, which
// cancel cancels.
func watch(ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser, rule stallRule) *watchedBody {
	w := &watchedBody{body: body, ctx: ctx, cancel: cancel, rule: rule, stop: make(chan struct{})}
	go w.run()
	return w
}

func (w *watchedBody) run() {
	t := time.NewTicker(w.rule.tick())
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			if err := w.check(now); err != nil {
				w.cancel(err)
				return
			}
		}
	}
}

// check applies the rule at now.
func (w *watchedBody) check(now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	busy := w.busy
	if w.reading {
		wait := now.Sub(w.readStart)
		if wait >= w.rule.idle {
			return fmt.Errorf("%w: no byte for %s", errStalled, wait.Round(time.Millisecond))
		}
		busy += wait
	}
	if span := busy - w.winBusy; w.rule.floor > 0 && span >= w.rule.window {
		got := w.bytes - w.winBytes
		if float64(got) < float64(w.rule.floor)*span.Seconds() {
			return fmt.Errorf("%w: %d bytes in %s, under the floor of %d bytes/s", errStalled, got, span.Round(time.Millisecond), w.rule.floor)
		}
		w.winBusy, w.winBytes = busy, w.bytes
	}
	return nil
}

// Read reads the body, timed.
func (w *watchedBody) Read(p []byte) (int, error) {
	w.mu.Lock()
	w.reading, w.readStart = true, time.Now()
	w.mu.Unlock()
	n, err := w.body.Read(p)
	w.mu.Lock()
	w.reading = false
	w.busy += time.Since(w.readStart)
	w.bytes += int64(n)
	w.mu.Unlock()
	if err != nil {
		if cause := context.Cause(w.ctx); errors.Is(cause, errStalled) {
			err = cause
		}
	}
	return n, err
}

// Close stops the watchdog, closes the body and releases the request's
// context.
func (w *watchedBody) Close() error {
	var err error
	w.closeOnce.Do(func() {
		close(w.stop)
		err = w.body.Close()
		w.cancel(nil)
	})
	return err
}

package bmc

import (
	"context"
	"errors"
	"time"
)

// Retry says how a Client tries an operation again when its BMC answered
// "not now" (ErrBusy) or nothing in time (ErrTimeout, for an operation that
// may be sent twice): a real BMC is busy for seconds after a reset, or
// while it applies a job, and drops requests under load.
type Retry struct {
	Attempts int           // rounds over the endpoints, the first included; 1: no retry
	Backoff  time.Duration // the pause after the first round, doubled after each
	Max      time.Duration // the longest pause
}

// DefaultRetry is Retry's zero value: four rounds, pauses of 1, 2 and 4 s.
var DefaultRetry = Retry{Attempts: 4, Backoff: time.Second, Max: 8 * time.Second}

func (r Retry) orDefault() Retry {
	if r.Attempts <= 0 {
		return DefaultRetry
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultRetry.Backoff
	}
	if r.Max < r.Backoff {
		r.Max = max(r.Backoff, DefaultRetry.Max)
	}
	return r
}

// backoff is the pause after the round-th round.
func (r Retry) backoff(round int) time.Duration {
	return min(r.Backoff<<(round-1), r.Max)
}

// retriable reports whether err says "not now" rather than "no": busy, or a
// time-out for an operation that may be sent again.
func retriable(err error, idempotent bool) bool {
	return errors.Is(err, ErrBusy) || idempotent && errors.Is(err, ErrTimeout)
}

// Sleep waits d, or fails at once when ctx would end first: the pause
// between a BMC's busy answer and the next try, for every client.
func Sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package token

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Password checks are the scarce resource of the login page: one argon2id
// verification takes 64 MiB and the machine's cores for a tenth of a
// second or more. Left unbounded, wrong passwords from many fresh
// addresses (which the failure budgets let through: an address that has
// not failed is checked) pile up hashes that share the CPU until every
// sign-in, the owner's included, times out, each holding its 64 MiB.
// passwordChecks bounds them: at most slots checks run at once, and the
// others wait in line, in three classes served in order:
//
//  1. a browser holding the account's device cookie;
//  2. an address without recent failures: the attack's fresh addresses
//     wait here with the owner on a new device, and each of them, once
//     checked and failed, moves to the third class, where the failure
//     budgets refuse it before any check;
//  3. an address that failed lately, still within its budgets.
//
// Waiting is bounded (a line length for the third class, a wait for
// every class): past it a sign-in is answered "busy, try again" instead of
// queued without end, and nothing is counted against it.
type passwordChecks struct {
	mu    sync.Mutex
	free  int
	lines [checkClasses][]chan struct{}
	// wait bounds each class's wait; failedLine the third class's line.
	wait       [checkClasses]time.Duration
	failedLine int
}

// checkClass is a sign-in's place in the line for a password check.
type checkClass int

const (
	checkDevice checkClass = iota // the account's device cookie
	checkFresh                    // an address without recent failures
	checkFailed                   // an address that failed lately
	checkClasses
)

// errChecksBusy: no check slot came free in time.
var errChecksBusy = errors.New("too many sign-ins are being checked")

func newPasswordChecks(slots int) *passwordChecks {
	slots = max(slots, 1)
	return &passwordChecks{
		free:       slots,
		wait:       [checkClasses]time.Duration{10 * time.Second, 10 * time.Second, 3 * time.Second},
		failedLine: 4 * slots,
	}
}

// acquire waits for a check slot. The release it returns must be called
// once the check is over.
func (c *passwordChecks) acquire(ctx context.Context, class checkClass) (release func(), err error) {
	c.mu.Lock()
	if c.free > 0 {
		c.free--
		c.mu.Unlock()
		return c.release, nil
	}
	if class == checkFailed && len(c.lines[class]) >= c.failedLine {
		c.mu.Unlock()
		return nil, errChecksBusy
	}
	ready := make(chan struct{})
	c.lines[class] = append(c.lines[class], ready)
	c.mu.Unlock()

	t := time.NewTimer(c.wait[class])
	defer t.Stop()
	select {
	case <-ready:
		return c.release, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = errChecksBusy
	}
	c.mu.Lock()
	served := !c.remove(ready, class)
	c.mu.Unlock()
	if served {
		// Handed a slot as the wait ended: it is ours to give back.
		c.release()
	}
	return nil, err
}

// remove takes ready out of its line; false when it was already served.
// c.mu must be held.
func (c *passwordChecks) remove(ready chan struct{}, class checkClass) bool {
	line := c.lines[class]
	for i, w := range line {
		if w == ready {
			c.lines[class] = append(line[:i], line[i+1:]...)
			return true
		}
	}
	return false
}

// release hands the slot to the first in line, or frees it.
func (c *passwordChecks) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for class, line := range c.lines {
		if len(line) > 0 {
			close(line[0])
			c.lines[class] = line[1:]
			return
		}
	}
	c.free++
}

package token

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// acquired runs acquire in a goroutine; the class is sent on served when
// it gets its slot (released at once), the error on done.
func acquired(ctx context.Context, c *passwordChecks, class checkClass, served chan<- checkClass) chan error {
	done := make(chan error, 1)
	go func() {
		release, err := c.acquire(ctx, class)
		if err == nil {
			if served != nil {
				served <- class
			}
			release()
		}
		done <- err
	}()
	return done
}

func waitQueued(t *testing.T, c *passwordChecks, want [checkClasses]int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got [checkClasses]int
		c.mu.Lock()
		for i, l := range c.lines {
			got[i] = len(l)
		}
		c.mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines %v, want %v", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPasswordChecksOrder: with the slot taken, a browser with the device
// cookie is served before an address that has not failed, and that one
// before an address that failed lately, whatever order they came in.
func TestPasswordChecksOrder(t *testing.T) {
	ctx := context.Background()
	c := newPasswordChecks(1)
	release, err := c.acquire(ctx, checkFresh)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan checkClass, 3)
	var done []chan error
	done = append(done, acquired(ctx, c, checkFailed, served))
	waitQueued(t, c, [checkClasses]int{0, 0, 1})
	done = append(done, acquired(ctx, c, checkFresh, served))
	waitQueued(t, c, [checkClasses]int{0, 1, 1})
	done = append(done, acquired(ctx, c, checkDevice, served))
	waitQueued(t, c, [checkClasses]int{1, 1, 1})
	release()
	for _, want := range []checkClass{checkDevice, checkFresh, checkFailed} {
		if got := <-served; got != want {
			t.Fatalf("served %d, want %d", got, want)
		}
	}
	for _, d := range done {
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
	if c.free != 1 {
		t.Fatalf("free %d after all, want 1", c.free)
	}
}

// TestPasswordChecksBounded: a wait ends in errChecksBusy (or the request's
// end), an address that failed lately finds a short line, and a wait that
// ends gives back nothing it did not get.
func TestPasswordChecksBounded(t *testing.T) {
	ctx := context.Background()
	c := newPasswordChecks(1)
	c.wait = [checkClasses]time.Duration{time.Minute, 50 * time.Millisecond, 50 * time.Millisecond}
	release, err := c.acquire(ctx, checkDevice)
	if err != nil {
		t.Fatal(err)
	}
	var waiting []chan error
	for range c.failedLine {
		waiting = append(waiting, acquired(ctx, c, checkFailed, nil))
	}
	waiting = append(waiting, acquired(ctx, c, checkFresh, nil))
	waitQueued(t, c, [checkClasses]int{0, 1, c.failedLine})
	if _, err := c.acquire(ctx, checkFailed); !errors.Is(err, errChecksBusy) {
		t.Fatalf("failed address past the line: %v, want errChecksBusy", err)
	}
	for _, w := range waiting {
		if err := <-w; !errors.Is(err, errChecksBusy) {
			t.Fatalf("past its wait: %v, want errChecksBusy", err)
		}
	}
	waitQueued(t, c, [checkClasses]int{})
	cctx, cancel := context.WithCancel(ctx)
	owner := acquired(cctx, c, checkDevice, nil)
	waitQueued(t, c, [checkClasses]int{1, 0, 0})
	cancel()
	if err := <-owner; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	release()
	if c.free != 1 {
		t.Fatalf("free %d after all, want 1", c.free)
	}
}

// TestPasswordChecksConcurrent: however acquisitions and waits interleave
// (waits ending as a slot is handed over included), no more than slots
// checks run at once and no slot is lost or made up.
func TestPasswordChecksConcurrent(t *testing.T) {
	const slots = 2
	c := newPasswordChecks(slots)
	c.wait = [checkClasses]time.Duration{2 * time.Millisecond, time.Millisecond, time.Millisecond}
	var mu sync.Mutex
	running, most := 0, 0
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := c.acquire(context.Background(), checkClass(i%int(checkClasses)))
			if err != nil {
				return
			}
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			running--
			mu.Unlock()
			release()
		}()
	}
	wg.Wait()
	if most > slots {
		t.Fatalf("%d checks ran at once, want at most %d", most, slots)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.free != slots || len(c.lines[0])+len(c.lines[1])+len(c.lines[2]) != 0 {
		t.Fatalf("after all: free %d, lines %d %d %d", c.free, len(c.lines[0]), len(c.lines[1]), len(c.lines[2]))
	}
}

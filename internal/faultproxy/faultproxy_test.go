package faultproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer is the target: it echoes each line back.
func echoServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = lis.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	return lis.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// roundTrip sends a line on c and reads it back.
func roundTrip(c net.Conn, r *bufio.Reader, line string) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return errors.New("echo mismatch: " + got)
	}
	return nil
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

func TestOutageDropsRefusesAndRecovers(t *testing.T) {
	p := newProxy(t, echoServer(t))
	before, beforeR := dial(t, p.Addr())
	if err := roundTrip(before, beforeR, "hello"); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	p.Down()
	// The open connection is gone: the next read ends.
	if err := roundTrip(before, beforeR, "still there?"); err == nil {
		t.Fatal("a connection open before the outage survived it")
	}
	// A new one is accepted and closed at once, as by a server going down.
	during, duringR := dial(t, p.Addr())
	if err := roundTrip(during, duringR, "anyone?"); err == nil {
		t.Fatal("a connection made during the outage was forwarded")
	}
	p.Up()

	after, afterR := dial(t, p.Addr())
	if err := roundTrip(after, afterR, "back"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	st := p.Stats()
	if st.Accepted != 2 || st.Dropped != 1 || st.Refused < 1 {
		t.Fatalf("stats %+v, want 2 accepted, 1 dropped, at least 1 refused", st)
	}
}

func TestOutageIsBoundedByItsDurationAndContext(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		cancel  time.Duration // 0: not cancelled
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"by duration", 200 * time.Millisecond, 0, 200 * time.Millisecond, 5 * time.Second},
		{"by context", time.Hour, 100 * time.Millisecond, 100 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, echoServer(t))
			ctx := context.Background()
			if tc.cancel > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.cancel)
				defer cancel()
			}
			start := time.Now()
			p.Outage(ctx, tc.d)
			if took := time.Since(start); took < tc.atLeast || took > tc.atMost {
				t.Fatalf("outage lasted %s, want between %s and %s", took, tc.atLeast, tc.atMost)
			}
			c, r := dial(t, p.Addr())
			if err := roundTrip(c, r, "up"); err != nil {
				t.Fatalf("after the outage: %v", err)
			}
		})
	}
}

func TestTargetDownClosesTheClient(t *testing.T) {
	// A port nothing listens on: grab one, then free it.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := lis.Addr().String()
	_ = lis.Close()
	p := newProxy(t, target)
	c, r := dial(t, p.Addr())
	if err := roundTrip(c, r, "x"); err == nil {
		t.Fatal("a connection to a dead target was kept open")
	}
}

func TestCloseDropsEverything(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, r := dial(t, p.Addr())
	if err := roundTrip(c, r, "x"); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c, r, "y"); err == nil {
		t.Fatal("a connection survived Close")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("the proxy still listens after Close")
	}
}

func TestNewRefusesABadTarget(t *testing.T) {
	if _, err := New("no-port"); err == nil {
		t.Fatal("accepted a target without a port")
	}
}

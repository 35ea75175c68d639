// Package faultproxy is a TCP proxy on loopback that can cut a backend off
// for a while: it makes a shared service (a PostgreSQL that other tests use
// too) look restarted to one process, without touching the service itself.
//
// Outage drops every open connection and refuses new ones (accepts and
// closes them at once, as a server that is shutting down does) for the
// given time, then forwards again. To the process behind the proxy this is
// what a restart of the backend looks like: every session gone, then
// connection attempts failing until it is back.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds one connection to the target, so that a target that
// hangs cannot pile up accepted connections.
const dialTimeout = 5 * time.Second

// Proxy forwards connections accepted on a loopback port to a target.
type Proxy struct {
	target string
	lis    net.Listener

	mu     sync.Mutex
	down   bool
	closed bool
	conns  map[*pair]struct{}

	wg sync.WaitGroup

	accepted, refused, dropped atomic.Int64
}

// pair is one forwarded connection: the client's side and the target's.
type pair struct {
	client, server net.Conn
	once           sync.Once
}

func (p *pair) close() {
	p.once.Do(func() {
		_ = p.client.Close()
		_ = p.server.Close()
	})
}

// Stats counts what the proxy did: connections forwarded, refused while
// down, and dropped by an outage.
type Stats struct {
	Accepted, Refused, Dropped int64
}

// New listens on a free loopback port and forwards every connection to
// target (host:port).
func New(target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{target: target, lis: lis, conns: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listen address (127.0.0.1:port).
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	return Stats{Accepted: p.accepted.Load(), Refused: p.refused.Load(), Dropped: p.dropped.Load()}
}

// Outage cuts the target off for d: it drops every open connection at
// once, refuses new ones until d has passed (or ctx ends), then forwards
// again. It returns when the proxy accepts again.
func (p *Proxy) Outage(ctx context.Context, d time.Duration) {
	p.Down()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	p.Up()
}

// Down drops every open connection and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	open := p.takeConnsLocked()
	p.mu.Unlock()
	p.dropped.Add(int64(len(open)))
	for _, c := range open {
		c.close()
	}
}

// Up forwards new connections again.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// Close stops listening, drops every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	open := p.takeConnsLocked()
	p.mu.Unlock()
	err := p.lis.Close()
	for _, c := range open {
		c.close()
	}
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultproxy: close: %w", err)
	}
	return nil
}

func (p *Proxy) takeConnsLocked() []*pair {
	out := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		out = append(out, c)
	}
	clear(p.conns)
	return out
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (too many open files): back off
			// briefly rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		down, closed := p.down, p.closed
		p.mu.Unlock()
		if down || closed {
			p.refused.Add(1)
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// forward dials the target for c and copies both ways until either side
// closes or an outage drops the pair.
func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: dialTimeout}
	server, err := d.DialContext(context.Background(), "tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	pr := &pair{client: client, server: server}
	p.mu.Lock()
	if p.down || p.closed {
		// The outage began while we dialled: it covers this one too.
		p.mu.Unlock()
		p.refused.Add(1)
		pr.close()
		return
	}
	p.conns[pr] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)

	var copies sync.WaitGroup
	copies.Go(func() { _, _ = io.Copy(server, client); pr.close() })
	copies.Go(func() { _, _ = io.Copy(client, server); pr.close() })
	copies.Wait()
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
}

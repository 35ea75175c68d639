// Package natsfake is a minimal NATS server for the tests of the pkg module,
// which must not depend on nats-server. It speaks just enough of the client
// protocol for a nats.go client to connect, publish and subscribe.
package natsfake

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server speaks just enough of the NATS client protocol (INFO, CONNECT,
// PING/PONG, SUB, UNSUB, PUB, MSG) for a nats.go client to connect, publish
// and subscribe, so tests need no nats-server.
type Server struct {
	lis net.Listener

	mu     sync.Mutex
	conns  []*fakeConn
	closed bool
	// Pubs receives every published message (dropped when full).
	Pubs chan Msg
}

// Msg is one message published to the server.
type Msg struct {
	Subject string
	Data    []byte
}

type fakeConn struct {
	c    net.Conn
	mu   sync.Mutex
	w    *bufio.Writer
	subs map[string]string // sid -> subject
}

// Start runs a server on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartAt(t, "127.0.0.1:0")
}

// StartAt runs a server listening on addr until the test ends. With the
// address of a server that was closed, it stands for that server coming
// back: clients reconnect to it and resubscribe.
func StartAt(t testing.TB, addr string) *Server {
	t.Helper()
	var lc net.ListenConfig
	lis, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &Server{lis: lis, Pubs: make(chan Msg, 100)}
	go f.accept()
	t.Cleanup(func() { _ = lis.Close() })
	return f
}

// Addr is the server's host:port.
func (f *Server) Addr() string { return f.lis.Addr().String() }

// Close stops the server: it stops listening and drops every client
// connection, as a broker restart would. It is safe to call more than
// once.
func (f *Server) Close() {
	_ = f.lis.Close()
	f.mu.Lock()
	conns := f.conns
	f.conns = nil
	f.closed = true
	f.mu.Unlock()
	for _, fc := range conns {
		_ = fc.c.Close()
	}
}

// URL is the server's client URL.
func (f *Server) URL() string { return "nats://" + f.lis.Addr().String() }

func (f *Server) accept() {
	for {
		c, err := f.lis.Accept()
		if err != nil {
			return
		}
		go f.serve(c)
	}
}

func (f *Server) serve(c net.Conn) {
	defer c.Close()
	fc := &fakeConn{c: c, w: bufio.NewWriter(c), subs: map[string]string{}}
	f.mu.Lock()
	if f.closed { // accepted just before Close
		f.mu.Unlock()
		return
	}
	f.conns = append(f.conns, fc)
	f.mu.Unlock()
	fc.write(`INFO {"server_id":"fake","server_name":"fake","version":"2.10.0","proto":1,"max_payload":1048576,"headers":false}` + "\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "PING":
			fc.write("PONG\r\n")
		case "SUB":
			fc.mu.Lock()
			fc.subs[fields[len(fields)-1]] = fields[1]
			fc.mu.Unlock()
		case "UNSUB":
			fc.mu.Lock()
			delete(fc.subs, fields[1])
			fc.mu.Unlock()
		case "PUB":
			n, _ := strconv.Atoi(fields[len(fields)-1])
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			f.deliver(fields[1], buf[:n])
		}
	}
}

func (f *Server) deliver(subject string, data []byte) {
	select {
	case f.Pubs <- Msg{subject, data}:
	default:
	}
	f.mu.Lock()
	conns := append([]*fakeConn(nil), f.conns...)
	f.mu.Unlock()
	for _, fc := range conns {
		fc.mu.Lock()
		var sids []string
		for sid, s := range fc.subs {
			if s == subject {
				sids = append(sids, sid)
			}
		}
		fc.mu.Unlock()
		for _, sid := range sids {
			fc.write(fmt.Sprintf("MSG %s %s %d\r\n%s\r\n", subject, sid, len(data), data))
		}
	}
}

func (fc *fakeConn) write(s string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	_, _ = fc.w.WriteString(s)
	_ = fc.w.Flush()
}

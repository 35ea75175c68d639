package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/resolver"

	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
)

// DNSPrefix marks a peer address to be looked up in DNS again and again:
// dns:///host:port stands for every address host resolves to, as a
// Kubernetes headless Service lists a peer's pods. Plain host:port entries
// are one replica each.
const DNSPrefix = "dns:///"

// Resolution of dns:/// entries: every dnsRefresh, so that replicas added
// by scaling out are used within it, and when gRPC asks (a replica went
// away), at most every dnsMinInterval.
const (
	dnsRefresh     = 30 * time.Second
	dnsMinInterval = time.Second
)

// ParseAddr splits a peer address into its host and port, and says
// whether it is a dns:/// entry.
func ParseAddr(a string) (host, port string, dns bool, err error) {
	rest, dns := strings.CutPrefix(a, DNSPrefix)
	host, port, err = net.SplitHostPort(rest)
	if err != nil || host == "" || port == "" {
		return "", "", false, fmt.Errorf("address %q is neither host:port nor %shost:port", a, DNSPrefix)
	}
	return host, port, dns, nil
}

// dnsName is one dns:/// entry.
type dnsName struct{ host, port string }

// builder builds the peer's resolver (one per ClientConn): its fixed
// addresses, its dns:/// names, how they are looked up and how often.
type builder struct {
	scheme string
	static []resolver.Address
	names  []dnsName
	lookup func(ctx context.Context, host string) ([]string, error)
	every  time.Duration
	// loopbackOnly drops resolved addresses off loopback: a peer dialled
	// without TLS.
	loopbackOnly bool
}

// peerResolver gives gRPC the replicas of one peer: the fixed addresses,
// and what the dns:/// names resolve to now. A name that fails to resolve
// keeps its last answer, so that a DNS hiccup drops no replica.
type peerResolver struct {
	*builder
	cc resolver.ClientConn

	now    chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	last   map[string][]string // host -> addresses last resolved
}

func (b *builder) Scheme() string { return b.scheme }

func (b *builder) Build(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &peerResolver{builder: b, cc: cc,
		now: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), last: map[string][]string{}}
	r.resolve(ctx)
	if len(r.names) == 0 {
		close(r.done) // nothing changes: no loop
		return r, nil
	}
	go r.loop(ctx)
	return r, nil
}

func (r *peerResolver) loop(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.now:
		}
		r.resolve(ctx)
		// Let a burst of ResolveNow calls (every replica failing at
		// once) make one lookup.
		select {
		case <-ctx.Done():
			return
		case <-time.After(dnsMinInterval):
		}
	}
}

// resolve looks the names up and gives gRPC the addresses.
func (r *peerResolver) resolve(ctx context.Context) {
	addrs := slices.Clone(r.static)
	var errs []error
	for _, n := range r.names {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := r.lookup(lctx, n.host)
		cancel()
		if r.loopbackOnly {
			ips = slices.DeleteFunc(ips, func(ip string) bool { return !loopback.Host(ip) })
		}
		if err != nil || len(ips) == 0 {
			if err == nil {
				err = errors.New("no address")
			}
			errs = append(errs, fmt.Errorf("%s: %w", n.host, err))
			ips = r.last[n.host]
		} else {
			slices.Sort(ips)
			r.last[n.host] = ips
		}
		for _, ip := range ips {
			// ServerName: the peer's certificate names the host, not
			// the pod's address.
			addrs = append(addrs, resolver.Address{Addr: net.JoinHostPort(ip, n.port), ServerName: n.host})
		}
	}
	if len(addrs) == 0 {
		r.cc.ReportError(fmt.Errorf("peers: no replica: %w", errors.Join(errs...)))
		return
	}
	_ = r.cc.UpdateState(resolver.State{Addresses: addrs})
}

func (r *peerResolver) ResolveNow(resolver.ResolveNowOptions) {
	select {
	case r.now <- struct{}{}:
	default:
	}
}

func (r *peerResolver) Close() {
	r.cancel()
	<-r.done
}

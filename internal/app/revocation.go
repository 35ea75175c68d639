package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// revocations is the process's revocation list: the service that records
// revocations (the source of truth, in this process's database) and the
// follower every validator of the process asks.
type revocations struct {
	// svc is the revocation service when this process runs it, else nil.
	svc      *revocation.Service
	follower *revlist.Follower
	hooks    applyHooks
}

// startRevocations starts the revocation service and its follower. The
// follower loads its snapshot in the background; until then checks wait
// briefly and then fail closed, and /readyz says not ready.
func startRevocations(ctx context.Context, cfg *config.Config, log *slog.Logger, nc *nats.Conn, store revocation.Store) (*revocations, func(), error) {
	r := &revocations{}
	r.svc = revocation.New(store,
		revocation.WithNATS(nc),
		revocation.WithStreamReplicas(streamReplicas(nc)),
		revocation.WithLogger(log.With("service", "revocation")))
	if err := r.svc.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("revocation service: %w", err)
	}
	// The in-process service is the follower's source: no round trip.
	if err := r.follow(ctx, cfg, log, nc, r.svc); err != nil {
		r.svc.Close()
		return nil, nil, err
	}
	return r, func() { r.follower.Close(); r.svc.Close() }, nil
}

// streamReplicas is how many NATS servers keep the revocation stream: three
// on a cluster of three or more, so that one node down loses nothing.
func streamReplicas(nc *nats.Conn) int {
	if nc.ConnectedClusterName() != "" && len(nc.Servers()) >= 3 {
		return 3
	}
	return 1
}

// followRevocations follows a revocation service this process does not
// run (a split deployment's peer, through revlist.ClientSource).
func followRevocations(ctx context.Context, cfg *config.Config, log *slog.Logger, nc *nats.Conn, src revlist.Source) (*revocations, func(), error) {
	r := &revocations{}
	if err := r.follow(ctx, cfg, log, nc, src); err != nil {
		return nil, nil, err
	}
	return r, r.follower.Close, nil
}

// follow starts the follower every validator of the process asks.
func (r *revocations) follow(ctx context.Context, cfg *config.Config, log *slog.Logger, nc *nats.Conn, src revlist.Source) error {
	opts := []revlist.Option{
		revlist.WithResyncInterval(cfg.RevocationResyncInterval),
		revlist.WithMaxStaleness(cfg.RevocationMaxStaleness),
		revlist.WithLogger(log.With("component", "revlist")),
		revlist.WithOnApplyBatch(r.hooks.run),
	}
	if cfg.RevocationFailOpen {
		log.Warn("revocation-fail-open is set: with a stale revocation list, revoked credentials may be accepted")
		opts = append(opts, revlist.WithFailOpen())
	}
	r.follower = revlist.NewFollower(src, nc, opts...)
	if err := r.follower.Start(ctx); err != nil {
		return fmt.Errorf("revocation follower: %w", err)
	}
	return nil
}

// ready reports whether validators can trust the list.
func (r *revocations) ready() error {
	return r.follower.Stats().Err()
}

// registerMetrics exposes the follower's lag: in sequence numbers behind
// the head it last saw, and in seconds since it last heard from NATS or
// the revocation service.
func (r *revocations) registerMetrics(reg prometheus.Registerer) {
	gauge := func(name, help string, f func(revlist.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(r.follower.Stats()) })
	}
	reg.MustRegister(
		gauge("gatehouse_revocation_applied_seq", "Sequence number of the last revocation the validators applied.",
			func(s revlist.Stats) float64 { return float64(s.AppliedSeq) }),
		gauge("gatehouse_revocation_lag_seq", "Revocations the validators know exist but have not applied (head seen at the last re-sync minus applied).",
			func(s revlist.Stats) float64 { return float64(max(0, s.HeadSeq-s.AppliedSeq)) }),
		gauge("gatehouse_revocation_lag_seconds", "Seconds since the validators last heard from NATS or the revocation service.",
			func(s revlist.Stats) float64 {
				if s.LastContact.IsZero() {
					return 0
				}
				return time.Since(s.LastContact).Seconds()
			}),
		gauge("gatehouse_revocation_entries", "Live entries in the validators' revocation list.",
			func(s revlist.Stats) float64 { return float64(s.Entries) }),
		gauge("gatehouse_revocation_stale", "1 while the validators' revocation list is stale (requests are refused unless fail-open).",
			func(s revlist.Stats) float64 {
				if s.Stale {
					return 1
				}
				return 0
			}),
	)
}

// applyHooks runs the reactions to applied revocations, a page of entries
// at a time (one entry for an event). The follower starts before the
// services whose caches and stores follow the list: until open, entries
// are kept in a backlog (those of backlogKinds) instead, and open replays
// them to the hooks added by then, so that none is missed, in particular
// by the grant store, which a revocation recorded while this process was
// down reaches only through the replay.
type applyHooks struct {
	mu      sync.RWMutex
	fns     []func([]*revocationv1.Entry)
	opened  bool
	backlog []*revocationv1.Entry
}

// backlogKinds are the entries replayed at open: those the token service
// applies to its grant store. The validators' caches are empty before the
// process serves, so they need none.
func backlogKinds(e *revocationv1.Entry) bool {
	switch e.GetKind() {
	case revocationv1.Kind_KIND_REFRESH_FAMILY, revocationv1.Kind_KIND_SUBJECT, revocationv1.Kind_KIND_CLIENT:
		return true
	}
	return false
}

// replayPage is how many backlog entries go to the hooks at a time.
const replayPage = 1000

func (h *applyHooks) add(fn func([]*revocationv1.Entry)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, fn)
}

// open replays the backlog to the hooks and then lets entries through as
// they are applied; entries applied meanwhile wait, so the order holds.
func (h *applyHooks) open() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for page := range slices.Chunk(h.backlog, replayPage) {
		h.call(page)
	}
	h.opened, h.backlog = true, nil
}

func (h *applyHooks) run(entries []*revocationv1.Entry) {
	h.mu.RLock()
	if h.opened {
		defer h.mu.RUnlock()
		h.call(entries)
		return
	}
	h.mu.RUnlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opened { // opened in between
		h.call(entries)
		return
	}
	for _, e := range entries {
		if backlogKinds(e) {
			h.backlog = append(h.backlog, e)
		}
	}
}

// call runs every hook on entries; h.mu is held, read or write.
func (h *applyHooks) call(entries []*revocationv1.Entry) {
	for _, fn := range h.fns {
		fn(entries)
	}
}

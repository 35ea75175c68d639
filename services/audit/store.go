// Package audit is the admin audit trail (checklist item 100): every admin
// mutation and every refused attempt at one, recorded by a gRPC interceptor
// (Recorder), logged, published on NATS and kept in an append-only Store,
// read back through AuditService.ListAdminActions.
package audit

import (
	"context"
	"errors"
	"time"
)

// Record is one entry of the trail: who did what to which ids, when, from
// where, and how it ended. It holds ids only, never a request body.
type Record struct {
	Seq             int64
	At              time.Time
	ActorKind       string
	ActorClientID   string
	ActorKeyID      string
	ActorKeyName    string
	ActorCertSerial string
	Action          string
	Targets         []string
	// Outcome is OutcomeOK, OutcomePending, or a gRPC code's name.
	Outcome   string
	Reason    string
	Remote    string
	RequestID string
	Service   string
}

// The outcomes that are not a gRPC code.
const (
	OutcomeOK = "ok"
	// OutcomePending is the outcome of a record written before its call
	// ran, until Finish sets it: one left pending says the outcome could
	// not be stored.
	OutcomePending = "pending"
)

// Filter selects records; zero fields do not filter.
type Filter struct {
	// Actor matches the actor's client id or API key id.
	Actor string
	// Target matches one of the targets' values ("client_id=c_1" has the
	// value "c_1").
	Target string
	Since  time.Time
	// Before pages: only records with a smaller Seq; 0 for the first page.
	Before int64
	Limit  int
}

// ErrNotFound is Finish of a record that is not pending.
var ErrNotFound = errors.New("audit: no such pending record")

// Store keeps the trail. Nothing in it changes a record once finished:
// Append writes one, Finish settles the outcome of a pending one, Purge
// drops those older than the retention.
type Store interface {
	// Append stores r and returns it with its Seq.
	Append(ctx context.Context, r Record) (Record, error)
	// Finish sets the outcome of the pending record seq.
	Finish(ctx context.Context, seq int64, outcome, reason string, targets []string) error
	// List returns the records f selects, newest first.
	List(ctx context.Context, f Filter) ([]Record, error)
	// Purge deletes at most limit records made before cutoff, oldest
	// first, and says how many it deleted.
	Purge(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

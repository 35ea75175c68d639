package revlist

import "time"

// Stats is a snapshot of a follower's state, for metrics and admin pages.
type Stats struct {
	// LogID identifies the revocation list followed ("" before the first
	// List answer).
	LogID string
	// AppliedSeq is the sequence number the list is complete up to.
	AppliedSeq int64
	// HeadSeq is the service's latest sequence number at the last re-sync.
	HeadSeq int64
	// Entries is the number of entries held, expired ones not yet swept
	// included.
	Entries int
	// LastContact is the latest of the last successful List, the last
	// moment NATS was seen connected and the last message of a Watch
	// stream; zero before any.
	LastContact time.Time
	// Resyncs counts the re-syncs that completed; Gaps the events that
	// arrived ahead of the next expected sequence number.
	Resyncs, Gaps uint64
	// Ready reports whether the first snapshot is loaded.
	Ready bool
	// Watching reports whether a Watch stream is open (followers without
	// NATS).
	Watching bool
	// Stale reports whether the list is ready but out of contact for
	// longer than the maximum staleness.
	Stale bool
}

// Stats returns the follower's current state.
func (f *Follower) Stats() Stats {
	f.mu.Lock()
	s := Stats{
		LogID:      f.logID,
		AppliedSeq: f.applied,
		HeadSeq:    f.head,
		Resyncs:    f.resyncs,
		Gaps:       f.gaps,
	}
	f.mu.Unlock()
	s.Entries = f.list.Load().Len()
	if c := f.lastContact.Load(); c != 0 {
		s.LastContact = time.Unix(0, c)
	}
	s.Ready = f.ready.Load()
	s.Watching = f.watching.Load()
	s.Stale = s.Ready && unixNanos(f.now()) > f.freshUntil.Load()
	return s
}

// Err is what readiness reports of the list in this state: ErrNotReady
// before the first snapshot, ErrStale while the list cannot be trusted
// to be current, nil otherwise.
func (s Stats) Err() error {
	switch {
	case !s.Ready:
		return ErrNotReady
	case s.Stale:
		return ErrStale
	}
	return nil
}

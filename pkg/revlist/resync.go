package revlist

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

// Resync brings the list up to date with the revocation service now: it
// lists the entries after the last applied sequence number, page after
// page, and applies them in order. The sync loop calls it on every
// trigger; tests and admin endpoints may call it too.
//
// The service reads its head before the entries, and entries that expired
// may be gone, so List answers need not be contiguous: after the last page
// applied is at least the head of the first page. When the answer names
// another log_id (the database behind the service was replaced), the
// follower starts over from sequence 0 into a new list, and switches to it
// when complete.
func (f *Follower) Resync(ctx context.Context) error {
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	began := time.Now()

	f.mu.Lock()
	since, logID, known := f.applied, f.logID, f.known
	f.mu.Unlock()

	first := true
	var head int64
	for {
		resp, err := f.listPage(ctx, since)
		if err != nil {
			return err
		}
		now := f.now()
		f.markContact(unixNanos(now))

		if first {
			if got := resp.GetLogId(); !known || got != logID {
				restart := known && since != 0
				f.adoptLog(got, known, logID)
				known, logID = true, got
				if restart {
					// That page followed a sequence number of the old
					// list: read the new one from its start.
					since = 0
					continue
				}
			}
			first = false
			head = resp.GetHeadSeq()
		} else if resp.GetLogId() != logID {
			return fmt.Errorf("revlist: re-sync: log_id changed from %q to %q between pages", logID, resp.GetLogId())
		}

		entries := resp.GetEntries()
		f.applyAll(f.applyPage(entries, now))
		if len(entries) < int(f.pageSize) {
			break
		}
		last := entries[len(entries)-1].GetSeq()
		if last <= since {
			return fmt.Errorf("revlist: re-sync: a full page after seq %d ends at seq %d", since, last)
		}
		since = last
	}
	f.finishResync(head, began)
	return nil
}

// listPage calls List for the entries after since.
func (f *Follower) listPage(ctx context.Context, since int64) (*revocationv1.ListResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	resp, err := f.src.List(ctx, &revocationv1.ListRequest{SinceSeq: since, PageSize: f.pageSize})
	if err != nil {
		return nil, fmt.Errorf("revlist: list after seq %d: %w", since, err)
	}
	return resp, nil
}

// adoptLog starts following list logID. When another list was followed,
// it starts over from sequence 0 into a new list.
func (f *Follower) adoptLog(logID string, known bool, old string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logID, f.known = logID, true
	if !known {
		return
	}
	f.log.Warn("revlist: the revocation list was replaced (log_id changed); reloading it",
		slog.String("old_log_id", old), slog.String("log_id", logID),
		slog.Int64("old_applied_seq", f.applied))
	f.applied, f.head = 0, 0
	f.building = NewList()
}

// applyPage applies the entries after the last applied one, in order, and
// returns those it applied.
func (f *Follower) applyPage(entries []*revocationv1.Entry, now time.Time) []*revocationv1.Entry {
	var applied []*revocationv1.Entry
	f.mu.Lock()
	defer f.mu.Unlock()
	target := f.targetLocked()
	for _, e := range entries {
		// Events may have applied some already while this page was on
		// its way; never apply an entry older than one applied.
		if e.GetSeq() <= f.applied {
			continue
		}
		target.Apply(e, now)
		f.applied = e.GetSeq()
		if f.onApply != nil {
			applied = append(applied, e)
		}
	}
	return applied
}

// applyAll calls the OnApply hooks for entries, outside the locks.
func (f *Follower) applyAll(entries []*revocationv1.Entry) {
	if len(entries) > 0 {
		f.onApply(entries)
	}
}

// targetLocked is the list entries go to: the one being rebuilt after a
// log_id change, else the current one. f.mu is held.
func (f *Follower) targetLocked() *List {
	if f.building != nil {
		return f.building
	}
	return f.list.Load()
}

// finishResync completes a re-sync: applied moves up to the head read
// before the entries, a rebuilt list replaces the old one, and the first
// one makes the follower ready.
func (f *Follower) finishResync(head int64, began time.Time) {
	f.mu.Lock()
	f.applied = max(f.applied, head)
	f.head = head
	rebuilt := f.building != nil
	if rebuilt {
		f.list.Store(f.building)
		f.building = nil
	}
	f.resyncs++
	applied := f.applied
	entries := f.list.Load().Len()
	f.mu.Unlock()

	if rebuilt {
		f.log.Info("revlist: replaced revocation list loaded",
			slog.Int("entries", entries), slog.Int64("head_seq", head))
	}
	if f.ready.Load() {
		return
	}
	f.ready.Store(true)
	// Trust starts at the last contact, which the List just made.
	storeMax(&f.freshUntil, addSat(f.lastContact.Load(), int64(f.maxStale)))
	f.log.Info("revlist: first snapshot loaded",
		slog.Int("entries", entries), slog.Int64("head_seq", head),
		slog.Int64("applied_seq", applied), slog.Duration("took", time.Since(began)))
	close(f.readyCh)
}

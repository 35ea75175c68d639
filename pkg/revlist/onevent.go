package revlist

import (
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"google.golang.org/protobuf/proto"
)

// onEvent applies a Revoked event when it is the next in sequence. NATS
// delivers a subscription's messages one at a time, in order.
//
//   - Before the first List answer the follower does not know which list
//     it follows: the event is dropped and a re-sync requested, which
//     covers it (the one in progress may have read its head before the
//     event was committed).
//   - An event of another log_id is dropped: another database publishes
//     on the same subject. If ours was replaced, the periodic re-sync
//     sees the new log_id.
//   - An event at or below the applied sequence number is a duplicate.
//   - An event beyond the next one means events were lost: it is dropped
//     and a re-sync fetches the gap and the event from the source.
func (f *Follower) onEvent(data []byte) {
	ev := &eventsv1.Revoked{}
	if err := proto.Unmarshal(data, ev); err != nil {
		// Unreadable, yet published on the revocation subject: it may
		// have been a revocation, so ask the source of truth.
		f.trigger()
		return
	}
	e, logID := EntryOf(ev)
	now := f.now()

	f.mu.Lock()
	applied, resync := false, false
	switch {
	case !f.known:
		resync = true
	case logID != f.logID, e.GetSeq() <= f.applied:
	case e.GetSeq() > f.applied+1:
		f.gaps++
		resync = true
	default:
		f.targetLocked().Apply(e, now)
		f.applied = e.GetSeq()
		applied = true
	}
	f.mu.Unlock()

	if resync {
		f.trigger()
	}
	if applied && f.onApply != nil {
		f.onApply([]*revocationv1.Entry{e})
	}
}

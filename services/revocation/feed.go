package revocation

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
)

// feedItem is one thing every open Watch stream sends: an entry or a key
// change.
type feedItem struct {
	entry *revocationv1.Entry
	key   *eventsv1.KeyRotated
	// through is what the stream is complete up to once it sent this item:
	// the entry's seq, or more when the store's head showed that the seqs
	// after it are gone (expired entries leave gaps).
	through int64
}

// feed is what the Watch streams of this process share: one reader of the
// store appends new entries, and the key-change listener appends key
// changes, in the order the server learns of them. It is a ring: memory is
// bounded by its size whatever the number and speed of the streams, and a
// stream that falls more than a ring behind ends and resumes from the
// store.
type feed struct {
	mu    sync.Mutex
	items []feedItem
	// Absolute positions: items from start (included) to end (excluded)
	// are in the ring, at position % len(items).
	start, end uint64
	// through: every entry with seq <= through was appended (or was
	// committed before the feed was based and is read by a stream's
	// catch-up).
	through int64
	// streams is the number of streams that joined and have not left.
	// Without streams the feed reads nothing and holds nothing; the first
	// stream to join has it based again.
	streams int
	// based: through was set from the store's head since the first of the
	// current streams joined. basedCh is closed then; streams wait for it
	// before their catch-up, whose head is then at least through.
	based   bool
	basedCh chan struct{}
	// changed is closed, and replaced, at every append: a broadcast that
	// holds no per-stream state.
	changed chan struct{}
	// lastRead is when the store was last read successfully (Unix
	// nanoseconds): heartbeats stop when it is old, so a follower does not
	// take a stream whose source is unreachable for a fresh one.
	lastRead int64
}

func newFeed(size int) *feed {
	return &feed{items: make([]feedItem, size), changed: make(chan struct{}), basedCh: make(chan struct{})}
}

// join adds a stream and returns the position it reads the feed from, and
// a channel closed once the feed is based.
func (f *feed) join() (pos uint64, based <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams++
	return f.end, f.basedCh
}

// leave removes a stream; the last one to leave empties the feed.
func (f *feed) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streams--; f.streams > 0 {
		return
	}
	clear(f.items)
	f.start = f.end
	if f.based {
		f.based = false
		f.basedCh = make(chan struct{})
	}
}

// active reports whether streams are open, and whether the feed is based.
func (f *feed) active() (streams, based bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.streams > 0, f.based
}

// base starts the feed at head, the store's head read after the streams
// now open joined.
func (f *feed) base(head int64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.based || f.streams == 0 {
		return
	}
	f.through, f.based, f.lastRead = head, true, now.UnixNano()
	close(f.basedCh)
}

// appendLocked adds it, dropping the oldest item when the ring is full.
func (f *feed) appendLocked(it feedItem) {
	n := uint64(len(f.items))
	f.items[f.end%n] = it
	f.end++
	if f.end-f.start > n {
		// The slot of the oldest item was just overwritten.
		f.start = f.end - n
	}
}

func (f *feed) broadcastLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// appendEntries adds entries read from the store after f.through, with
// head, the store's head of that read.
func (f *feed) appendEntries(es []*revocationv1.Entry, head int64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.based {
		// The streams left meanwhile.
		return
	}
	f.lastRead = now.UnixNano()
	appended := false
	for i, e := range es {
		if e.GetSeq() <= f.through {
			continue
		}
		through := e.GetSeq()
		if i == len(es)-1 {
			through = max(through, head)
		}
		f.appendLocked(feedItem{entry: e, through: through})
		f.through = through
		appended = true
	}
	f.through = max(f.through, head)
	if appended {
		f.broadcastLocked()
	}
}

// appendNext adds e, just committed here, when it is the entry right after
// through, which saves the streams a read of the store; it reports whether
// it did. Otherwise (an entry of another replica in between, or the feed
// not based yet) the tail reads the store.
func (f *feed) appendNext(e *revocationv1.Entry) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.based || f.streams == 0 || e.GetSeq() != f.through+1 {
		return false
	}
	f.appendLocked(feedItem{entry: e, through: e.GetSeq()})
	f.through = e.GetSeq()
	f.broadcastLocked()
	return true
}

// appendKey adds a key change.
func (f *feed) appendKey(ev *eventsv1.KeyRotated) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streams == 0 {
		return
	}
	f.appendLocked(feedItem{key: ev, through: f.through})
	f.broadcastLocked()
}

// feedView is what a stream reads at its position.
type feedView struct {
	items []feedItem
	next  uint64
	// atEnd: the stream has every item; through then holds.
	atEnd   bool
	through int64
	changed <-chan struct{}
	// behind: items after the position were dropped from the ring.
	behind bool
	// lastRead as in feed.
	lastRead int64
}

// read copies up to len(buf) items from pos into buf.
func (f *feed) read(pos uint64, buf []feedItem) feedView {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := feedView{changed: f.changed, lastRead: f.lastRead}
	if pos < f.start {
		v.behind = true
		return v
	}
	n := uint64(len(f.items))
	k := 0
	for p := pos; p < f.end && k < len(buf); p++ {
		buf[k] = f.items[p%n]
		k++
	}
	v.items = buf[:k]
	v.next = pos + uint64(k)
	v.atEnd = v.next == f.end
	v.through = f.through
	return v
}

// Tail reading bounds: a page, and the pages of one round (a round that
// reads them all goes on at once).
const (
	tailPage      = 500
	tailMaxPages  = 20
	tailReadLimit = 10 * time.Second
)

// runTail reads the entries committed after the feed's through into the
// feed while streams are open: whenever woken (a Revoke here, a Revoked
// event of another replica, a stream joining) and every poll interval,
// which bounds how late an entry committed at a replica whose event was
// lost reaches the streams.
func (s *Service) runTail(ctx context.Context) {
	ticker := time.NewTicker(s.watchPoll)
	defer ticker.Stop()
	var wake *nats.Subscription
	defer func() {
		if wake != nil {
			_ = wake.Unsubscribe()
		}
	}()
	for {
		streams, _ := s.feed.active()
		wake = s.followRevoked(ctx, wake, streams)
		if streams && s.readTail(ctx) {
			s.wakeTail()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.tailWake:
		}
	}
}

// followRevoked subscribes to Revoked events, as a wake-up, while streams
// are open, and returns the subscription. Only then: a subscriber on the
// subject answers for a lost JetStream stream, whose publishes then time
// out instead of failing at once with no responders, which is how the
// outbox learns to create it again.
func (s *Service) followRevoked(ctx context.Context, sub *nats.Subscription, streams bool) *nats.Subscription {
	switch {
	case s.nc == nil || streams == (sub != nil):
		return sub
	case !streams:
		_ = sub.Unsubscribe()
		return nil
	}
	// The payload is not trusted: the store is read.
	sub, err := s.nc.Subscribe(revlist.Subject, func(*nats.Msg) { s.wakeTail() })
	if err != nil {
		s.log.WarnContext(ctx, "revocation watch: subscribe to Revoked events failed; polling the store", "error", err)
		return nil
	}
	// Bounded: with NATS away the poll covers, and the reconnect
	// restores the subscription.
	if err := s.nc.FlushTimeout(publishTimeout); err != nil {
		s.log.DebugContext(ctx, "revocation watch: NATS flush after subscribing failed", "error", err)
	}
	return sub
}

// readTail bases the feed if needed and reads up to tailMaxPages pages
// after its through; it returns whether there may be more.
func (s *Service) readTail(ctx context.Context) (more bool) {
	ctx, cancel := context.WithTimeout(ctx, tailReadLimit)
	defer cancel()
	fail := func(what string, err error) bool {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "revocation watch: "+what+" failed; retrying at the next poll", "error", err)
		}
		return false
	}
	if _, based := s.feed.active(); !based {
		head, err := s.store.Head(ctx)
		if err != nil {
			return fail("reading the head", err)
		}
		s.feed.base(head, time.Now())
	}
	for range tailMaxPages {
		s.feed.mu.Lock()
		since, based := s.feed.through, s.feed.based
		s.feed.mu.Unlock()
		if !based {
			return false
		}
		es, head, err := s.store.List(ctx, since, tailPage)
		if err != nil {
			return fail("reading new entries", err)
		}
		entries := make([]*revocationv1.Entry, len(es))
		for i, e := range es {
			entries[i] = ToProto(e)
		}
		s.feed.appendEntries(entries, head, time.Now())
		if len(es) < tailPage {
			return false
		}
	}
	return true
}

// wakeTail asks the tail reader for a read now; requests made during a
// read coalesce into one more.
func (s *Service) wakeTail() {
	select {
	case s.tailWake <- struct{}{}:
	default:
	}
}

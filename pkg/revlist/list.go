package revlist

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// numKinds bounds the kinds the list knows: tables are indexed by Kind
// value, 1 to numKinds-1.
const numKinds = int(revocationv1.Kind_KIND_SIGNING_KEY) + 1

// Shorter names for the kinds, which index List.tables.
const (
	kAccessToken   = revocationv1.Kind_KIND_ACCESS_TOKEN
	kRefreshFamily = revocationv1.Kind_KIND_REFRESH_FAMILY
	kAPIKey        = revocationv1.Kind_KIND_API_KEY
	kClient        = revocationv1.Kind_KIND_CLIENT
	kSubject       = revocationv1.Kind_KIND_SUBJECT
	kCertificate   = revocationv1.Kind_KIND_CERTIFICATE
	kSigningKey    = revocationv1.Kind_KIND_SIGNING_KEY
)

// isCutoff reports whether k revokes what was issued up to a time rather
// than one thing.
func isCutoff(k revocationv1.Kind) bool { return k == kClient || k == kSubject }

// List is the set of live revocations, answering in O(1) per credential
// field. The zero value is not usable; call NewList.
//
// Point kinds match by id: an access token by jti, a refresh family, an
// API key by key id, a certificate by serial, a signing key by kid.
// Cut-off kinds (client, subject) match every credential issued at or
// before the entry's revoke time; a credential without an issue time is
// not affected by them. An empty credential field never matches. An entry
// past its expiry answers "not revoked" whether or not Sweep has dropped
// it yet.
//
// Concurrency: one RWMutex over per-kind maps. A check takes the read
// lock once for all its lookups (two atomic adds), and writers are rare
// (one per revocation, plus Sweep, which releases the lock between chunks
// of what it frees), so readers almost never wait. Sharding would spread
// the reader count over cache lines but cost a hash of every id to pick
// the shard, and up to seven shard locks per check; the parallel
// benchmark shows the single lock does not limit a validator. A list with
// no entries at all answers without touching the lock.
type List struct {
	n  atomic.Int64 // entries, for Len and the empty fast path
	mu sync.RWMutex
	// tables is indexed by kind; tables[0] is unused.
	tables [numKinds]table
	// visited counts the bucket references Sweep examined, so tests can
	// check that sweeping costs what it frees. Guarded by mu.
	visited int
}

// NewList returns an empty list.
func NewList() *List {
	l := &List{}
	l.init()
	return l
}

func (l *List) init() {
	for k := 1; k < numKinds; k++ {
		l.tables[k] = newTable(isCutoff(revocationv1.Kind(k)))
	}
}

// Apply adds e, or overwrites the entry of the same kind and id: the
// follower applies entries in sequence order, so the later one wins. An
// entry already expired at now is not stored (and removes the one it
// overwrites). An entry of an unknown kind, or without an id, is ignored.
//
// An entry without an expiry never expires. A cut-off entry without a
// revoke time refuses every credential of its client or subject until it
// expires: a malformed revocation fails closed.
func (l *List) Apply(e *revocationv1.Entry, now time.Time) {
	k, id := e.GetKind(), e.GetId()
	if k <= revocationv1.Kind_KIND_UNSPECIFIED || int(k) >= numKinds || id == "" {
		return
	}
	exp := tsNanos(e.GetExpireTime(), never)
	var cut int64
	if isCutoff(k) {
		cut = tsNanos(e.GetRevokeTime(), never)
	}
	expired := exp <= unixNanos(now)
	if !expired {
		// The id may share memory with a larger message buffer; the
		// list keeps only its bytes.
		id = strings.Clone(id)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	t := &l.tables[k]
	switch {
	case expired:
		if t.remove(id) {
			l.n.Add(-1)
		}
	case t.put(id, exp, cut):
		l.n.Add(1)
	}
}

// RevokedPrincipal reports whether p's credential is revoked at now. It
// does not allocate.
func (l *List) RevokedPrincipal(p *authn.Principal, now time.Time) bool {
	if p == nil || l.n.Load() == 0 {
		return false
	}
	n := unixNanos(now)
	l.mu.RLock()
	revoked := l.tables[kAccessToken].revokedAt(p.TokenID, n) ||
		l.tables[kRefreshFamily].revokedAt(p.FamilyID, n) ||
		l.tables[kAPIKey].revokedAt(p.KeyID, n) ||
		l.tables[kCertificate].revokedAt(p.CertSerial, n) ||
		l.tables[kSigningKey].revokedAt(p.SigningKeyID, n) ||
		l.cutOffLocked(p.ClientID, p.Subject, p.IssuedAt, n)
	l.mu.RUnlock()
	return revoked
}

// RevokedClaims reports whether the token with claims c is revoked at now:
// by jti, grant (refresh family), signing key, client or subject. It does
// not allocate.
func (l *List) RevokedClaims(c *authn.Claims, now time.Time) bool {
	if c == nil || l.n.Load() == 0 {
		return false
	}
	n := unixNanos(now)
	l.mu.RLock()
	revoked := l.tables[kAccessToken].revokedAt(c.JTI, n) ||
		l.tables[kRefreshFamily].revokedAt(c.FamilyID, n) ||
		l.tables[kSigningKey].revokedAt(c.KeyID, n) ||
		l.cutOffLocked(c.ClientID, c.Subject, c.IssuedAt, n)
	l.mu.RUnlock()
	return revoked
}

// cutOffLocked applies the cut-off kinds to a credential of client and
// subject issued at issued. l.mu is held.
func (l *List) cutOffLocked(client, subject string, issued time.Time, now int64) bool {
	if issued.IsZero() {
		return false
	}
	iat := unixNanos(issued)
	return l.tables[kClient].cutOff(client, now, iat) ||
		l.tables[kSubject].cutOff(subject, now, iat)
}

// Sweep drops the entries whose expiry is at or before now and returns how
// many it dropped. Its cost is what it frees plus the entries expiring in
// the current minute, not the size of the list; it releases the write lock
// between chunks, so checks do not wait behind a large sweep.
func (l *List) Sweep(now time.Time) int {
	n := unixNanos(now)
	total := 0
	for k := 1; k < numKinds; k++ {
		for {
			freed, more := l.sweepStep(revocationv1.Kind(k), n)
			total += freed
			if !more {
				break
			}
		}
	}
	return total
}

// sweepStep does one lock hold of sweeping kind k: one chunk of a bucket
// whose minute has passed, or the whole bucket of the current minute. more
// reports whether more may be due.
func (l *List) sweepStep(k revocationv1.Kind, now int64) (freed int, more bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &l.tables[k]
	key, b, ok := t.exps.first()
	if !ok || bucketStart(key) > now {
		return 0, false
	}
	if bucketEnd(key) <= now {
		// Everything this bucket references has expired, unless it was
		// re-applied with a later expiry since (a stale reference).
		chunk := b.popChunk()
		for _, id := range chunk {
			l.visited++
			if t.removeExpired(id, now) {
				freed++
			}
		}
		clear(chunk)
		if len(b.chunks) == 0 {
			t.exps.dropFirst()
		}
		l.n.Add(int64(-freed))
		return freed, true
	}
	// The current minute: drop what expired, keep the rest, and drop
	// stale references on the way.
	b.retain(func(id string) bool {
		l.visited++
		if t.removeExpired(id, now) {
			freed++
			return false
		}
		exp, ok := t.exp[id]
		return ok && bucketOf(exp) == key
	})
	if len(b.chunks) == 0 {
		t.exps.dropFirst()
	}
	l.n.Add(int64(-freed))
	return freed, false
}

// Len is the number of entries, expired ones not yet swept included.
func (l *List) Len() int { return int(l.n.Load()) }

// Reset empties the list.
func (l *List) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	l.n.Store(0)
}

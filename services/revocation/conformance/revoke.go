package conformance

import (
	"testing"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/services/revocation"
)

var revokeTests = []test{
	{"a new store is empty at head 0", func(t *testing.T, e *env) {
		s := e.store()
		if h := e.head(s); h != 0 {
			t.Errorf("Head = %d, want 0", h)
		}
		es, h := e.list(s, 0, 10)
		assertEntries(t, es)
		if h != 0 {
			t.Errorf("List head = %d, want 0", h)
		}
		assertEntries(t, e.unpublished(s, 10))
		_, err := s.Get(e.ctx, revocationv1.Kind_KIND_API_KEY, "nope")
		assertErrorIs(t, err, revocation.ErrNotFound)
	}},

	{"round-trips every field in UTC to the microsecond", func(t *testing.T, e *env) {
		s := e.store()
		tests := []struct {
			name string
			in   revocation.Entry
		}{
			{"with expiry", entry(revocationv1.Kind_KIND_ACCESS_TOKEN, "jti-1", t0, t0.Add(time.Hour+time.Nanosecond))},
			{"never expires", entry(revocationv1.Kind_KIND_API_KEY, "key-1", t0.Add(time.Second), time.Time{})},
			{"empty reason", revocation.Entry{Kind: revocationv1.Kind_KIND_CLIENT, ID: "client-1", RevokedAt: t0}},
			{"unicode id", entry(revocationv1.Kind_KIND_SUBJECT, "usér@exämple ☃", t0, t0.AddDate(0, 1, 0))},
			{"seq is ignored", func() revocation.Entry {
				en := entry(revocationv1.Kind_KIND_CERTIFICATE, "01:ab", t0, t0.Add(time.Minute))
				en.Seq = 999
				return en
			}()},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := e.in(t)
				want := stored(tt.in, int64(i+1))
				got, created := e.revoke(s, tt.in)
				if !created {
					t.Error("created = false for a new entry")
				}
				assertEntry(t, got, want)
				assertEntry(t, e.get(s, tt.in.Kind, tt.in.ID), want)
			})
		}
	}},

	{"the same id under another kind is another entry", func(t *testing.T, e *env) {
		s := e.store()
		a, _ := e.revoke(s, entry(revocationv1.Kind_KIND_API_KEY, "x", t0, time.Time{}))
		b, created := e.revoke(s, entry(revocationv1.Kind_KIND_ACCESS_TOKEN, "x", t0, time.Time{}))
		if !created || b.Seq == a.Seq {
			t.Errorf("second kind: created=%v seq=%d, want a new entry beside seq %d", created, b.Seq, a.Seq)
		}
		_, err := s.Get(e.ctx, revocationv1.Kind_KIND_CLIENT, "x")
		assertErrorIs(t, err, revocation.ErrNotFound)
	}},

	{"point kinds are idempotent: the first entry stays", func(t *testing.T, e *env) {
		s := e.store()
		for _, kind := range pointKinds {
			t.Run(kind.String(), func(t *testing.T) {
				e := e.in(t)
				first, created := e.revoke(s, entry(kind, "id", t0, t0.Add(time.Hour)))
				if !created {
					t.Fatal("first Revoke: created = false")
				}
				head := e.head(s)
				again := revocation.Entry{Kind: kind, ID: "id", Reason: "other", RevokedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(48 * time.Hour)}
				got, created := e.revoke(s, again)
				if created {
					t.Error("second Revoke: created = true")
				}
				assertEntry(t, got, first)
				assertEntry(t, e.get(s, kind, "id"), first)
				if h := e.head(s); h != head {
					t.Errorf("Head = %d after a no-op Revoke, want %d", h, head)
				}
			})
		}
	}},

	{"cut-off kinds replace the entry under a new seq", func(t *testing.T, e *env) {
		never := time.Time{}
		tests := []struct {
			name                   string
			oldExpires, newExpires time.Time
			wantExpires            time.Time
		}{
			{"both never", never, never, never},
			{"old never wins", never, t0.Add(time.Hour), never},
			{"new never wins", t0.Add(time.Hour), never, never},
			{"new later wins", t0.Add(time.Hour), t0.Add(2 * time.Hour), t0.Add(2 * time.Hour)},
			{"old later stays", t0.Add(2 * time.Hour), t0.Add(time.Hour), t0.Add(2 * time.Hour)},
		}
		for _, kind := range cutOffKinds {
			for _, tt := range tests {
				t.Run(kind.String()+"/"+tt.name, func(t *testing.T) {
					e := e.in(t)
					s := e.store()
					first, _ := e.revoke(s, entry(kind, "c", t0, tt.oldExpires))
					other, _ := e.revoke(s, entry(revocationv1.Kind_KIND_API_KEY, "k", t0, never))
					e.markPublished(s, first.Seq, other.Seq)

					again := revocation.Entry{Kind: kind, ID: "c", Reason: "again", RevokedAt: t0.Add(time.Minute), ExpiresAt: tt.newExpires}
					got, created := e.revoke(s, again)
					if !created {
						t.Error("created = false, want true for a replaced cut-off")
					}
					want := stored(revocation.Entry{Kind: kind, ID: "c", Reason: "again", RevokedAt: again.RevokedAt, ExpiresAt: tt.wantExpires}, 3)
					assertEntry(t, got, want)
					assertEntry(t, e.get(s, kind, "c"), want)
					if h := e.head(s); h != 3 {
						t.Errorf("Head = %d, want 3", h)
					}
					// One row per (kind, id), at its new place in the
					// order, and back in the outbox.
					all, _ := e.list(s, 0, 10)
					assertEntries(t, all, stored(entry(revocationv1.Kind_KIND_API_KEY, "k", t0, never), 2), want)
					assertEntries(t, e.unpublished(s, 10), want)
				})
			}
		}
	}},

	{"a cut-off never moves back in time", func(t *testing.T, e *env) {
		// A replica whose clock is behind must not un-revoke what the
		// earlier cut-off revoked.
		s := e.store()
		kind := revocationv1.Kind_KIND_SUBJECT
		e.revoke(s, entry(kind, "u", t0, time.Time{}))
		got, created := e.revoke(s, revocation.Entry{Kind: kind, ID: "u", Reason: "late clock", RevokedAt: t0.Add(-time.Minute)})
		if !created || got.Seq != 2 {
			t.Errorf("created=%v seq=%d, want a replacement at seq 2", created, got.Seq)
		}
		if want := normTime(t0); !got.RevokedAt.Equal(want) {
			t.Errorf("RevokedAt = %v, want the earlier cut-off's %v", got.RevokedAt, want)
		}
		assertEntry(t, e.get(s, kind, "u"), got)
	}},
}

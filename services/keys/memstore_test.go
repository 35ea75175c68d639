package keys_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/keys"
	"github.com/gatehouse-dev/gatehouse/services/keys/conformance"
)

// memStore is an in-memory keys.Store for the scheduler tests, which run
// in a synctest bubble where a database's background goroutines would not
// belong. It passes the conformance suite like the real stores.
type memStore struct {
	mu   sync.Mutex
	keys []keys.Key
}

var _ keys.Store = (*memStore)(nil)

func (s *memStore) List(context.Context) ([]keys.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sorted(), nil
}

func (s *memStore) sorted() []keys.Key {
	out := make([]keys.Key, 0, len(s.keys))
	for _, k := range s.keys {
		k.PublicJWK = slices.Clone(k.PublicJWK)
		k.PrivateKey = slices.Clone(k.PrivateKey)
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b keys.Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.KID, b.KID)
	})
	return out
}

func (s *memStore) Update(_ context.Context, fn func([]keys.Key) (keys.Changes, error)) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.sorted()
	var version int64
	for _, k := range cur {
		version = max(version, k.Version)
	}
	ch, err := fn(cur)
	if err != nil {
		return 0, err
	}
	if ch.Empty() {
		return version, nil
	}
	version++
	next := s.sorted()
	index := func(kid string) int {
		return slices.IndexFunc(next, func(k keys.Key) bool { return k.KID == kid })
	}
	for _, k := range ch.Update {
		i := index(k.KID)
		if i < 0 {
			return 0, fmt.Errorf("update %s: %w", k.KID, keys.ErrNotFound)
		}
		n := next[i]
		n.State, n.PrivateKey, n.ActivateAt, n.RetiredAt, n.RemoveAt, n.Version = k.State, slices.Clone(k.PrivateKey), k.ActivateAt, k.RetiredAt, k.RemoveAt, version
		next[i] = n
	}
	for _, k := range ch.Insert {
		if index(k.KID) >= 0 {
			return 0, fmt.Errorf("insert %s: %w", k.KID, keys.ErrAlreadyExists)
		}
		k.Version = version
		k.PublicJWK, k.PrivateKey = slices.Clone(k.PublicJWK), slices.Clone(k.PrivateKey)
		next = append(next, k)
	}
	active := 0
	for i, k := range next {
		if !slices.Contains([]keys.State{keys.StatePending, keys.StateActive, keys.StateRetired, keys.StateRemoved}, k.State) ||
			!slices.Contains([]string{"ES256", "EdDSA", "RS256", "PS256"}, k.Alg) {
			return 0, fmt.Errorf("key %s: bad state or alg", k.KID)
		}
		if (k.State == keys.StateRemoved) != (len(k.PrivateKey) == 0) {
			return 0, fmt.Errorf("key %s: private key does not match state", k.KID)
		}
		if len(k.PrivateKey) == 0 {
			next[i].PrivateKey = nil
		}
		next[i].CreatedAt = utcMicro(k.CreatedAt)
		next[i].ActivateAt = utcMicro(k.ActivateAt)
		next[i].RetiredAt = utcMicro(k.RetiredAt)
		next[i].RemoveAt = utcMicro(k.RemoveAt)
		if k.State == keys.StateActive {
			active++
		}
	}
	if active > 1 {
		return 0, fmt.Errorf("second active key: %w", keys.ErrAlreadyExists)
	}
	s.keys = next
	return version, nil
}

func TestMemStoreConformance(t *testing.T) {
	conformance.Run(t, func(_ *testing.T, n int) []keys.Store {
		s := &memStore{}
		out := make([]keys.Store, n)
		for i := range out {
			out[i] = s
		}
		return out
	})
}

func utcMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

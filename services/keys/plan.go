package keys

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrKeyRemoved means an emergency rotation named a key that is already
// gone from the JWKS.
var ErrKeyRemoved = errors.New("key already removed")

// The plan functions decide what changes, given every key and the time.
// They are pure: the Manager runs each twice, once on an unlocked read to
// learn whether there is anything to do (and to generate a key outside the
// lock), and again inside Store.Update on the keys read under the lock,
// which is the run that counts. So two replicas doing the same thing at
// the same moment agree, and the second finds nothing left to do.

// lifetimes are the durations the plans need.
type lifetimes struct {
	rotation time.Duration // 0: no automatic rotation
	lead     time.Duration
	retire   time.Duration
}

// newKeyFunc returns a fresh key with CreatedAt set; the plan sets its
// state and times. Plans call it at most once.
type newKeyFunc func() (Key, error)

// planTick applies every transition due at now:
//   - retired keys whose RemoveAt has come are removed;
//   - the pending key whose ActivateAt has come becomes active and the
//     active one retires (if several are due after a long outage, the
//     newest wins and the others, which never signed, are removed);
//   - with no active key at all, as on a first start when there is nothing
//     to protect yet, a key is activated at once: the newest pending one,
//     else a new one;
//   - when automatic rotation is due, a pending key is created that
//     becomes active after the publish lead. Rotation is due a lead before
//     the active key's interval ends, so the new key takes over on time.
func planTick(keys []Key, now time.Time, lt lifetimes, newKey newKeyFunc) (Changes, error) {
	var ch Changes
	var active *Key
	var due, later []Key
	for _, k := range keys {
		switch k.State {
		case StateActive:
			active = &k
		case StatePending:
			if !now.Before(k.ActivateAt) {
				due = append(due, k)
			} else {
				later = append(later, k)
			}
		case StateRetired:
			if !now.Before(k.RemoveAt) {
				ch.Update = append(ch.Update, removed(k, now))
			}
		}
	}

	if len(due) > 0 {
		winner := 0
		for i, k := range due {
			if newer(k, due[winner]) {
				winner = i
			}
		}
		for i, k := range due {
			if i != winner {
				ch.Update = append(ch.Update, removed(k, now))
			}
		}
		if active != nil {
			ch.Update = append(ch.Update, retired(*active, now, lt.retire))
		}
		a := activated(due[winner], now)
		ch.Update = append(ch.Update, a)
		active = &a
	}

	if active == nil {
		if len(later) > 0 {
			// Published for a while already, so better known to
			// validators than a brand-new key.
			newest := 0
			for i, k := range later {
				if newer(k, later[newest]) {
					newest = i
				}
			}
			ch.Update = append(ch.Update, activated(later[newest], now))
			return ch, nil
		}
		k, err := newKey()
		if err != nil {
			return Changes{}, err
		}
		ch.Insert = append(ch.Insert, activated(k, now))
		return ch, nil
	}

	if lt.rotation > 0 && len(later) == 0 && !now.Before(active.ActivateAt.Add(lt.rotation-lt.lead)) {
		k, err := newKey()
		if err != nil {
			return Changes{}, err
		}
		ch.Insert = append(ch.Insert, pending(k, now, lt.lead))
	}
	return ch, nil
}

// planRotate starts a manual rotation: a new pending key that becomes
// active after the publish lead. It supersedes any key already pending
// (removed: it never signed), so the caller's choice of algorithm is the
// one that takes over. With no active key the new key is activated at
// once, as on a first start.
func planRotate(keys []Key, now time.Time, lt lifetimes, newKey newKeyFunc) (Changes, error) {
	var ch Changes
	hasActive := false
	for _, k := range keys {
		switch k.State {
		case StatePending:
			ch.Update = append(ch.Update, removed(k, now))
		case StateActive:
			hasActive = true
		}
	}
	k, err := newKey()
	if err != nil {
		return Changes{}, err
	}
	if hasActive {
		ch.Insert = append(ch.Insert, pending(k, now, lt.lead))
	} else {
		ch.Insert = append(ch.Insert, activated(k, now))
	}
	return ch, nil
}

// planEmergency handles a compromised key: the key is removed at once
// (dropped from the JWKS, private key deleted) and a new key becomes
// active at once. The new key was never published ahead, so validators
// learn it through the KeyRotated event or their unknown-kid refetch; that
// is the price of not signing another token with the compromised key. An
// uncompromised active key retires normally, so its tokens stay valid.
// Pending keys stay: they were published and never used.
//
// Tokens the compromised key already signed stop validating because
// validators drop its kid with the JWKS; revoking them through the
// revocation list is WithRevoker.
func planEmergency(kid string) func([]Key, time.Time, lifetimes, newKeyFunc) (Changes, error) {
	return func(keys []Key, now time.Time, lt lifetimes, newKey newKeyFunc) (Changes, error) {
		var target, active *Key
		for _, k := range keys {
			if k.KID == kid {
				target = &k
			}
			if k.State == StateActive {
				active = &k
			}
		}
		switch {
		case target == nil:
			return Changes{}, fmt.Errorf("key %q: %w", kid, ErrNotFound)
		case target.State == StateRemoved:
			return Changes{}, fmt.Errorf("key %q: %w", kid, ErrKeyRemoved)
		}
		var ch Changes
		ch.Update = append(ch.Update, removed(*target, now))
		if active != nil && active.KID != kid {
			ch.Update = append(ch.Update, retired(*active, now, lt.retire))
		}
		k, err := newKey()
		if err != nil {
			return Changes{}, err
		}
		ch.Insert = append(ch.Insert, activated(k, now))
		return ch, nil
	}
}

// planRetire removes the retired key kid from the JWKS before its retire
// period ends. Without force it refuses while the period runs: a token the
// key signed may still be unexpired, and would fail validation.
func planRetire(kid string, force bool) planFunc {
	return func(keys []Key, now time.Time, _ lifetimes, _ newKeyFunc) (Changes, error) {
		i := slices.IndexFunc(keys, func(k Key) bool { return k.KID == kid })
		if i < 0 {
			return Changes{}, fmt.Errorf("key %q: %w", kid, ErrNotFound)
		}
		k := keys[i]
		switch k.State {
		case StateRemoved:
			return Changes{}, fmt.Errorf("key %q: %w", kid, ErrKeyRemoved)
		case StateRetired:
		default:
			return Changes{}, fmt.Errorf("key %q is %s: %w", kid, k.State, ErrNotRetired)
		}
		if !force && now.Before(k.RemoveAt) {
			return Changes{}, &StillVerifyingError{KID: kid, Until: k.RemoveAt}
		}
		return Changes{Update: []Key{removed(k, now)}}, nil
	}
}

// ErrNotRetired is RetireKey's error for a key that still signs or has
// not signed yet: rotate first.
var ErrNotRetired = errors.New("only a retired key can be retired early: rotate first")

// StillVerifyingError is RetireKey's error before a retired key's
// scheduled removal without force: tokens it signed may be valid until
// Until.
type StillVerifyingError struct {
	KID   string
	Until time.Time
}

func (e *StillVerifyingError) Error() string {
	return fmt.Sprintf("key %q verifies tokens that may be valid until %s", e.KID, e.Until.UTC().Format(time.RFC3339))
}

// newer orders keys by the time they were meant to take over, then by
// creation, then by kid, so that every replica picks the same one.
func newer(a, b Key) bool {
	if !a.ActivateAt.Equal(b.ActivateAt) {
		return a.ActivateAt.After(b.ActivateAt)
	}
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.KID > b.KID
}

func pending(k Key, now time.Time, lead time.Duration) Key {
	k.State = StatePending
	k.ActivateAt = now.Add(lead)
	return k
}

func activated(k Key, now time.Time) Key {
	k.State = StateActive
	k.ActivateAt = now
	return k
}

func retired(k Key, now time.Time, period time.Duration) Key {
	k.State = StateRetired
	k.RetiredAt = now
	k.RemoveAt = now.Add(period)
	return k
}

// removed drops the private key: nothing may sign with a key that is not
// published, and what is not stored cannot leak.
func removed(k Key, now time.Time) Key {
	switch k.State {
	case StateActive:
		k.RetiredAt = now
	case StatePending:
		k.ActivateAt = time.Time{} // it never became active
	}
	k.State = StateRemoved
	k.RemoveAt = now
	k.PrivateKey = nil
	return k
}

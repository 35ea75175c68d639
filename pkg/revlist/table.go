package revlist

// table is the entries of one kind. It is not safe for concurrent use:
// List guards it.
//
// Point kinds keep one int64 per id, the expiry; cut-off kinds (client,
// subject) keep the revoke time too, in a second map, so the entries that
// dominate the list (access tokens) pay for neither a struct nor a field
// they do not use.
type table struct {
	exp  map[string]int64 // id -> expiry, Unix nanoseconds (never when none)
	cut  map[string]int64 // id -> revoke time; nil for point kinds
	exps expiries
}

func newTable(cutoff bool) table {
	t := table{exp: make(map[string]int64), exps: newExpiries()}
	if cutoff {
		t.cut = make(map[string]int64)
	}
	return t
}

// live reports whether id has an entry that has not expired at now, and
// its revoke time for a cut-off kind.
func (t *table) live(id string, now int64) (cut int64, ok bool) {
	if id == "" || len(t.exp) == 0 {
		return 0, false
	}
	exp, ok := t.exp[id]
	if !ok || exp <= now {
		return 0, false
	}
	if t.cut != nil {
		cut = t.cut[id]
	}
	return cut, true
}

// revokedAt reports whether id is revoked at now, for a point kind.
func (t *table) revokedAt(id string, now int64) bool {
	_, ok := t.live(id, now)
	return ok
}

// cutOff reports whether a credential issued at issued (Unix
// nanoseconds) falls before the live cut-off of id.
func (t *table) cutOff(id string, now, issued int64) bool {
	cut, ok := t.live(id, now)
	return ok && issued <= cut
}

// put adds or overwrites id, and reports whether it is new.
func (t *table) put(id string, exp, cut int64) (added bool) {
	old, existed := t.exp[id]
	t.exp[id] = exp
	if t.cut != nil {
		t.cut[id] = cut
	}
	// An unchanged expiry is already referenced from its bucket: re-syncs
	// apply the same entry again, and must not grow the bucket.
	if exp != never && (!existed || old != exp) {
		t.exps.add(id, exp)
	}
	return !existed
}

// remove deletes id and reports whether it was there.
func (t *table) remove(id string) bool {
	if _, ok := t.exp[id]; !ok {
		return false
	}
	delete(t.exp, id)
	if t.cut != nil {
		delete(t.cut, id)
	}
	return true
}

// removeExpired deletes id when its current entry expired at now. An id
// whose entry was re-applied with a later expiry stays.
func (t *table) removeExpired(id string, now int64) bool {
	exp, ok := t.exp[id]
	if !ok || exp > now {
		return false
	}
	return t.remove(id)
}

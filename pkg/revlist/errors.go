package revlist

import "errors"

var (
	// ErrNotReady is returned by a check when the first snapshot of the
	// list was not loaded within the start wait: the list cannot answer,
	// and the caller refuses the request.
	ErrNotReady = errors.New("revlist: revocation list not loaded yet")
	// ErrStale is returned by a check when neither the revocation service
	// nor NATS has been reachable for longer than the maximum staleness, so
	// revocations may be missing (unless WithFailOpen).
	ErrStale = errors.New("revlist: revocation list is stale")
)

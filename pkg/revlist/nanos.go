package revlist

import (
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// The list keeps times as Unix nanoseconds: 8 bytes a value instead of
// time.Time's 24, and a comparison is one instruction. Times beyond what
// an int64 holds (years before 1678 or after 2262; "never" is often
// written as 9999-12-31) are clamped to the ends of the range, which keeps
// every comparison the list makes correct.

const (
	never    = int64(math.MaxInt64) // expiry of an entry that does not expire
	maxSecs  = math.MaxInt64 / int64(time.Second)
	minSecs  = math.MinInt64 / int64(time.Second)
	nanosSec = int64(time.Second)
)

// unixNanos is t in Unix nanoseconds, clamped to the int64 range.
func unixNanos(t time.Time) int64 {
	return clampNanos(t.Unix(), int64(t.Nanosecond()))
}

// tsNanos is ts in Unix nanoseconds, clamped to the int64 range, or
// ifNil when ts is not set.
func tsNanos(ts *timestamppb.Timestamp, ifNil int64) int64 {
	if ts == nil {
		return ifNil
	}
	return clampNanos(ts.GetSeconds(), int64(ts.GetNanos()))
}

func clampNanos(sec, nsec int64) int64 {
	switch {
	case sec >= maxSecs:
		return math.MaxInt64
	case sec <= minSecs:
		return math.MinInt64
	}
	return sec*nanosSec + nsec
}

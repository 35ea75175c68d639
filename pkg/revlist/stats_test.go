package revlist

import (
	"errors"
	"testing"
)

func TestStatsErr(t *testing.T) {
	for _, tc := range []struct {
		st   Stats
		want error
	}{
		{Stats{}, ErrNotReady},
		{Stats{Stale: true}, ErrNotReady},
		{Stats{Ready: true, Stale: true}, ErrStale},
		{Stats{Ready: true}, nil},
	} {
		if err := tc.st.Err(); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%+v.Err() = %v, want %v", tc.st, err, tc.want)
		}
	}
}

package revlist

import (
	"container/heap"
	"math"
	"time"
)

// Expiry buckets let Sweep find what expired without walking the list:
// every entry with an expiry is also referenced from the bucket of the
// minute it expires in, and a min-heap orders the buckets. Sweep pops the
// buckets whose minute has passed, so its cost is what it frees plus the
// bucket of the current minute, walked at most once per sweep. A minute
// is fine-grained enough that the current bucket stays small (access
// tokens live minutes, so entries spread over many buckets) and coarse
// enough that the per-bucket overhead (a map slot, a heap slot, a slice
// header) is noise next to the entries.
//
// A bucket holds ids, not entries: an entry re-applied with another expiry
// leaves a stale reference behind, and the sweep checks each id against
// the table before deleting it.

// bucketWidth is the span of expiry times one bucket covers.
const bucketWidth = int64(time.Minute)

// chunkSize caps the ids in one chunk of a bucket: a bucket grows by
// chunks, so a large bucket never copies itself to grow (which would hold
// the list's write lock for the copy), wastes at most one chunk, and is
// freed a chunk at a time.
const chunkSize = 512

// bucketOf is the bucket of expiry exp (floor division, so a negative
// expiry from a test clock lands in the right bucket too).
func bucketOf(exp int64) int64 {
	b := exp / bucketWidth
	if exp%bucketWidth < 0 {
		b--
	}
	return b
}

// bucketStart is the first instant of bucket b.
func bucketStart(b int64) int64 {
	if b < math.MinInt64/bucketWidth {
		return math.MinInt64
	}
	return b * bucketWidth
}

// bucketEnd is the first instant after bucket b.
func bucketEnd(b int64) int64 {
	start := bucketStart(b)
	if start > math.MaxInt64-bucketWidth {
		return math.MaxInt64
	}
	return start + bucketWidth
}

// bucket is the ids expiring in one minute, in chunks of at most
// chunkSize.
type bucket struct {
	chunks [][]string
}

func (b *bucket) add(id string) {
	n := len(b.chunks)
	if n == 0 {
		// The first chunk grows by appending, so a bucket holding a
		// handful of ids (long-lived API keys spread over years) stays
		// small.
		b.chunks = append(b.chunks, make([]string, 0, 1))
		n = 1
	}
	if last := b.chunks[n-1]; len(last) == chunkSize {
		b.chunks = append(b.chunks, make([]string, 0, chunkSize))
		n++
	}
	b.chunks[n-1] = append(b.chunks[n-1], id)
}

// popChunk removes and returns the first chunk, nil when empty.
func (b *bucket) popChunk() []string {
	if len(b.chunks) == 0 {
		return nil
	}
	c := b.chunks[0]
	b.chunks[0] = nil
	b.chunks = b.chunks[1:]
	return c
}

// retain keeps the ids for which keep is true, in place, and clears the
// slots it frees so the dropped strings can be collected.
func (b *bucket) retain(keep func(id string) bool) {
	wc, wi := 0, 0 // write position: chunk, index
	for rc := range b.chunks {
		for _, id := range b.chunks[rc] {
			if !keep(id) {
				continue
			}
			if wi == chunkSize {
				wc, wi = wc+1, 0
			}
			b.chunks[wc][wi] = id
			wi++
		}
	}
	// Truncate the chunk being written and drop the ones after it.
	for c := wc; c < len(b.chunks); c++ {
		from := 0
		if c == wc {
			from = wi
		}
		clear(b.chunks[c][from:])
		b.chunks[c] = b.chunks[c][:from]
	}
	keepChunks := wc + 1
	if wi == 0 {
		keepChunks = wc
	}
	clear(b.chunks[keepChunks:])
	b.chunks = b.chunks[:keepChunks]
}

// expiries is the buckets of one table and the heap that orders them.
type expiries struct {
	buckets map[int64]*bucket
	order   bucketHeap
}

func newExpiries() expiries {
	return expiries{buckets: make(map[int64]*bucket)}
}

// add references id from the bucket of exp.
func (x *expiries) add(id string, exp int64) {
	k := bucketOf(exp)
	b, ok := x.buckets[k]
	if !ok {
		b = &bucket{}
		x.buckets[k] = b
		heap.Push(&x.order, k)
	}
	b.add(id)
}

// first is the earliest bucket and its key; ok is false when there is none.
func (x *expiries) first() (k int64, b *bucket, ok bool) {
	if len(x.order) == 0 {
		return 0, nil, false
	}
	k = x.order[0]
	return k, x.buckets[k], true
}

// dropFirst removes the earliest bucket.
func (x *expiries) dropFirst() {
	k := heap.Pop(&x.order).(int64)
	delete(x.buckets, k)
}

// bucketHeap is a min-heap of bucket keys (container/heap).
type bucketHeap []int64

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h bucketHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }

// Push implements heap.Interface.
func (h *bucketHeap) Push(x any) { *h = append(*h, x.(int64)) }

// Pop implements heap.Interface.
func (h *bucketHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

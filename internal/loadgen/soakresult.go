package loadgen

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Outcome classifies how an operation ended.
type Outcome int

// The outcomes, in table order.
const (
	// OutcomeOK is a success (for a revocation: refused by the API within
	// the bound).
	OutcomeOK Outcome = iota
	// OutcomeAuth is 401 or 403 (Unauthenticated, PermissionDenied).
	OutcomeAuth
	// OutcomeRateLimited is 429 (ResourceExhausted).
	OutcomeRateLimited
	// OutcomeUnavailable is 503 (Unavailable, sent by the server).
	OutcomeUnavailable
	// OutcomeOther is any other 4xx, or another unexpected status.
	OutcomeOther
	// OutcomeServerError is a 5xx other than 503 (Internal, Unknown...).
	OutcomeServerError
	// OutcomeTransport is a connection refused or reset, or a timeout.
	OutcomeTransport
	// OutcomeLost is a revoked token the API still accepted after the
	// revocation bound.
	OutcomeLost
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "401/403", "429", "503", "4xx/other", "5xx", "transport", "lost"}

func (o Outcome) String() string {
	if o < 0 || o >= numOutcomes {
		return fmt.Sprintf("outcome(%d)", int(o))
	}
	return outcomeNames[o]
}

// Outcomes lists every outcome, in table order.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// OpStats is what one operation did over the run.
type OpStats struct {
	Counts [numOutcomes]int
	// P50, P99 and Max are over every completed operation, whatever its
	// outcome (for a revocation, the latency of the revoke request).
	P50, P99, Max time.Duration
}

// Total is the number of completed operations.
func (s OpStats) Total() int {
	n := 0
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Failure is one operation that did not end OK.
type Failure struct {
	Op      Op
	Outcome Outcome
	// Began is when the operation started, At when its failure was seen.
	Began, At time.Time
	// Detail says how it failed: a status and the server's error code, or
	// the transport error. It never holds a credential.
	Detail string
}

// Second is one second of the run: outcomes per operation, and the
// slowest operation of each kind that ended in it.
type Second struct {
	Counts [numOps][numOutcomes]int
	Max    [numOps]time.Duration
}

// RevocationStats is what the revocation checks saw.
type RevocationStats struct {
	// Checked revocations went through (200) and were checked against
	// the API; Lost of them were still accepted after the bound.
	Checked, Lost int
	// Propagation is how long after the revocation's 200 the API first
	// refused the token.
	PropagationP50, PropagationP99, PropagationMax time.Duration
	// Rechecked revoked tokens were asked about again after the load
	// (over REST and gRPC); RecheckAccepted of them were accepted.
	Rechecked, RecheckAccepted int
}

// MetricsSample is the server's heap and goroutines at one moment, from
// its /metrics.
type MetricsSample struct {
	At time.Time
	// HeapAlloc is go_memstats_heap_alloc_bytes: live objects plus
	// garbage not yet collected.
	HeapAlloc float64
	// NextGC is go_memstats_next_gc_bytes, the heap goal set by the last
	// collection: about twice the heap that survived it (GOGC=100).
	NextGC float64
	// Goroutines is go_goroutines.
	Goroutines int
	// Err is why the sample could not be taken; the values are then 0.
	Err string
}

// SoakResult is what a soak run measured.
type SoakResult struct {
	Start   time.Time
	Elapsed time.Duration
	// Concurrency, Rate, RevocationBound and Settle are the run's
	// settings, for the report.
	Concurrency     int
	Rate            float64
	RevocationBound time.Duration
	Settle          time.Duration

	Ops [numOps]OpStats
	// Failures lists every operation that did not end OK, in the order
	// they ended (at most 20 000; FailuresDropped counts the rest).
	Failures        []Failure
	FailuresDropped int
	// Seconds counts outcomes per second since Start, by when each
	// operation ended.
	Seconds     []Second
	Revocations RevocationStats

	// StartSample is taken before the load starts, WarmSample after the
	// warm-up, EndSample after the load stopped, its connections closed
	// and Settle passed. Samples holds them all and those taken every
	// SampleEvery, in time order. Goroutines compare best between start
	// and end (no connection of the load open at either); the heap
	// between warm and end (the set-up's garbage gone, the caches
	// filled).
	StartSample, WarmSample, EndSample MetricsSample
	Samples                            []MetricsSample
}

// Count sums the outcomes o of op that ended in [from, to), to the
// second.
func (r *SoakResult) Count(op Op, o Outcome, from, to time.Time) int {
	n := 0
	for i, sec := range r.Seconds {
		t := r.Start.Add(time.Duration(i) * time.Second)
		if !t.Before(from) && t.Before(to) {
			n += sec.Counts[op][o]
		}
	}
	return n
}

// Slowest returns the slowest operation of op that ended in [from, to),
// to the second.
func (r *SoakResult) Slowest(op Op, from, to time.Time) time.Duration {
	var d time.Duration
	for i, sec := range r.Seconds {
		t := r.Start.Add(time.Duration(i) * time.Second)
		if !t.Before(from) && t.Before(to) {
			d = max(d, sec.Max[op])
		}
	}
	return d
}

// String is the summary table: one row per operation with its counts per
// outcome and latencies, then the revocation checks, the server's heap and
// goroutines at the start and the end, and the failures grouped.
func (r *SoakResult) String() string {
	var b strings.Builder
	total := 0
	for _, s := range r.Ops {
		total += s.Total()
	}
	rate := "unthrottled"
	if r.Rate > 0 {
		rate = fmt.Sprintf("capped at %.0f/s", r.Rate)
	}
	fmt.Fprintf(&b, "soak: %s, %d workers (%s), %d operations (%.0f/s)\n",
		r.Elapsed.Round(100*time.Millisecond), r.Concurrency, rate, total, float64(total)/max(r.Elapsed.Seconds(), 1e-9))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "operation\ttotal\t")
	for _, o := range Outcomes() {
		fmt.Fprintf(tw, "%s\t", o)
	}
	fmt.Fprint(tw, "p50\tp99\tmax\t\n")
	for _, op := range Ops() {
		s := r.Ops[op]
		if s.Total() == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t", op, s.Total())
		for _, o := range Outcomes() {
			if o == OutcomeLost && op != OpRevoke {
				fmt.Fprint(tw, "-\t")
				continue
			}
			fmt.Fprintf(tw, "%d\t", s.Counts[o])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", roundLatency(s.P50), roundLatency(s.P99), roundLatency(s.Max))
	}
	_ = tw.Flush()
	v := r.Revocations
	fmt.Fprintf(&b, "revocations: %d checked, %d lost (accepted more than %s after the revocation's 200); refused after p50 %s, p99 %s, max %s; %d re-checked after the load, %d accepted\n",
		v.Checked, v.Lost, r.RevocationBound, roundLatency(v.PropagationP50), roundLatency(v.PropagationP99), roundLatency(v.PropagationMax),
		v.Rechecked, v.RecheckAccepted)
	fmt.Fprintf(&b, "server /metrics: goroutines %d at the start -> %d at the end; heap %s at the start, %s after the warm-up -> %s at the end (heap goal %s -> %s -> %s); the end sampled %s after the load, its connections closed\n",
		r.StartSample.Goroutines, r.EndSample.Goroutines,
		mib(r.StartSample.HeapAlloc), mib(r.WarmSample.HeapAlloc), mib(r.EndSample.HeapAlloc),
		mib(r.StartSample.NextGC), mib(r.WarmSample.NextGC), mib(r.EndSample.NextGC), r.Settle)
	if len(r.Samples) > 0 {
		fmt.Fprint(&b, "samples (s since the start: goroutines, heap MiB):")
		for _, s := range r.Samples {
			if s.Err != "" {
				fmt.Fprintf(&b, " %.1f: failed (%s);", max(0, s.At.Sub(r.Start).Seconds()), s.Err)
				continue
			}
			fmt.Fprintf(&b, " %.1f: %d, %.0f;", max(0, s.At.Sub(r.Start).Seconds()), s.Goroutines, s.HeapAlloc/(1<<20))
		}
		fmt.Fprintln(&b)
	}
	if g := r.FailureGroups(); len(g) > 0 {
		fmt.Fprintln(&b, "failures (by operation, outcome and detail; seconds since the start):")
		for i, f := range g {
			if i == 20 {
				fmt.Fprintf(&b, "  ... %d more groups\n", len(g)-i)
				break
			}
			fmt.Fprintf(&b, "  %-7s %-9s x%-5d %6.1fs..%6.1fs  %s\n", f.Op, f.Outcome, f.Count,
				f.First.Sub(r.Start).Seconds(), f.Last.Sub(r.Start).Seconds(), f.Detail)
		}
		if r.FailuresDropped > 0 {
			fmt.Fprintf(&b, "  (%d failures beyond the list's bound are counted in the table only)\n", r.FailuresDropped)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// FailureGroup is failures of one operation, outcome and detail.
type FailureGroup struct {
	Op          Op
	Outcome     Outcome
	Detail      string
	Count       int
	First, Last time.Time
}

// FailureGroups groups Failures, in the order each group first appeared.
func (r *SoakResult) FailureGroups() []FailureGroup {
	type key struct {
		op     Op
		o      Outcome
		detail string
	}
	idx := map[key]int{}
	var out []FailureGroup
	for _, f := range r.Failures {
		k := key{f.Op, f.Outcome, f.Detail}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, FailureGroup{Op: f.Op, Outcome: f.Outcome, Detail: f.Detail, First: f.At})
		}
		g := &out[i]
		g.Count++
		g.Last = f.At
	}
	return out
}

func roundLatency(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// recorder collects the outcomes of a run.
type recorder struct {
	start time.Time

	mu       sync.Mutex
	lat      [numOps][]time.Duration
	counts   [numOps][numOutcomes]int
	seconds  []Second
	failures []Failure
	dropped  int
	prop     []time.Duration
	checked  int
	lost     int
}

// maxFailures bounds the failure list; counts stay exact beyond it.
const maxFailures = 20_000

func newRecorder(start time.Time) *recorder { return &recorder{start: start} }

func (r *recorder) record(op Op, o Outcome, began, at time.Time, lat time.Duration, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat[op] = append(r.lat[op], lat)
	r.counts[op][o]++
	sec := max(0, int(at.Sub(r.start)/time.Second))
	for len(r.seconds) <= sec {
		r.seconds = append(r.seconds, Second{})
	}
	r.seconds[sec].Counts[op][o]++
	r.seconds[sec].Max[op] = max(r.seconds[sec].Max[op], lat)
	if o == OutcomeOK {
		return
	}
	if len(r.failures) >= maxFailures {
		r.dropped++
		return
	}
	r.failures = append(r.failures, Failure{Op: op, Outcome: o, Began: began, At: at, Detail: detail})
}

// propagation records one checked revocation.
func (r *recorder) propagation(d time.Duration, lost bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked++
	if lost {
		r.lost++
		return
	}
	r.prop = append(r.prop, d)
}

// finish writes the totals into res.
func (r *recorder) finish(res *SoakResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for op := range numOps {
		lat := r.lat[op]
		slices.Sort(lat)
		res.Ops[op] = OpStats{Counts: r.counts[op], P50: percentile(lat, 50), P99: percentile(lat, 99)}
		if len(lat) > 0 {
			res.Ops[op].Max = lat[len(lat)-1]
		}
	}
	res.Seconds = r.seconds
	res.Failures = r.failures
	res.FailuresDropped = r.dropped
	slices.Sort(r.prop)
	res.Revocations.Checked, res.Revocations.Lost = r.checked, r.lost
	res.Revocations.PropagationP50 = percentile(r.prop, 50)
	res.Revocations.PropagationP99 = percentile(r.prop, 99)
	if len(r.prop) > 0 {
		res.Revocations.PropagationMax = r.prop[len(r.prop)-1]
	}
}

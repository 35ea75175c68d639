package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxMetricsBody bounds what is read of /metrics.
const maxMetricsBody = 4 << 20

// Series read from the server's /metrics (Prometheus text format).
const (
	metricHeapAlloc  = "go_memstats_heap_alloc_bytes"
	metricNextGC     = "go_memstats_next_gc_bytes"
	metricGoroutines = "go_goroutines"
)

// sample reads the server's heap and goroutines; a failure is recorded in
// the sample, not returned: a soak goes on without its figures.
func (s *soak) sample(ctx context.Context) MetricsSample {
	smp := MetricsSample{At: time.Now()}
	code, body, err := s.sendLimit(ctx, s.plain, http.MethodGet, pathMetrics, "", "", maxMetricsBody)
	switch {
	case err != nil:
		smp.Err = fmt.Sprintf("GET %s: %v", pathMetrics, err)
		return smp
	case code != http.StatusOK:
		smp.Err = fmt.Sprintf("GET %s: status %d", pathMetrics, code)
		return smp
	}
	vals, err := parseMetrics(body, metricHeapAlloc, metricNextGC, metricGoroutines)
	if err != nil {
		smp.Err = fmt.Sprintf("GET %s: %v", pathMetrics, err)
		return smp
	}
	smp.HeapAlloc, smp.NextGC, smp.Goroutines = vals[0], vals[1], int(vals[2])
	return smp
}

// errNoSample marks a series missing from /metrics.
var errNoSample = errors.New("series missing")

// parseMetrics returns the values of the unlabelled series names, in
// order, from Prometheus text; a series the text lacks is an error.
func parseMetrics(body []byte, names ...string) ([]float64, error) {
	want := make(map[string]int, len(names))
	for i, n := range names {
		want[n] = i
	}
	out := make([]float64, len(names))
	found := make([]bool, len(names))
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), maxMetricsBody)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		i, wanted := want[name]
		if !ok || !wanted {
			continue
		}
		// A sample may carry a timestamp after the value.
		val, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %q: %w", name, val, err)
		}
		out[i], found[i] = v, true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	var missing []string
	for i, ok := range found {
		if !ok {
			missing = append(missing, names[i])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s", errNoSample, strings.Join(missing, ", "))
	}
	return out, nil
}

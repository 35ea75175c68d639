package scalerun

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/loadgen"
)

// Report is a whole run. Durations are in nanoseconds in JSON.
type Report struct {
	CPUs        int           `json:"cpus"`
	Concurrency int           `json:"concurrency"`
	Duration    time.Duration `json:"duration_ns"`
	Started     time.Time     `json:"started"`
	Took        time.Duration `json:"took_ns"`
	Sizes       []Figures     `json:"sizes"`
}

// Figures are one size's.
type Figures struct {
	// Size is the number of clients, API keys and revocations; users
	// are a tenth of it.
	Size int  `json:"size"`
	Load Load `json:"load"`
	// StartUp is from Start to /readyz answering 200 on the loaded
	// database: the server's own revocation snapshot included.
	StartUp        time.Duration `json:"startup_ns"`
	Token          Rate          `json:"token_distinct_clients"`
	APIKeyCached   Rate          `json:"api_key_cached"`
	APIKeyUncached Rate          `json:"api_key_uncached"`
	Snapshot       Snapshot      `json:"revocation_snapshot"`
	JWKS           Rate          `json:"jwks"`
	Introspect     Rate          `json:"introspection"`
	DatabaseBytes  int64         `json:"database_bytes"`
	Tables         []Table       `json:"tables"`
}

// Load is what loading one size took.
type Load struct {
	Clients     int           `json:"clients"`
	APIKeys     int           `json:"api_keys"`
	Revocations int           `json:"revocations"`
	Users       int           `json:"users"`
	Rows        int           `json:"rows"`
	Took        time.Duration `json:"took_ns"`
}

// Rate is a loadgen run's figures.
type Rate struct {
	PerSecond float64        `json:"ok_per_second"`
	Requests  int            `json:"requests"`
	Failed    int            `json:"failed"`
	FailedBy  map[string]int `json:"failed_by,omitempty"`
	P50       time.Duration  `json:"p50_ns"`
	P99       time.Duration  `json:"p99_ns"`
}

func rateOf(r loadgen.Result) Rate {
	out := Rate{Requests: r.Requests, Failed: r.Failed, FailedBy: r.FailedBy, P50: r.P50, P99: r.P99}
	if r.Elapsed > 0 {
		out.PerSecond = float64(r.OK) / r.Elapsed.Seconds()
	}
	return out
}

// Snapshot is a new validator's first load of the revocation list.
type Snapshot struct {
	Took      time.Duration `json:"took_ns"`
	Entries   int           `json:"entries"`
	HeapBytes int64         `json:"heap_bytes"`
}

// Table is one table's size, its indexes and TOAST included.
type Table struct {
	Name       string `json:"name"`
	Bytes      int64  `json:"bytes"`
	IndexBytes int64  `json:"index_bytes"`
}

// Failed reports whether any measured request failed.
func (r *Report) Failed() bool {
	for _, f := range r.Sizes {
		for _, x := range []Rate{f.Token, f.APIKeyCached, f.APIKeyUncached, f.JWKS, f.Introspect} {
			if x.Failed > 0 {
				return true
			}
		}
	}
	return false
}

// row is one figure of the tables: its name and how to print it of a size.
type row struct {
	name  string
	value func(f *Figures) float64
	unit  string
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

var rows = []row{
	{"load (COPY, all tables)", func(f *Figures) float64 { return f.Load.Took.Seconds() }, "s"},
	{"start-up to ready", func(f *Figures) float64 { return ms(f.StartUp) }, "ms"},
	{"token, distinct clients", func(f *Figures) float64 { return f.Token.PerSecond }, "/s"},
	{"  p50", func(f *Figures) float64 { return ms(f.Token.P50) }, "ms"},
	{"  p99", func(f *Figures) float64 { return ms(f.Token.P99) }, "ms"},
	{"API key, cached", func(f *Figures) float64 { return f.APIKeyCached.PerSecond }, "/s"},
	{"  p50", func(f *Figures) float64 { return ms(f.APIKeyCached.P50) }, "ms"},
	{"  p99", func(f *Figures) float64 { return ms(f.APIKeyCached.P99) }, "ms"},
	{"API key, first seen", func(f *Figures) float64 { return f.APIKeyUncached.PerSecond }, "/s"},
	{"  p50", func(f *Figures) float64 { return ms(f.APIKeyUncached.P50) }, "ms"},
	{"  p99", func(f *Figures) float64 { return ms(f.APIKeyUncached.P99) }, "ms"},
	{"revocation snapshot, new validator", func(f *Figures) float64 { return ms(f.Snapshot.Took) }, "ms"},
	{"  heap after GC", func(f *Figures) float64 { return float64(f.Snapshot.HeapBytes) / (1 << 20) }, "MiB"},
	{"JWKS", func(f *Figures) float64 { return f.JWKS.PerSecond }, "/s"},
	{"introspection", func(f *Figures) float64 { return f.Introspect.PerSecond }, "/s"},
	{"database size", func(f *Figures) float64 { return float64(f.DatabaseBytes) / (1 << 20) }, "MiB"},
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// String is a table per size, then one of how each figure grows.
func (r *Report) String() string {
	var b strings.Builder
	for i := range r.Sizes {
		f := &r.Sizes[i]
		fmt.Fprintf(&b, "size %d: %d clients, %d API keys, %d revocations, %d users (%d rows)\n",
			f.Size, f.Load.Clients, f.Load.APIKeys, f.Load.Revocations, f.Load.Users, f.Load.Rows)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, rw := range rows {
			fmt.Fprintf(tw, "  %s\t%s\t %s\t\n", rw.name, num(rw.value(f)), rw.unit)
		}
		for _, x := range []struct {
			name string
			r    Rate
		}{{"token", f.Token}, {"API key cached", f.APIKeyCached}, {"API key first seen", f.APIKeyUncached}, {"JWKS", f.JWKS}, {"introspection", f.Introspect}} {
			if x.r.Failed > 0 {
				fmt.Fprintf(tw, "  %s failed\t%d of %d\t %v\t\n", x.name, x.r.Failed, x.r.Requests, x.r.FailedBy)
			}
		}
		_ = tw.Flush()
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "  table\ttotal MiB\tindexes MiB\t\n")
		for _, t := range f.Tables {
			fmt.Fprintf(tw, "  %s\t%.1f\t%.1f\t\n", t.Name, float64(t.Bytes)/(1<<20), float64(t.IndexBytes)/(1<<20))
		}
		_ = tw.Flush()
		b.WriteString("\n")
	}
	if len(r.Sizes) > 1 {
		b.WriteString("growth\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "  figure\t")
		for _, f := range r.Sizes {
			fmt.Fprintf(tw, "%d\t", f.Size)
		}
		fmt.Fprint(tw, "unit\tlast/first\t\n")
		for _, rw := range rows {
			fmt.Fprintf(tw, "  %s\t", rw.name)
			for i := range r.Sizes {
				fmt.Fprintf(tw, "%s\t", num(rw.value(&r.Sizes[i])))
			}
			first, last := rw.value(&r.Sizes[0]), rw.value(&r.Sizes[len(r.Sizes)-1])
			ratio := "-"
			if first > 0 {
				ratio = fmt.Sprintf("x%.2f", last/first)
			}
			fmt.Fprintf(tw, "%s\t%s\t\n", rw.unit, ratio)
		}
		_ = tw.Flush()
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%d CPUs, %d requests in flight, %s per rate; the run took %s\n", r.CPUs, r.Concurrency, r.Duration, r.Took.Round(time.Second))
	return b.String()
}

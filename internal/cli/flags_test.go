package cli

import (
	"flag"
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	good := []struct {
		in   string
		want time.Duration
	}{
		{"90d", 90 * day},
		{"36h", 36 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"2d30m", 2*day + 30*time.Minute},
		{"10m", 10 * time.Minute},
		{"1h30m15s", time.Hour + 30*time.Minute + 15*time.Second},
		{"250ms", 250 * time.Millisecond},
		{"0", 0},
		{"0s", 0},
		{"0d", 0},
		{"-1d", -day},
		{" 7d ", 7 * day},
	}
	for _, tc := range good {
		got, err := parseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "-", "d", "9x", "1d2", "90days", "soon", "1..5d", "h1", "99999999999999999999d", "106752d"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := map[time.Duration]string{
		0:                             "0s",
		10 * time.Minute:              "10m",
		90 * time.Minute:              "1h30m",
		2 * time.Hour:                 "2h",
		90 * 24 * time.Hour:           "90d",
		36 * time.Hour:                "1d12h",
		24*time.Hour + 30*time.Second: "1d30s",
		-time.Hour:                    "-1h",
		1500 * time.Millisecond:       "1.5s",
		24*time.Hour + 61*time.Minute: "1d1h1m",
	}
	for d, want := range tests {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if d >= 0 {
			if back, err := parseDuration(formatDuration(d)); err != nil || back != d {
				t.Errorf("parseDuration(formatDuration(%v)) = %v, %v", d, back, err)
			}
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantD   string
		wantAll bool
	}{
		{[]string{"NAME", "--description", "D"}, []string{"NAME"}, "D", false},
		{[]string{"--description", "D", "NAME"}, []string{"NAME"}, "D", false},
		{[]string{"A", "--all", "B", "--description=x y"}, []string{"A", "B"}, "x y", true},
		{[]string{"--all", "--", "--description", "D"}, []string{"--description", "D"}, "", true},
		{nil, nil, "", false},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		d := fs.String("description", "", "")
		all := fs.Bool("all", false, "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.wantPos) || *d != tc.wantD || *all != tc.wantAll {
			t.Errorf("parseInterleaved(%q) = %q, %v, description %q, all %v", tc.args, pos, err, *d, *all)
		}
	}
}

func TestListFlag(t *testing.T) {
	var l listFlag
	for _, v := range []string{"a, b", "", "c,,d"} {
		if err := l.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(l.vals, []string{"a", "b", "c", "d"}) {
		t.Fatalf("listFlag = %q", l.vals)
	}
	var empty listFlag
	_ = empty.Set("")
	if empty.vals == nil || len(empty.vals) != 0 {
		t.Fatalf("--scopes '' should set the empty list, got %#v", empty.vals)
	}
}

func TestDialable(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1:9090": "127.0.0.1:9090",
		"0.0.0.0:9090":   "127.0.0.1:9090",
		":9090":          "127.0.0.1:9090",
		"[::]:9090":      "[::1]:9090",
		"gh.example:443": "gh.example:443",
		"nonsense":       "nonsense",
	}
	for in, want := range tests {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

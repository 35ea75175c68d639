package cli

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
)

// commonOptions are the flags every command has.
type commonOptions struct {
	server      string
	credentials string
	output      outputFormat
	timeout     durationFlag
	// TLS to the server: on with --tls, or implied by --ca-file or
	// --client-cert.
	tls      bool
	caFile   string
	certFile string
	keyFile  string
}

func (o *commonOptions) register(fs *flag.FlagSet) {
	o.credentials = DefaultCredentialsFile
	o.output = "text"
	o.timeout = durationFlag{d: 10 * time.Second}
	fs.StringVar(&o.server, "server", "", "gRPC `host:port` of the Gatehouse server (default: grpc_addr from the credentials file)")
	fs.StringVar(&o.credentials, "credentials", o.credentials, "admin credentials `file` written by 'gatehouse serve' (api_key, grpc_addr)")
	fs.Var(&o.output, "o", "output `format`: text or json")
	fs.Var(&o.output, "output", "same as -o `format`")
	fs.Var(positive{&o.timeout}, "timeout", "`duration` of the deadline of each call to the server")
	fs.BoolVar(&o.tls, "tls", false, "speak TLS to the server (required for an address that is not loopback)")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM `file` of the CA that signs the server's certificate (default: the system roots); implies --tls")
	fs.StringVar(&o.certFile, "client-cert", "", "client certificate `file` (PEM) for a server that asks for one, e.g. the mTLS listener; implies --tls")
	fs.StringVar(&o.keyFile, "client-key", "", "the --client-cert's private key `file` (PEM)")
}

// outputFormat is -o: text or json.
type outputFormat string

func (f *outputFormat) String() string { return string(*f) }

func (f *outputFormat) Set(v string) error {
	switch v {
	case "text", "json":
		*f = outputFormat(v)
		return nil
	}
	return errors.New("must be text or json")
}

// listFlag is a comma-separated list; repeating the flag appends. An empty
// value sets the empty list, which clears the field on update.
type listFlag struct{ vals []string }

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, ",")
}

func (l *listFlag) Set(v string) error {
	if l.vals == nil {
		l.vals = []string{}
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.vals = append(l.vals, s)
		}
	}
	return nil
}

// durationFlag is a duration in Go syntax or with a d (days) suffix.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string {
	if f == nil {
		return ""
	}
	return formatDuration(f.d)
}

func (f *durationFlag) Set(v string) error {
	d, err := parseDuration(v)
	if err != nil {
		return err
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	f.d = d
	return nil
}

// positive wraps a durationFlag to refuse zero.
type positive struct{ *durationFlag }

func (p positive) Set(v string) error {
	if err := p.durationFlag.Set(v); err != nil {
		return err
	}
	if p.d == 0 {
		return errors.New("must be positive")
	}
	return nil
}

// parseDuration accepts Go duration syntax (1h30m, 10s) plus a "d" unit
// for 24 hours: 90d, 1d12h, 1.5d.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid duration %q (examples: 30s, 10m, 36h, 90d, 1d12h)", s)
	in := strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(in, "-") || strings.HasPrefix(in, "+") {
		neg = in[0] == '-'
		in = in[1:]
	}
	if in == "" {
		return 0, bad
	}
	if in == "0" {
		return 0, nil
	}
	tooLong := fmt.Errorf("duration %q is too long", s)
	var total time.Duration
	for in != "" {
		i := 0
		for i < len(in) && (in[i] == '.' || (in[i] >= '0' && in[i] <= '9')) {
			i++
		}
		j := i
		for j < len(in) && in[j] != '.' && (in[j] < '0' || in[j] > '9') {
			j++
		}
		num, unit := in[:i], in[i:j]
		if num == "" || unit == "" {
			return 0, bad
		}
		var d time.Duration
		if unit == "d" {
			const day = 24 * time.Hour
			if n, err := strconv.ParseInt(num, 10, 64); err == nil {
				if n > math.MaxInt64/int64(day) {
					return 0, tooLong
				}
				d = time.Duration(n) * day
			} else if f, err := strconv.ParseFloat(num, 64); err == nil {
				if f*float64(day) >= math.MaxInt64 {
					return 0, tooLong
				}
				d = time.Duration(f * float64(day))
			} else {
				return 0, bad
			}
		} else {
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, bad
			}
		}
		if total > math.MaxInt64-d {
			return 0, tooLong
		}
		total += d
		in = in[j:]
	}
	d := total
	if neg {
		d = -d
	}
	return d, nil
}

// formatDuration renders d compactly: 90d, 1d12h, 10m, 1h30m.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	days := d / (24 * time.Hour)
	rest := d % (24 * time.Hour)
	out := ""
	if days > 0 {
		out = strconv.FormatInt(int64(days), 10) + "d"
	}
	if rest > 0 {
		r := rest.String()
		if strings.HasSuffix(r, "m0s") {
			r = strings.TrimSuffix(r, "0s")
		}
		if strings.HasSuffix(r, "h0m") {
			r = strings.TrimSuffix(r, "0m")
		}
		out += r
	}
	return sign + out
}

// clientTypeFlag is --type: first_party, third_party, or service (a
// first-party client made for a resource service's validator, which the
// registry stores as any first-party client).
type clientTypeFlag struct {
	v       clientsv1.ClientType
	service bool
}

func (f *clientTypeFlag) String() string {
	switch {
	case f == nil || f.v == clientsv1.ClientType_CLIENT_TYPE_UNSPECIFIED:
		return ""
	case f.service:
		return "service"
	}
	return enumName(f.v.String(), "CLIENT_TYPE_")
}

func (f *clientTypeFlag) Set(v string) error {
	if enumKey(v) == "SERVICE" {
		f.v, f.service = clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, true
		return nil
	}
	n, ok := clientsv1.ClientType_value["CLIENT_TYPE_"+enumKey(v)]
	if !ok || n == 0 {
		return errors.New("must be first_party, third_party or service")
	}
	f.v, f.service = clientsv1.ClientType(n), false
	return nil
}

// tierFlag is --rate-limit-tier: standard, high, low or internal.
type tierFlag struct{ v clientsv1.RateLimitTier }

func (f *tierFlag) String() string {
	if f == nil || f.v == clientsv1.RateLimitTier_RATE_LIMIT_TIER_UNSPECIFIED {
		return ""
	}
	return enumName(f.v.String(), "RATE_LIMIT_TIER_")
}

func (f *tierFlag) Set(v string) error {
	n, ok := clientsv1.RateLimitTier_value["RATE_LIMIT_TIER_"+enumKey(v)]
	if !ok || n == 0 {
		return errors.New("must be standard, high, low or internal")
	}
	f.v = clientsv1.RateLimitTier(n)
	return nil
}

// enumKey turns a flag value like "third-party" into "THIRD_PARTY".
func enumKey(v string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(v), "-", "_"))
}

// enumName turns "CLIENT_TYPE_THIRD_PARTY" into "third_party".
func enumName(full, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(full, prefix))
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

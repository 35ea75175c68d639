package database

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenPostgres connects a pool to the PostgreSQL database at connString (a
// postgres:// URL or a key=value string, as pgx accepts) and pings it. Errors
// name the server and database but never the password.
func OpenPostgres(ctx context.Context, connString string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx redacts on a best-effort basis; scrub whatever password we
		// can find ourselves too, since the string failed to parse.
		return nil, &redactedError{
			msg:     "database: parse PostgreSQL connection string",
			err:     err,
			secrets: passwordsIn(connString),
		}
	}
	return OpenPostgresConfig(ctx, cfg)
}

// OpenPostgresConfig is OpenPostgres for a parsed configuration, for callers
// that adjust it first (RuntimeParams, pool sizes).
func OpenPostgresConfig(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	target := PostgresTarget(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &redactedError{
			msg:     "database: connect to PostgreSQL at " + target,
			err:     err,
			secrets: []string{cfg.ConnConfig.Password},
		}
	}
	// pgxpool connects lazily; ping so that a wrong address or password
	// fails at start-up rather than at the first request.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, &redactedError{
			msg:     "database: connect to PostgreSQL at " + target,
			err:     err,
			secrets: []string{cfg.ConnConfig.Password},
		}
	}
	return pool, nil
}

// PostgresTarget describes where cfg points, as "host:port/database", for
// messages: it has no user name or password.
func PostgresTarget(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	host := c.Host
	if !strings.HasPrefix(host, "/") { // not a Unix socket directory
		host = net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
	}
	return host + "/" + c.Database
}

// redactedError keeps the wrapped error for errors.Is and errors.As but
// removes known passwords from its text.
type redactedError struct {
	msg     string
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	s := e.msg + ": " + e.err.Error()
	for _, p := range e.secrets {
		if p != "" {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}

func (e *redactedError) Unwrap() error { return e.err }

// passwordsIn finds what may be a password in a connection string that pgx
// could not parse: the userinfo password of a URL, password= and
// sslpassword= values. Over-matching only masks more of the message.
func passwordsIn(connString string) []string {
	var out []string
	if u, err := url.Parse(connString); err == nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
		for _, k := range []string{"password", "sslpassword"} {
			out = append(out, u.Query()[k]...)
		}
	}
	if _, rest, ok := strings.Cut(connString, "://"); ok {
		// The authority of a URL that may not parse: the password lies
		// between the first ':' and the last '@'.
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, p, ok := strings.Cut(rest[:at], ":"); ok {
				out = append(out, p)
				if unesc, err := url.PathUnescape(p); err == nil {
					out = append(out, unesc)
				}
			}
		}
	}
	for _, f := range strings.FieldsFunc(connString, func(r rune) bool { return r == ' ' || r == '&' || r == '?' }) {
		for _, k := range []string{"password=", "sslpassword="} {
			if v, ok := strings.CutPrefix(f, k); ok {
				out = append(out, strings.Trim(v, "'"))
			}
		}
	}
	return out
}

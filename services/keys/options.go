package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

// Defaults of the Manager's options.
const (
	// DefaultAlgorithm is the algorithm of new keys.
	DefaultAlgorithm = "ES256"
	// DefaultRSABits is the size of new RS256 and PS256 keys: 3072 bits,
	// as NIST SP 800-57 asks for keys used beyond 2030.
	DefaultRSABits = 3072
	// DefaultRotationInterval is how long a key stays active before a
	// scheduled rotation replaces it.
	DefaultRotationInterval = 30 * 24 * time.Hour
	// DefaultJWKSMaxAge is the Cache-Control max-age of the JWKS, the
	// same as pkg/authn's default refetch interval.
	DefaultJWKSMaxAge = 5 * time.Minute
	// DefaultPublishLead is how long a new key is published before it
	// signs. It must be at least the JWKS max-age; an hour also covers
	// validators that cache longer than we ask them to.
	DefaultPublishLead = time.Hour
	// DefaultRetirePeriod is how long a retired key stays published: the
	// longest access-token lifetime (60 min), plus 5 min of clock skew,
	// plus 5 min for a token service in another process to learn of the
	// rotation and stop signing with the old key.
	DefaultRetirePeriod = 70 * time.Minute
	// DefaultPollInterval is the longest the scheduler waits between two
	// looks at the store: it catches rotations by other replicas even when
	// their KeyRotated event is lost.
	DefaultPollInterval = time.Minute
)

// Publisher sends KeyRotated events on gatehouse.keys.v1 after a change
// commits. Delivery is best effort: validators also refetch the JWKS when
// their copy is older than its max-age, and other replicas poll the store.
type Publisher interface {
	PublishKeyRotated(ctx context.Context, ev *eventsv1.KeyRotated) error
}

type options struct {
	alg          string
	rsaBits      int
	rotation     time.Duration
	lead         time.Duration
	retire       time.Duration
	maxAge       time.Duration
	poll         time.Duration
	now          func() time.Time
	log          *slog.Logger
	pub          Publisher
	revoker      Revoker
	errorBackoff time.Duration
}

func defaultOptions() options {
	return options{
		alg:          DefaultAlgorithm,
		rsaBits:      DefaultRSABits,
		rotation:     DefaultRotationInterval,
		lead:         DefaultPublishLead,
		retire:       DefaultRetirePeriod,
		maxAge:       DefaultJWKSMaxAge,
		poll:         DefaultPollInterval,
		now:          time.Now,
		log:          slog.New(slog.DiscardHandler),
		errorBackoff: 10 * time.Second,
	}
}

// validate reports every problem at once.
func (o options) validate() error {
	var errs []error
	if _, err := ParseAlgorithm(o.alg); err != nil {
		errs = append(errs, fmt.Errorf("algorithm %q: %w", o.alg, err))
	}
	if o.rsaBits != 2048 && o.rsaBits != 3072 && o.rsaBits != 4096 {
		errs = append(errs, fmt.Errorf("RSA key size %d: want 2048, 3072 or 4096", o.rsaBits))
	}
	if o.maxAge < time.Second {
		errs = append(errs, errors.New("JWKS max-age must be at least 1s: Cache-Control counts whole seconds"))
	}
	if o.lead < o.maxAge {
		errs = append(errs, fmt.Errorf("publish lead %v is shorter than the JWKS max-age %v: validators would meet tokens signed by keys they do not know", o.lead, o.maxAge))
	}
	if o.rotation < 0 || (o.rotation > 0 && o.rotation <= o.lead) {
		errs = append(errs, fmt.Errorf("rotation interval %v must be longer than the publish lead %v (or 0 to turn automatic rotation off)", o.rotation, o.lead))
	}
	if o.retire <= 0 {
		errs = append(errs, errors.New("retire period must be positive"))
	}
	if o.poll <= 0 {
		errs = append(errs, errors.New("poll interval must be positive"))
	}
	if o.now == nil || o.log == nil {
		errs = append(errs, errors.New("clock and logger must not be nil"))
	}
	return errors.Join(errs...)
}

// Revoker records revocations in the revocation list (the revocation
// service, in process or through its gRPC client).
type Revoker interface {
	Revoke(ctx context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error)
}

// WithRevoker makes an emergency rotation revoke the compromised kid in
// the revocation list, so every validator refuses what it signed at once,
// cached tokens included, not only when it next fetches the JWKS.
func WithRevoker(r Revoker) Option { return func(o *options) { o.revoker = r } }

// Option configures a Manager.
type Option func(*options)

// WithAlgorithm sets the algorithm of new keys: ES256 (default), EdDSA,
// RS256 or PS256.
func WithAlgorithm(alg string) Option { return func(o *options) { o.alg = alg } }

// WithRSABits sets the size of new RSA keys: 2048, 3072 (default) or 4096.
func WithRSABits(bits int) Option { return func(o *options) { o.rsaBits = bits } }

// WithRotationInterval sets how long a key signs before a scheduled
// rotation replaces it (default 30 days); 0 turns scheduled rotation off.
func WithRotationInterval(d time.Duration) Option { return func(o *options) { o.rotation = d } }

// WithPublishLead sets how long a new key is published before it signs
// (default 1 h). It may not be shorter than the JWKS max-age.
func WithPublishLead(d time.Duration) Option { return func(o *options) { o.lead = d } }

// WithRetirePeriod sets how long a retired key stays published (default
// 70 min): at least the longest access-token lifetime plus clock skew.
func WithRetirePeriod(d time.Duration) Option { return func(o *options) { o.retire = d } }

// WithJWKSMaxAge sets the Cache-Control max-age of the JWKS (default 5
// min), rounded down to whole seconds.
func WithJWKSMaxAge(d time.Duration) Option { return func(o *options) { o.maxAge = d } }

// WithPollInterval sets the longest wait of the scheduler between two
// looks at the store (default 1 min).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithPublisher sets where KeyRotated events go (default: nowhere).
func WithPublisher(p Publisher) Option { return func(o *options) { o.pub = p } }

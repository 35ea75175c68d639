package keys

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrRevocationNotRecorded means an emergency rotation happened but the
// revocation list did not record the compromised kid.
var ErrRevocationNotRecorded = errors.New("keys: compromised kid not recorded in the revocation list")

// ErrNotStarted means no keys are loaded yet: Start has not succeeded.
var ErrNotStarted = errors.New("signing keys not loaded yet")

// ActiveKey is the key that signs new tokens.
type ActiveKey struct {
	KID string
	// Alg is the key's one algorithm; sign with nothing else.
	Alg jwa.SignatureAlgorithm
	// Key is the private JWK, with kid, alg and use set. It is shared by
	// every caller until the next rotation (so a signer prepared for it
	// can be reused) and must not be modified.
	Key jwk.Key
}

// Manager runs the lifecycle of the signing keys over a Store: it creates,
// activates, retires and removes keys on schedule, serves the JWKS and
// hands the active key to the token service.
//
// Everything a request needs (the decrypted active key, the JWKS bytes and
// its ETag) is prepared once per key change and published through an
// atomic pointer, so SigningKey and the JWKS handler neither touch the
// store nor decrypt nor encode.
type Manager struct {
	store        Store
	kek          *kek.KEK
	opt          options
	alg          jwa.SignatureAlgorithm
	lt           lifetimes
	cacheControl string

	snap atomic.Pointer[snapshot]

	ca *authority // the platform CA; nil when the store is no CAStore

	mu      sync.Mutex         // serialises install; guards private
	private map[string]jwk.Key // decrypted pending and active keys by kid

	lmu       sync.Mutex
	listeners []func()

	runMu   sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	resched chan struct{} // the next due time may have changed
	reload  chan struct{} // Notify asks for a reload
}

// snapshot is everything readers need, immutable once published.
type snapshot struct {
	version       int64
	hasActive     bool
	active        ActiveKey
	activeInfo    Key
	jwks          []byte
	etag          string
	contentLength string
	nextDue       time.Time // zero: nothing scheduled
}

// New returns a Manager over store whose private keys are sealed with k.
// It checks the options and does nothing else; Start loads the keys. When
// store also implements CAStore (the sqlstore does), the
// Manager runs the platform CA as well.
func New(store Store, k *kek.KEK, opts ...Option) (*Manager, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("nil store"))
	}
	if k == nil {
		errs = append(errs, errors.New("nil KEK"))
	}
	if err := o.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	alg, _ := ParseAlgorithm(o.alg) // validated above
	var ca *authority
	if cs, ok := store.(CAStore); ok {
		ca = &authority{store: cs, kek: k, now: func() time.Time { return o.now().UTC().Truncate(time.Microsecond) }, log: o.log}
	}
	return &Manager{
		ca:           ca,
		store:        store,
		kek:          k,
		opt:          o,
		alg:          alg,
		lt:           lifetimes{rotation: o.rotation, lead: o.lead, retire: o.retire},
		cacheControl: "public, max-age=" + strconv.FormatInt(int64(o.maxAge/time.Second), 10),
		private:      map[string]jwk.Key{},
		resched:      make(chan struct{}, 1),
		reload:       make(chan struct{}, 1),
	}, nil
}

// now is the clock truncated as the stores truncate, so that a time kept
// in memory equals the same time read back.
func (m *Manager) now() time.Time { return m.opt.now().UTC().Truncate(time.Microsecond) }

// Start makes sure a key is active (creating one at once on an empty
// store), applies any transition that is due, loads the keys and the
// platform CA (creating it if the store has none) and starts the
// scheduler. It fails if the keys or the CA do not decrypt with the KEK,
// with an error wrapping ErrWrongKEK. ctx bounds this start-up work only; the
// scheduler runs until Close.
func (m *Manager) Start(ctx context.Context) error {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.closed {
		return errors.New("keys: manager closed")
	}
	if m.started {
		return errors.New("keys: manager already started")
	}
	if err := m.Tick(ctx); err != nil {
		return fmt.Errorf("keys: start: %w", err)
	}
	// Tick loads the keys only when its view is newer than what is
	// loaded; say so explicitly if there is still nothing to sign with.
	s := m.snap.Load()
	if s == nil || !s.hasActive {
		return errors.New("keys: start: no active signing key after start-up")
	}
	// The platform CA too: created on the first start, and a KEK that
	// does not open it fails here rather than at the first issuance.
	if m.ca != nil {
		if _, err := m.ca.get(ctx); err != nil {
			return fmt.Errorf("keys: start: %w", err)
		}
	}
	m.opt.log.InfoContext(ctx, "signing keys loaded",
		"active_kid", s.active.KID, "alg", s.active.Alg.String(), "jwks_version", s.version)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.started = true
	m.wg.Add(1)
	go m.run(runCtx)
	return nil
}

// Close stops the scheduler and waits for it. It is safe to call more than
// once, and before Start.
func (m *Manager) Close() {
	m.runMu.Lock()
	m.closed = true
	cancel := m.cancel
	m.runMu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.wg.Wait()
}

// run is the scheduler: it ticks when the next transition is due, at least
// every poll interval, and reloads when Notify asks.
func (m *Manager) run(ctx context.Context) {
	defer m.wg.Done()
	failing := false
	for {
		wait := m.opt.poll
		if s := m.snap.Load(); s != nil && !s.nextDue.IsZero() {
			wait = min(wait, s.nextDue.Sub(m.now()))
		}
		if failing {
			// The store is down or the keys do not load: retry, but
			// do not spin on a transition that stays due.
			wait = max(wait, m.opt.errorBackoff)
		}
		// A floor, so that no inconsistency between the due time and
		// what Tick finds can make the loop spin.
		wait = max(wait, time.Second)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
			err := m.Tick(ctx)
			failing = err != nil
			if err != nil && ctx.Err() == nil {
				m.opt.log.ErrorContext(ctx, "signing key tick failed", "error", err)
			}
		case <-m.reload:
			timer.Stop()
			if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
				m.opt.log.ErrorContext(ctx, "signing key reload failed", "error", err)
			}
		case <-m.resched:
			timer.Stop()
		}
	}
}

// Tick applies every transition due at the clock's now (activation,
// retirement, removal, scheduled rotation, and a first key on an empty
// store) and loads the result. Replicas may tick at the same moment: the
// work is decided under the store's lock, so it is done once.
func (m *Manager) Tick(ctx context.Context) error {
	o, err := m.apply(ctx, m.alg, planTick)
	if err != nil {
		return err
	}
	return o.refreshErr
}

// Rotate starts a rotation: a new key with algorithm alg (empty: the
// configured one) is published now and becomes the active key after the
// publish lead, at the first tick from then on. A key that was already
// pending is superseded and removed. It returns the new key.
func (m *Manager) Rotate(ctx context.Context, alg string) (Key, error) {
	a, err := m.algorithm(alg)
	if err != nil {
		return Key{}, err
	}
	o, err := m.apply(ctx, a, planRotate)
	if err != nil {
		return Key{}, fmt.Errorf("keys: rotate: %w", err)
	}
	return o.inserted(), nil
}

// EmergencyRotate handles a compromised key: the key with compromisedKID
// leaves the JWKS at once (state removed, private key deleted) and a new
// key with algorithm alg (empty: the configured one) becomes active at
// once. It returns the new key; ErrNotFound for an unknown kid and
// ErrKeyRemoved for a kid already removed.
//
// Tokens already signed by the compromised key fail validation once
// validators drop its kid with the JWKS (the KeyRotated event makes them
// refetch at once). Revoking them in the revocation service is a later
// issue.
func (m *Manager) EmergencyRotate(ctx context.Context, compromisedKID, alg string) (Key, error) {
	a, err := m.algorithm(alg)
	if err != nil {
		return Key{}, err
	}
	o, err := m.apply(ctx, a, planEmergency(compromisedKID))
	if err != nil {
		return Key{}, fmt.Errorf("keys: emergency rotation: %w", err)
	}
	m.opt.log.WarnContext(ctx, "emergency key rotation", "compromised_kid", compromisedKID, "new_kid", o.inserted().KID)
	if m.opt.revoker != nil {
		// After the rotation, so only a kid that existed is recorded. The
		// entry lives as long as a token the key signed could: the retire
		// period covers the longest access-token lifetime and skew.
		_, err := m.opt.revoker.Revoke(ctx, &revocationv1.RevokeRequest{
			Kind:       revocationv1.Kind_KIND_SIGNING_KEY,
			Id:         compromisedKID,
			Reason:     "emergency key rotation",
			ExpireTime: timestamppb.New(m.opt.now().Add(m.opt.retire)),
		})
		if err != nil {
			return o.inserted(), fmt.Errorf("emergency rotation done (new kid %s), revoking %s failed: %w: %w", o.inserted().KID, compromisedKID, ErrRevocationNotRecorded, err)
		}
	}
	return o.inserted(), nil
}

// Retire removes the retired key kid from the JWKS now, before its retire
// period ends (planRetire); force allows it while tokens it signed may be
// unexpired. It returns the removed key.
func (m *Manager) Retire(ctx context.Context, kid string, force bool) (Key, error) {
	o, err := m.apply(ctx, m.alg, planRetire(kid, force))
	if err != nil {
		return Key{}, fmt.Errorf("keys: retire: %w", err)
	}
	k := o.applied.Update[0]
	k.PrivateKey = nil
	k.Version = o.version
	m.opt.log.InfoContext(ctx, "signing key retired early", "kid", kid, "forced", force)
	return k, nil
}

func (m *Manager) algorithm(alg string) (jwa.SignatureAlgorithm, error) {
	if alg == "" {
		return m.alg, nil
	}
	a, err := ParseAlgorithm(alg)
	if err != nil {
		return "", fmt.Errorf("keys: %w", err)
	}
	return a, nil
}

// Reload re-reads the keys from the store, for a change made by another
// replica (call it on a KeyRotated event). Listeners run if anything
// changed.
func (m *Manager) Reload(ctx context.Context) error {
	if err := m.load(ctx); err != nil {
		return fmt.Errorf("keys: reload: %w", err)
	}
	return nil
}

func (m *Manager) load(ctx context.Context) error {
	keys, err := m.store.List(ctx)
	if err != nil {
		return err
	}
	return m.refresh(keys)
}

// Notify asks the scheduler to reload from the store soon. It never
// blocks, so a NATS message handler may call it; requests made while one
// is pending are merged.
func (m *Manager) Notify() {
	select {
	case m.reload <- struct{}{}:
	default:
	}
}

// OnChange registers fn to run after every change of the loaded keys (a
// new active key, a key published or dropped), in this process or loaded
// from another. fn runs on the goroutine that loaded the change and must
// not block for long.
func (m *Manager) OnChange(fn func()) {
	m.lmu.Lock()
	defer m.lmu.Unlock()
	m.listeners = append(m.listeners, fn)
}

// SigningKey returns the active key from memory: no store access, no
// decryption. ErrNotStarted before Start has succeeded.
func (m *Manager) SigningKey(_ context.Context) (ActiveKey, error) {
	s := m.snap.Load()
	if s == nil || !s.hasActive {
		return ActiveKey{}, ErrNotStarted
	}
	return s.active, nil
}

// JWKS returns the JWKS document (public keys of the pending, active and
// retired keys), its strong ETag (quoted) and its version, which increases
// at every key change. The body is shared: do not modify it. Nil before
// Start.
func (m *Manager) JWKS() (body []byte, etag string, version int64) {
	s := m.snap.Load()
	if s == nil {
		return nil, "", 0
	}
	return s.jwks, s.etag, s.version
}

// Keys returns every key from the store, newest first, without private
// keys.
func (m *Manager) Keys(ctx context.Context) ([]Key, error) {
	keys, err := m.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	for i := range keys {
		keys[i].PrivateKey = nil
	}
	return keys, nil
}

// activeInfo describes the active key of the loaded snapshot.
func (m *Manager) activeInfo() (Key, ActiveKey, error) {
	s := m.snap.Load()
	if s == nil || !s.hasActive {
		return Key{}, ActiveKey{}, ErrNotStarted
	}
	return s.activeInfo, s.active, nil
}

type planFunc func(keys []Key, now time.Time, lt lifetimes, newKey newKeyFunc) (Changes, error)

// outcome is what apply did. refreshErr is an error after the commit: the
// change is made, but loading it failed.
type outcome struct {
	applied    Changes
	version    int64
	refreshErr error
}

func (o outcome) inserted() Key {
	if len(o.applied.Insert) == 0 {
		return Key{}
	}
	k := o.applied.Insert[0]
	k.PrivateKey = nil
	k.Version = o.version
	return k
}

// apply runs plan: first on an unlocked read, which is all it takes when
// nothing is due (the common case, every poll interval on every replica);
// otherwise again under the store's lock, with a key generated beforehand
// if the first run wanted one, so that slow RSA generation does not hold
// the lock.
func (m *Manager) apply(ctx context.Context, alg jwa.SignatureAlgorithm, plan planFunc) (outcome, error) {
	now := m.now()
	keys, err := m.store.List(ctx)
	if err != nil {
		return outcome{}, err
	}
	wantKey := false
	dry, err := plan(keys, now, m.lt, func() (Key, error) {
		wantKey = true
		return Key{CreatedAt: now}, nil
	})
	if err != nil {
		return outcome{}, err
	}
	if dry.Empty() {
		return outcome{refreshErr: m.refresh(keys)}, nil
	}

	var fresh *generated
	newKey := func() (Key, error) {
		if fresh == nil {
			g, err := generate(alg, m.opt.rsaBits, m.kek, now)
			if err != nil {
				return Key{}, err
			}
			fresh = g
		}
		return fresh.key, nil
	}
	if wantKey {
		if _, err := newKey(); err != nil {
			return outcome{}, err
		}
	}
	var applied Changes
	version, err := m.store.Update(ctx, func(cur []Key) (Changes, error) {
		ch, err := plan(cur, now, m.lt, newKey)
		applied = ch
		return ch, err
	})
	if err != nil {
		return outcome{}, err
	}
	if applied.Empty() {
		// Another replica did it between our read and our lock.
		return outcome{version: version, refreshErr: m.load(ctx)}, nil
	}
	if fresh != nil && len(applied.Insert) > 0 {
		m.mu.Lock()
		m.private[fresh.key.KID] = fresh.priv
		m.mu.Unlock()
	}
	for _, k := range applied.all() {
		m.opt.log.InfoContext(ctx, "signing key changed", "kid", k.KID, "alg", k.Alg, "state", string(k.State), "jwks_version", version)
	}
	o := outcome{applied: applied, version: version, refreshErr: m.load(ctx)}
	if o.refreshErr != nil {
		m.opt.log.ErrorContext(ctx, "signing key change committed but not loaded", "error", o.refreshErr)
	}
	m.publish(ctx, applied, version)
	return o, nil
}

// publish sends one KeyRotated per changed key, after the commit. A failure
// is logged only: validators also refetch on max-age and replicas poll.
func (m *Manager) publish(ctx context.Context, ch Changes, version int64) {
	if m.opt.pub == nil {
		return
	}
	// The change is committed: tell the others even if the caller has
	// gone away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, k := range ch.all() {
		ev := &eventsv1.KeyRotated{Kid: k.KID, State: eventState(k.State), JwksVersion: version}
		if err := m.opt.pub.PublishKeyRotated(ctx, ev); err != nil {
			m.opt.log.WarnContext(ctx, "publish KeyRotated failed", "kid", k.KID, "state", ev.GetState(), "error", err)
		}
	}
}

// eventState is KeyState's name without its prefix, as events.proto asks.
func eventState(s State) string {
	return strings.TrimPrefix(stateToProto(s).String(), "KEY_STATE_")
}

func stateToProto(s State) keysv1.KeyState {
	switch s {
	case StatePending:
		return keysv1.KeyState_KEY_STATE_PENDING
	case StateActive:
		return keysv1.KeyState_KEY_STATE_ACTIVE
	case StateRetired:
		return keysv1.KeyState_KEY_STATE_RETIRED
	case StateRemoved:
		return keysv1.KeyState_KEY_STATE_REMOVED
	}
	return keysv1.KeyState_KEY_STATE_UNSPECIFIED
}

// refresh loads keys if they are newer than what is loaded, then tells the
// listeners and the scheduler.
func (m *Manager) refresh(keys []Key) error {
	changed, err := m.install(keys)
	if err != nil {
		return err
	}
	if !changed {
		return nil
	}
	select {
	case m.resched <- struct{}{}:
	default:
	}
	m.lmu.Lock()
	ls := append([]func(){}, m.listeners...)
	m.lmu.Unlock()
	for _, fn := range ls {
		fn()
	}
	return nil
}

// install builds and publishes a snapshot of keys, unless what is loaded is
// as new or newer (a slow reader must not bring back an older state). The
// active and pending keys are decrypted here, each once in the life of the
// process: pending ones too, so that a KEK mismatch shows before the key
// is due to sign rather than at that moment.
func (m *Manager) install(keys []Key) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var version int64
	for _, k := range keys {
		version = max(version, k.Version)
	}
	if cur := m.snap.Load(); cur != nil && version <= cur.version {
		return false, nil
	}

	s := &snapshot{version: version}
	var active *Key
	var pend, ret []Key
	live := map[string]bool{}
	for i, k := range keys {
		switch k.State {
		case StateActive:
			active = &keys[i]
		case StatePending:
			pend = append(pend, k)
		case StateRetired:
			ret = append(ret, k)
		}
		if k.State == StateActive || k.State == StatePending {
			live[k.KID] = true
			if _, ok := m.private[k.KID]; !ok {
				priv, err := openKey(k, m.kek)
				if err != nil {
					return false, err
				}
				m.private[k.KID] = priv
			}
		}
	}
	for kid := range m.private {
		if !live[kid] {
			delete(m.private, kid)
		}
	}

	// The active key first: a validator that wrongly takes the first key
	// still gets the right one.
	var published []Key
	if active != nil {
		published = append(published, *active)
		s.hasActive = true
		s.activeInfo = *active
		s.activeInfo.PrivateKey = nil
		alg, err := ParseAlgorithm(active.Alg)
		if err != nil {
			return false, fmt.Errorf("key %s: %w", active.KID, err)
		}
		s.active = ActiveKey{KID: active.KID, Alg: alg, Key: m.private[active.KID]}
	}
	published = append(append(published, pend...), ret...)
	body, err := buildJWKS(published)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(body)
	s.jwks = body
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	s.contentLength = strconv.Itoa(len(body))
	s.nextDue = nextDue(active, pend, ret, m.lt)
	m.snap.Store(s)
	return true, nil
}

// buildJWKS encodes the public keys as a JWK Set (RFC 7517 §5).
func buildJWKS(keys []Key) ([]byte, error) {
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := publicKey(k)
		if err != nil {
			return nil, err
		}
		if err := set.AddKey(pub); err != nil {
			return nil, fmt.Errorf("key %s: %w", k.KID, err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	return body, nil
}

// nextDue is the time of the next transition planTick would make.
func nextDue(active *Key, pend, ret []Key, lt lifetimes) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, k := range pend {
		consider(k.ActivateAt)
	}
	for _, k := range ret {
		consider(k.RemoveAt)
	}
	if active != nil && len(pend) == 0 && lt.rotation > 0 {
		consider(active.ActivateAt.Add(lt.rotation - lt.lead))
	}
	return next
}

var _ slog.LogValuer = ActiveKey{}

// LogValue keeps the private key out of logs.
func (a ActiveKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", a.KID), slog.String("alg", a.Alg.String()))
}

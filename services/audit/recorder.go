package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	pkgaudit "github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AdminScope is the scope whose methods are audited.
const AdminScope = "gatehouse:admin"

// mutatingPrefixes are the method-name prefixes of the calls that change
// something. The trail decides by name, not by a list of methods, so that a
// new admin RPC named by the API's conventions is audited without anyone
// remembering to add it; reads (Get*, List*, Check*, Head*...) are not
// recorded.
var mutatingPrefixes = []string{
	"Create", "Update", "Delete", "Rotate", "Revoke", "Issue", "Set", "Add", "Remove",
	"Disable", "Enable", "Import", "Retire", "Reset", "Unlock", "Lock", "Purge",
}

// Mutates reports whether the method (a gRPC full method or its name)
// changes something, by its name's prefix.
func Mutates(fullMethod string) bool {
	name := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	for _, p := range mutatingPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// RequiresAdmin reports whether rule names gatehouse:admin, as its scopes
// or as an alternative: a method admins may call is an admin method, even
// when services call it too with another scope.
func RequiresAdmin(rule *authv1.AuthRule) bool {
	return slices.ContainsFunc(authn.ScopeSets(rule), func(scopes []string) bool {
		return slices.Contains(scopes, AdminScope)
	})
}

// Rules is what the recorder needs of the auth rules.
type Rules interface {
	Lookup(fullMethod string) (*authv1.AuthRule, bool)
}

// KeyNames returns an API key's name (its description), "" when unknown.
type KeyNames func(ctx context.Context, clientID, keyID string) string

// Recorder writes the trail: its two interceptors go on either side of the
// validator's (Outer before, Inner after), so that it sees both the
// validator's refusals and the handler's outcome.
type Recorder struct {
	store    Store
	rules    Rules
	log      *slog.Logger
	nc       *nats.Conn
	service  string
	keyNames KeyNames
	remote   func(context.Context) string
	now      func() time.Time
}

// Option configures a Recorder.
type Option func(*Recorder)

// WithNATS publishes every record on gatehouse.audit.v1.
func WithNATS(nc *nats.Conn) Option { return func(r *Recorder) { r.nc = nc } }

// WithKeyNames looks up the name of the API key an admin called with.
func WithKeyNames(f KeyNames) Option { return func(r *Recorder) { r.keyNames = f } }

// WithRemote says where a call came from (the validator's view of it,
// through trusted forwarders); by default the peer's address.
func WithRemote(f func(context.Context) string) Option { return func(r *Recorder) { r.remote = f } }

// WithClock sets the clock, for tests.
func WithClock(now func() time.Time) Option { return func(r *Recorder) { r.now = now } }

// NewRecorder returns a recorder writing to store (nil: log and NATS only)
// for the admin methods of rules.
func NewRecorder(store Store, rules Rules, log *slog.Logger, service string, opts ...Option) *Recorder {
	r := &Recorder{store: store, rules: rules, log: log, service: service, now: time.Now, remote: peerAddr}
	for _, o := range opts {
		o(r)
	}
	return r
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// Audited reports whether calls of fullMethod are recorded.
func (r *Recorder) Audited(fullMethod string) bool {
	rule, ok := r.rules.Lookup(fullMethod)
	return ok && RequiresAdmin(rule) && Mutates(fullMethod)
}

// call is one audited call, shared by the two interceptors through the
// context.
type call struct {
	mu sync.Mutex
	// reached is set by Inner: the validator let the call through, and
	// Inner records it.
	reached bool
	// failure is what the validator recorded of its refusal.
	failure *pkgaudit.Failure
}

type callKey struct{}

// TapFailures wraps the validator's recorder of refusals, so that a refused
// audited call is recorded with what the validator learnt of the caller
// (its client, its reason).
func TapFailures(next pkgaudit.Recorder) pkgaudit.Recorder {
	return failureTap{next}
}

type failureTap struct{ next pkgaudit.Recorder }

func (t failureTap) RecordFailure(ctx context.Context, f pkgaudit.Failure) {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		c.mu.Lock()
		c.failure = &f
		c.mu.Unlock()
	}
	t.next.RecordFailure(ctx, f)
}

// Outer goes before the validator: it records the audited calls the
// validator (or anything before Inner) refused.
func (r *Recorder) Outer() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !r.Audited(info.FullMethod) {
			return h(ctx, req)
		}
		c := &call{}
		resp, err := h(context.WithValue(ctx, callKey{}, c), req)
		c.mu.Lock()
		reached, failure := c.reached, c.failure
		c.mu.Unlock()
		if reached || err == nil {
			return resp, err
		}
		rec := r.base(ctx, info.FullMethod, nil)
		rec.Targets = Targets(req, nil)
		st := status.Convert(err)
		rec.Outcome, rec.Reason = st.Code().String(), st.Message()
		if failure != nil {
			rec.ActorClientID, rec.Reason = failure.ClientID, string(failure.Reason)
			if failure.Remote != "" {
				rec.Remote = failure.Remote
			}
		}
		// The call is refused whatever happens here: a record that
		// cannot be stored is logged loudly and published.
		if r.store != nil {
			stored, serr := r.store.Append(context.WithoutCancel(ctx), rec)
			if serr != nil {
				r.log.ErrorContext(ctx, "admin audit: cannot store the record of a refused call", "action", rec.Action, "error", serr)
			} else {
				rec = stored
			}
		}
		r.emit(ctx, rec)
		return resp, err
	}
}

// errUnaudited refuses an admin mutation whose record cannot be stored.
var errUnaudited = status.Error(codes.Unavailable, "admin audit trail unavailable: change refused")

// Inner goes after the validator: the caller is known. It stores a pending
// record before the handler runs and refuses the call if it cannot (fail
// closed: no admin change goes unrecorded), then settles the outcome; if
// that write fails the record stays "pending" (the change may have
// happened) and the failure is logged at error level.
func (r *Recorder) Inner() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		c, ok := ctx.Value(callKey{}).(*call)
		if !ok {
			return h(ctx, req)
		}
		c.mu.Lock()
		c.reached = true
		c.mu.Unlock()
		p, _ := authn.FromContext(ctx)
		rec := r.base(ctx, info.FullMethod, p)
		rec.Targets = Targets(req, nil)
		rec.Outcome = OutcomePending
		if r.store != nil {
			stored, serr := r.store.Append(ctx, rec)
			if serr != nil {
				r.log.ErrorContext(ctx, "admin audit: cannot store the record, refusing the change", "action", rec.Action, "error", serr)
				rec.Outcome, rec.Reason = codes.Unavailable.String(), "audit trail unavailable"
				r.emit(ctx, rec)
				return nil, errUnaudited
			}
			rec = stored
		}
		defer func() {
			if p := recover(); p != nil {
				r.settle(ctx, rec, nil, status.Error(codes.Internal, "internal error"))
				panic(p)
			}
			r.settle(ctx, rec, resp, err)
		}()
		return h(ctx, req)
	}
}

func (r *Recorder) settle(ctx context.Context, rec Record, resp any, err error) {
	pending := rec.Targets
	rec.Targets = Targets(nil, resp)
	added := without(rec.Targets, pending)
	rec.Targets = append(pending, added...)
	rec.Outcome, rec.Reason = OutcomeOK, ""
	if err != nil {
		st := status.Convert(err)
		rec.Outcome, rec.Reason = st.Code().String(), st.Message()
	}
	if r.store != nil {
		// The change is done or refused: its record is written even if
		// the caller went away.
		if ferr := r.store.Finish(context.WithoutCancel(ctx), rec.Seq, rec.Outcome, rec.Reason, added); ferr != nil {
			r.log.ErrorContext(ctx, "admin audit: cannot store the outcome; the record stays pending",
				"seq", rec.Seq, "action", rec.Action, "outcome", rec.Outcome, "error", ferr)
		}
	}
	r.emit(ctx, rec)
}

func without(a, b []string) []string {
	var out []string
	for _, s := range a {
		found := false
		for _, t := range b {
			if s == t {
				found = true
				break
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}

func (r *Recorder) base(ctx context.Context, method string, p *authn.Principal) Record {
	rec := Record{At: r.now().UTC(), Action: method, Remote: r.remote(ctx), Service: r.service}
	// The id the server's first interceptor gave the call (the caller's
	// when well formed); the raw metadata only where no interceptor ran,
	// and then only a well-formed one.
	rec.RequestID = requestid.FromContext(ctx)
	if ids := metadata.ValueFromIncomingContext(ctx, requestid.Metadata); rec.RequestID == "" && len(ids) > 0 && requestid.Valid(ids[0]) {
		rec.RequestID = ids[0]
	}
	if p != nil {
		rec.ActorKind = KindName(p.Kind)
		rec.ActorClientID, rec.ActorKeyID, rec.ActorCertSerial = p.ClientID, p.KeyID, p.CertSerial
		if p.KeyID != "" && r.keyNames != nil {
			rec.ActorKeyName = r.keyNames(ctx, p.ClientID, p.KeyID)
		}
	}
	return rec
}

// KindName is a credential kind's name without its prefix ("api_key").
func KindName(k authv1.CredentialKind) string {
	if k == authv1.CredentialKind_CREDENTIAL_KIND_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "CREDENTIAL_KIND_"))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// emit logs the record and publishes it.
func (r *Recorder) emit(ctx context.Context, rec Record) {
	level := slog.LevelInfo
	if rec.Outcome != OutcomeOK {
		level = slog.LevelWarn
	}
	r.log.LogAttrs(ctx, level, "admin action",
		slog.String("event", "admin_action"),
		slog.Int64("seq", rec.Seq),
		slog.String("action", rec.Action),
		slog.String("actor_kind", rec.ActorKind),
		slog.String("actor_client_id", rec.ActorClientID),
		slog.String("actor_key_id", rec.ActorKeyID),
		slog.String("actor_key_name", rec.ActorKeyName),
		slog.String("actor_cert_serial", rec.ActorCertSerial),
		slog.Any("targets", rec.Targets),
		slog.String("outcome", rec.Outcome),
		slog.String("reason", rec.Reason),
		slog.String("remote", rec.Remote),
		slog.String("request_id", rec.RequestID))
	if r.nc == nil {
		return
	}
	if err := publish(r.nc, ToEvent(rec)); err != nil {
		r.log.ErrorContext(ctx, "admin audit: publish", "error", err)
	}
}

// EventHeader is the NATS header naming the message type: AuthFailure
// events share the subject and carry none.
const EventHeader = "Gatehouse-Event"

func publish(nc *nats.Conn, ev *eventsv1.AdminAction) error {
	b, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("marshal AdminAction: %w", err)
	}
	msg := nats.NewMsg(pkgaudit.Subject)
	msg.Data = b
	msg.Header.Set(EventHeader, string(ev.ProtoReflect().Descriptor().FullName()))
	// Core publish only appends to the connection's buffer: it does not
	// wait for the server.
	if err := nc.PublishMsg(msg); err != nil {
		return errors.Join(fmt.Errorf("publish %s", pkgaudit.Subject), err)
	}
	return nil
}

// ToEvent is rec as the event and API message.
func ToEvent(rec Record) *eventsv1.AdminAction {
	return &eventsv1.AdminAction{
		Seq:             rec.Seq,
		At:              timestamppb.New(rec.At),
		ActorKind:       rec.ActorKind,
		ActorClientId:   rec.ActorClientID,
		ActorKeyId:      rec.ActorKeyID,
		ActorKeyName:    rec.ActorKeyName,
		ActorCertSerial: rec.ActorCertSerial,
		Action:          rec.Action,
		Targets:         rec.Targets,
		Outcome:         rec.Outcome,
		Reason:          rec.Reason,
		Remote:          rec.Remote,
		RequestId:       rec.RequestID,
		Service:         rec.Service,
	}
}

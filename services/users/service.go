package users

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/pagetoken"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	defaultPageSize = 100
	maxPageSize     = 500
	// revocationTTL is how long the revocation of a disabled user is kept:
	// the longest refresh-token lifetime, after which every token issued
	// before the revocation has expired anyway.
	revocationTTL = 30 * 24 * time.Hour
	// idBytes random bytes make a user id: 128 bits, 26 base32 characters.
	idBytes = 16
)

// ErrInvalidCredentials is what Authenticate returns for an unknown email,
// a wrong password and a disabled user alike.
var ErrInvalidCredentials = errors.New("invalid email or password")

// Revoker records revocations in the revocation list, the one path by which
// every validator learns of them (satisfied by the revocation service, in
// process or through its gRPC client).
type Revoker interface {
	Revoke(ctx context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error)
}

// Service is the user directory: it implements the gRPC UserService over a
// Store, and Authenticate for the login page.
type Service struct {
	usersv1.UnimplementedUserServiceServer

	store   Store
	revoker Revoker
	log     *slog.Logger
	now     func() time.Time
	params  Params
	random  func([]byte) error
}

var _ usersv1.UserServiceServer = (*Service)(nil)

// Option configures a Service.
type Option func(*Service)

// WithRevoker records a KIND_SUBJECT revocation of a user when an update
// disables the user, so that validators refuse the tokens already issued.
// Without it disabling a user only stops new sign-ins.
func WithRevoker(rv Revoker) Option { return func(s *Service) { s.revoker = rv } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithParams sets the argon2id parameters of new hashes (DefaultParams
// otherwise). Hashes with other parameters are replaced at the next
// successful Authenticate. Tests use it for cheap parameters.
func WithParams(p Params) Option { return func(s *Service) { s.params = p } }

// New returns a Service over store.
func New(store Store, opts ...Option) *Service {
	s := &Service{
		store:  guardedStore{store},
		log:    slog.New(slog.DiscardHandler),
		now:    time.Now,
		params: DefaultParams,
		random: func(b []byte) error { _, err := rand.Read(b); return err },
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// CreateUser implements UserService.
func (s *Service) CreateUser(ctx context.Context, req *usersv1.CreateUserRequest) (*usersv1.CreateUserResponse, error) {
	email, err := NormalizeEmail("email", req.GetEmail())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	if err := ValidatePassword("password", req.GetPassword()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	// Every field is checked before the password is hashed.
	u := User{Email: email, EmailVerified: req.GetEmailVerified()}
	for _, p := range profileTexts {
		v, err := p.normalize(p.name, p.fromCreate(req))
		if err != nil {
			return nil, s.toStatus(ctx, err)
		}
		p.set(&u, v)
	}
	hash, err := s.params.Hash(req.GetPassword())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	id, err := s.newID()
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	now := s.clock()
	u.ID, u.PasswordHash, u.CreatedAt, u.UpdatedAt = id, hash, now, now
	if err := s.store.Create(ctx, u); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	s.log.InfoContext(ctx, "user created", "user_id", u.ID)
	return &usersv1.CreateUserResponse{User: userToProto(u)}, nil
}

// GetUser implements UserService.
func (s *Service) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.GetUserResponse, error) {
	if req.GetUserId() == "" {
		return nil, s.toStatus(ctx, fieldErr("user_id", "required"))
	}
	u, err := s.store.Get(ctx, req.GetUserId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &usersv1.GetUserResponse{User: userToProto(u)}, nil
}

// ListUsers implements UserService.
func (s *Service) ListUsers(ctx context.Context, req *usersv1.ListUsersRequest) (*usersv1.ListUsersResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size < 0 || size > maxPageSize:
		return nil, s.toStatus(ctx, fieldErr("page_size", "must be between 1 and %d", maxPageSize))
	}
	cursor, err := decodeCursor(req.GetPageToken())
	if err != nil {
		return nil, s.toStatus(ctx, fieldErr("page_token", "invalid"))
	}
	// One extra row tells whether another page exists.
	list, err := s.store.List(ctx, cursor, size+1)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &usersv1.ListUsersResponse{}
	if len(list) > size {
		list = list[:size]
		last := list[len(list)-1]
		resp.NextPageToken = encodeCursor(Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	for _, u := range list {
		resp.Users = append(resp.Users, userToProto(u))
	}
	return resp, nil
}

// updatable lists the field-mask paths UpdateUser accepts.
var updatable = []string{
	"disabled", "email",
	"name", "given_name", "family_name", "preferred_username", "locale", "email_verified",
}

// UpdateUser implements UserService. An update that sets disabled to true
// records a KIND_SUBJECT revocation of the user (WithRevoker); if that
// fails the call fails with Unavailable, the user stays disabled, and
// retrying records it. An update that changes the email and does not name
// email_verified clears email_verified: the admin vouched for the old
// address, not the new one.
func (s *Service) UpdateUser(ctx context.Context, req *usersv1.UpdateUserRequest) (*usersv1.UpdateUserResponse, error) {
	in := req.GetUser()
	if in.GetUserId() == "" {
		return nil, s.toStatus(ctx, fieldErr("user.user_id", "required"))
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, s.toStatus(ctx, fieldErr("update_mask", "name at least one field to change"))
	}
	var email string
	// texts are the profile's text claims to set, checked: the User's
	// setters applied to their normalized values.
	var texts []func(*User)
	for _, p := range paths {
		if !slices.Contains(updatable, p) {
			return nil, s.toStatus(ctx, fieldErr("update_mask", "%q cannot be changed (allowed: %s)", p, strings.Join(updatable, ", ")))
		}
		if p == "email" {
			var err error
			if email, err = NormalizeEmail("user.email", in.GetEmail()); err != nil {
				return nil, s.toStatus(ctx, err)
			}
		}
		if pt, ok := lookupProfileText(p); ok {
			v, err := pt.normalize("user."+pt.name, pt.fromUser(in))
			if err != nil {
				return nil, s.toStatus(ctx, err)
			}
			texts = append(texts, func(u *User) { pt.set(u, v) })
		}
	}
	verifiedInMask := slices.Contains(paths, "email_verified")
	now := s.clock()
	updated, err := s.store.Update(ctx, in.GetUserId(), func(u *User) error {
		for _, p := range paths {
			switch p {
			case "disabled":
				u.Disabled = in.GetDisabled()
			case "email":
				if u.Email != email && !verifiedInMask {
					u.EmailVerified = false
				}
				u.Email = email
			case "email_verified":
				u.EmailVerified = in.GetEmailVerified()
			}
		}
		for _, set := range texts {
			set(u)
		}
		u.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	s.log.InfoContext(ctx, "user updated", "user_id", updated.ID, "fields", strings.Join(paths, ","))
	if updated.Disabled && slices.Contains(paths, "disabled") {
		// Recorded on every update that sets disabled, not only on the
		// transition, so a retry after a failed revocation records it.
		if err := s.revokeSubject(ctx, updated.ID, "user disabled"); err != nil {
			return nil, s.toStatus(ctx, err)
		}
	}
	return &usersv1.UpdateUserResponse{User: userToProto(updated)}, nil
}

// SetPassword implements UserService.
func (s *Service) SetPassword(ctx context.Context, req *usersv1.SetPasswordRequest) (*usersv1.SetPasswordResponse, error) {
	if req.GetUserId() == "" {
		return nil, s.toStatus(ctx, fieldErr("user_id", "required"))
	}
	if err := ValidatePassword("password", req.GetPassword()); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	// Hashed before the transaction: argon2 takes long enough that the
	// row (or SQLite's write lock) should not wait for it.
	hash, err := s.params.Hash(req.GetPassword())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	now := s.clock()
	updated, err := s.store.Update(ctx, req.GetUserId(), func(u *User) error {
		u.PasswordHash, u.UpdatedAt = hash, now
		return nil
	})
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	s.log.InfoContext(ctx, "user password set", "user_id", updated.ID)
	return &usersv1.SetPasswordResponse{User: userToProto(updated)}, nil
}

// Lookup returns the user with the id as stored, without its
// PasswordHash: the profile claims and email of an ID token or a UserInfo
// response, read in process by the token service. A disabled user is
// returned too, with Disabled set, for the caller to refuse. An id no user
// has (the empty one included) is an error wrapping ErrNotFound; other
// errors are the store's, wrapped, for the caller to answer as a server
// error.
func (s *Service) Lookup(ctx context.Context, id string) (User, error) {
	if id == "" {
		return User{}, fmt.Errorf("users: lookup: empty user id: %w", ErrNotFound)
	}
	u, err := s.store.Get(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("users: lookup: %w", err)
	}
	u.PasswordHash = ""
	return u, nil
}

// Authenticate checks an email and password for the login page and returns
// the user, without its PasswordHash. An unknown or malformed email, a
// wrong password and a disabled user all return ErrInvalidCredentials, and
// all cost one argon2id verification, so neither the answer nor its timing
// tells whether an account exists. Other errors (the store failing, a
// corrupt stored hash) are returned wrapped, for the caller to answer as a
// server error. A password longer than MaxPasswordLen, which no account
// can have, is refused without hashing. A successful sign-in with a hash
// made with other parameters than the service's stores a new hash.
func (s *Service) Authenticate(ctx context.Context, email, password string) (User, error) {
	if len(password) > MaxPasswordLen {
		return User{}, ErrInvalidCredentials
	}
	norm, err := NormalizeEmail("email", email)
	var u User
	if err == nil {
		u, err = s.store.GetByEmail(ctx, norm)
	}
	var fe *FieldError
	if errors.As(err, &fe) || errors.Is(err, ErrNotFound) {
		s.verifyDummy(password)
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("users: authenticate: %w", err)
	}
	ok, rehash, err := s.params.Verify(u.PasswordHash, password)
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash does not parse", "user_id", u.ID, "error", err)
		return User{}, fmt.Errorf("users: authenticate user %s: %w", u.ID, err)
	}
	if !ok || u.Disabled {
		return User{}, ErrInvalidCredentials
	}
	if rehash {
		s.rehash(ctx, u, password)
	}
	u.PasswordHash = ""
	return u, nil
}

// verifyDummy costs what verifying a password of a real account does:
// argon2id with the service's parameters. The tag is all zeros, which no
// password hashes to in practice.
func (s *Service) verifyDummy(password string) {
	p := s.params
	if p.check() != nil {
		p = DefaultParams
	}
	dummy := encode(p, make([]byte, p.SaltLength), make([]byte, p.KeyLength))
	_, _, _ = p.Verify(dummy, password)
}

// rehash replaces u's hash by one made with the service's parameters,
// unless the hash changed since it was verified (a SetPassword in between).
// Failing is not fatal: the old hash still works.
func (s *Service) rehash(ctx context.Context, u User, password string) {
	next, err := s.params.Hash(password)
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "error", err)
		return
	}
	_, err = s.store.Update(ctx, u.ID, func(cur *User) error {
		if subtle.ConstantTimeCompare([]byte(cur.PasswordHash), []byte(u.PasswordHash)) == 1 {
			cur.PasswordHash = next
		}
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "error", err)
	}
}

// --- helpers ---

func (s *Service) newID() (string, error) {
	b := make([]byte, idBytes)
	if err := s.random(b); err != nil {
		return "", fmt.Errorf("users: read random: %w", err)
	}
	return "u_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// revokeSubject records that every token of the user issued until now is
// revoked, when a Revoker is configured.
func (s *Service) revokeSubject(ctx context.Context, userID, reason string) error {
	if s.revoker == nil {
		return nil
	}
	req := &revocationv1.RevokeRequest{
		Kind:       revocationv1.Kind_KIND_SUBJECT,
		Id:         userID,
		Reason:     reason,
		ExpireTime: timestamppb.New(s.now().Add(revocationTTL)),
	}
	if _, err := s.revoker.Revoke(ctx, req); err != nil {
		s.log.ErrorContext(ctx, "record revocation failed", "kind", req.GetKind().String(), "id", userID, "error", err)
		return status.Error(codes.Unavailable, "the revocation list is unavailable; retry")
	}
	return nil
}

func userToProto(u User) *usersv1.User {
	return &usersv1.User{
		UserId:            u.ID,
		Email:             u.Email,
		Disabled:          u.Disabled,
		CreateTime:        timestamppb.New(u.CreatedAt),
		UpdateTime:        timestamppb.New(u.UpdatedAt),
		Name:              u.Name,
		GivenName:         u.GivenName,
		FamilyName:        u.FamilyName,
		PreferredUsername: u.PreferredUsername,
		Locale:            u.Locale,
		EmailVerified:     u.EmailVerified,
	}
}

func encodeCursor(c Cursor) string { return pagetoken.Encode(c.CreatedAt, c.ID) }

func decodeCursor(tok string) (*Cursor, error) {
	created, id, ok, err := pagetoken.Decode(tok)
	if !ok || err != nil {
		return nil, err
	}
	return &Cursor{CreatedAt: created, ID: id}, nil
}

// toStatus maps an error to a gRPC status once, at the API boundary.
// Internal details are logged, never returned.
func (s *Service) toStatus(ctx context.Context, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		st := status.New(codes.InvalidArgument, fe.Error())
		if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fe.Field, Description: fe.Reason}}}); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, "not found")
	case errors.Is(err, ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, "a user with that email already exists")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case database.IsUnavailable(err):
		// The store is away (a restart, a network cut): a retry may
		// succeed, so Unavailable (503), not Internal.
		s.log.WarnContext(ctx, "user directory store unavailable", "error", err)
		return status.Error(codes.Unavailable, "the user directory is unavailable; retry")
	}
	s.log.ErrorContext(ctx, "user directory error", "error", err)
	return status.Error(codes.Internal, "internal error")
}

package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// Server implements the gRPC KeyManagementService over a Manager. The
// auth rules in keys.proto decide who may call what: GetJWKS and
// GetPlatformCA are public, GetSigningKey is for the token service only,
// the rest is for admins.
type Server struct {
	keysv1.UnimplementedKeyManagementServiceServer
	m       *Manager
	clients ClientGetter
}

var _ keysv1.KeyManagementServiceServer = (*Server)(nil)

// ClientGetter reads a registered client: the registry in process, or its
// gRPC client.
type ClientGetter interface {
	GetClient(ctx context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error)
}

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithClients makes IssueClientCertificate refuse a client that is not
// registered (NotFound) or is disabled (FailedPrecondition). Without it
// the CA signs for any client_id an admin names.
func WithClients(c ClientGetter) ServerOption {
	return func(s *Server) { s.clients = c }
}

// NewServer returns the gRPC service of m.
func NewServer(m *Manager, opts ...ServerOption) *Server {
	s := &Server{m: m}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// GetJWKS implements KeyManagementService: the same bytes as
// /.well-known/jwks.json.
func (s *Server) GetJWKS(ctx context.Context, _ *keysv1.GetJWKSRequest) (*keysv1.GetJWKSResponse, error) {
	body, _, version := s.m.JWKS()
	if body == nil {
		return nil, s.toStatus(ctx, ErrNotStarted)
	}
	return &keysv1.GetJWKSResponse{JwksJson: body, Version: version}, nil
}

// ListKeys implements KeyManagementService: every key, newest first,
// without private material.
func (s *Server) ListKeys(ctx context.Context, _ *keysv1.ListKeysRequest) (*keysv1.ListKeysResponse, error) {
	keys, err := s.m.Keys(ctx)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &keysv1.ListKeysResponse{Keys: make([]*keysv1.SigningKey, 0, len(keys))}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, keyToProto(k))
	}
	return resp, nil
}

// RotateKeys implements KeyManagementService. A normal rotation returns
// the new key in state PENDING: it signs after the publish lead, once
// every validator can know it (its activate_time says when). An emergency
// rotation (compromised_kid set) returns the new key already ACTIVE.
func (s *Server) RotateKeys(ctx context.Context, req *keysv1.RotateKeysRequest) (*keysv1.RotateKeysResponse, error) {
	var k Key
	var err error
	if req.GetCompromisedKid() != "" {
		k, err = s.m.EmergencyRotate(ctx, req.GetCompromisedKid(), req.GetAlg())
	} else {
		k, err = s.m.Rotate(ctx, req.GetAlg())
	}
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &keysv1.RotateKeysResponse{Key: keyToProto(k)}, nil
}

// RetireKey implements KeyManagementService: a retired key out of the
// JWKS before its time.
func (s *Server) RetireKey(ctx context.Context, req *keysv1.RetireKeyRequest) (*keysv1.RetireKeyResponse, error) {
	if req.GetKid() == "" {
		return nil, status.Error(codes.InvalidArgument, "kid: required")
	}
	k, err := s.m.Retire(ctx, req.GetKid(), req.GetForce())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &keysv1.RetireKeyResponse{Key: keyToProto(k)}, nil
}

// GetSigningKey implements KeyManagementService: the active private key
// as a JWK, for the token service of a split deployment.
func (s *Server) GetSigningKey(ctx context.Context, _ *keysv1.GetSigningKeyRequest) (*keysv1.GetSigningKeyResponse, error) {
	info, active, err := s.m.activeInfo()
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	b, err := json.Marshal(active.Key)
	if err != nil {
		// Never wrap: the encoder's error could quote key material.
		return nil, s.toStatus(ctx, errors.New("encode signing key"))
	}
	return &keysv1.GetSigningKeyResponse{Key: keyToProto(info), PrivateJwk: b}, nil
}

// IssueClientCertificate implements KeyManagementService: the CSR signed
// by the platform CA for the client, with the CA certificate.
func (s *Server) IssueClientCertificate(ctx context.Context, req *keysv1.IssueClientCertificateRequest) (*keysv1.IssueClientCertificateResponse, error) {
	var validity time.Duration
	if v := req.GetValidity(); v != nil {
		if err := v.CheckValid(); err != nil || v.AsDuration() <= 0 {
			return nil, status.Error(codes.InvalidArgument, "validity: must be a positive duration (at most 90 days; unset for 90 days)")
		}
		validity = v.AsDuration()
	}
	if err := s.checkClient(ctx, req.GetClientId()); err != nil {
		return nil, err
	}
	c, err := s.m.IssueClientCertificate(ctx, req.GetClientId(), req.GetCsrPem(), validity)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	ca, err := s.m.CA(ctx)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &keysv1.IssueClientCertificateResponse{
		CertificatePem:   c.PEM(),
		Serial:           c.Serial,
		ExpireTime:       timestamppb.New(c.NotAfter),
		Thumbprint:       c.Thumbprint,
		CaCertificatePem: certPEM(ca.Raw),
		StartTime:        timestamppb.New(c.NotBefore),
	}, nil
}

// ListClientCertificates implements KeyManagementService: the client's
// certificates, newest first.
func (s *Server) ListClientCertificates(ctx context.Context, req *keysv1.ListClientCertificatesRequest) (*keysv1.ListClientCertificatesResponse, error) {
	certs, err := s.m.ListClientCertificates(ctx, req.GetClientId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &keysv1.ListClientCertificatesResponse{Certificates: make([]*keysv1.ClientCertificate, 0, len(certs))}
	for _, c := range certs {
		resp.Certificates = append(resp.Certificates, &keysv1.ClientCertificate{
			Serial:         c.Serial,
			ClientId:       c.ClientID,
			Thumbprint:     c.Thumbprint,
			StartTime:      timestamppb.New(c.NotBefore),
			ExpireTime:     timestamppb.New(c.NotAfter),
			CertificatePem: c.PEM(),
		})
	}
	return resp, nil
}

// GetPlatformCA implements KeyManagementService: the CA certificate,
// public.
func (s *Server) GetPlatformCA(ctx context.Context, _ *keysv1.GetPlatformCARequest) (*keysv1.GetPlatformCAResponse, error) {
	ca, err := s.m.CA(ctx)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &keysv1.GetPlatformCAResponse{
		CertificatePem: certPEM(ca.Raw),
		Serial:         authn.CertSerial(ca),
		ExpireTime:     timestamppb.New(ca.NotAfter),
	}, nil
}

func keyToProto(k Key) *keysv1.SigningKey {
	return &keysv1.SigningKey{
		Kid:          k.KID,
		Alg:          k.Alg,
		State:        stateToProto(k.State),
		CreateTime:   timestamp(k.CreatedAt),
		ActivateTime: timestamp(k.ActivateAt),
		RetireTime:   timestamp(k.RetiredAt),
		RemoveTime:   timestamp(k.RemoveAt),
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// toStatus maps an error to a gRPC status once, at the API boundary.
// Internal details are logged, never returned.
func (s *Server) toStatus(ctx context.Context, err error) error {
	if csrErr, ok := errors.AsType[*CSRError](err); ok {
		return status.Error(codes.InvalidArgument, "csr_pem: "+csrErr.Reason)
	}
	if sv, ok := errors.AsType[*StillVerifyingError](err); ok {
		return status.Errorf(codes.FailedPrecondition, "tokens the key signed may be valid until %s: wait, or force it (they fail validation from then on)", sv.Until.UTC().Format(time.RFC3339))
	}
	switch {
	case errors.Is(err, ErrNotRetired):
		return status.Error(codes.FailedPrecondition, ErrNotRetired.Error())
	case errors.Is(err, ErrInvalidClientID):
		return status.Error(codes.InvalidArgument, "client_id: "+strings.TrimPrefix(err.Error(), ErrInvalidClientID.Error()+": "))
	case errors.Is(err, ErrNoCA):
		return status.Error(codes.Unimplemented, "this deployment has no platform CA")
	case errors.Is(err, ErrUnsupportedAlgorithm):
		return status.Error(codes.InvalidArgument, "alg: "+ErrUnsupportedAlgorithm.Error())
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, "no signing key with this kid")
	case errors.Is(err, ErrKeyRemoved):
		return status.Error(codes.FailedPrecondition, "the key is already removed")
	case errors.Is(err, ErrNotStarted):
		return status.Error(codes.Unavailable, "signing keys not loaded yet")
	case errors.Is(err, ErrRevocationNotRecorded):
		s.m.opt.log.ErrorContext(ctx, "key management error", "error", err)
		return status.Error(codes.Unavailable, "the key was rotated, but the revocation list did not record the compromised kid: revoke it with `gatehouse revoke signing-key`")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case database.IsUnavailable(err):
		// The store is away (a restart, a network cut): a retry may
		// succeed, so Unavailable (503), not Internal.
		s.m.opt.log.WarnContext(ctx, "key management store unavailable", "error", err)
		return status.Error(codes.Unavailable, "key management is unavailable; retry")
	}
	s.m.opt.log.ErrorContext(ctx, "key management error", "error", err)
	return status.Error(codes.Internal, "internal error")
}

// checkClient refuses to certify a client that does not exist or is
// disabled: a certificate names its client and is that client's credential
// where a method takes the certificate alone.
func (s *Server) checkClient(ctx context.Context, id string) error {
	if s.clients == nil || id == "" {
		// An empty id is the manager's InvalidArgument.
		return nil
	}
	resp, err := s.clients.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return status.Error(codes.NotFound, "no client with this client_id")
	case codes.InvalidArgument:
		return status.Error(codes.InvalidArgument, "client_id: malformed")
	case codes.Unavailable, codes.DeadlineExceeded:
		return status.Error(codes.Unavailable, "the client registry is unavailable")
	default:
		return s.toStatus(ctx, fmt.Errorf("look up the client: %w", err))
	}
	if resp.GetClient().GetDisabled() {
		return status.Error(codes.FailedPrecondition, "the client is disabled")
	}
	return nil
}

package token

import (
	"context"
	"errors"
	"net"
	"strings"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The gRPC methods, as the audit trail names them.
const (
	grpcIssue      = "/gatehouse.token.v1.TokenService/IssueClientCredentialsToken"
	grpcIntrospect = "/gatehouse.token.v1.TokenService/Introspect"
)

// peerIP is the gRPC caller's address, for the audit trail.
func peerIP(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.String()
}

// IssueClientCredentialsToken implements TokenService: the client_credentials
// grant for a caller the interceptor authenticated (its client certificate
// alone or an API key, scope gatehouse:token.issue). Same rules as the token endpoint; the granted
// scopes are also bounded by the scopes of the credential the caller used,
// so an API key cannot mint a token wider than itself.
func (s *Service) IssueClientCredentialsToken(ctx context.Context, req *tokenv1.IssueClientCredentialsTokenRequest) (*tokenv1.IssueClientCredentialsTokenResponse, error) {
	p, ok := authn.FromContext(ctx)
	if !ok || p.ClientID == "" {
		return nil, status.Error(codes.Unauthenticated, "no authenticated client")
	}
	for _, sc := range req.GetScopes() {
		if !validScopeToken(sc) {
			return nil, status.Error(codes.InvalidArgument, "invalid_scope: a scope is malformed (RFC 6749 section 3.3)")
		}
	}
	got, err := s.clients.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: p.ClientID})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		s.record(ctx, audit.ReasonClientDisabled, p.ClientID, grpcIssue, peerIP(ctx))
		return nil, status.Error(codes.PermissionDenied, "the client no longer exists")
	default:
		return nil, s.grpcError(ctx, err)
	}
	cl := clientFromProto(got.GetClient())
	switch {
	case cl.disabled:
		s.record(ctx, audit.ReasonClientDisabled, cl.id, grpcIssue, peerIP(ctx))
		return nil, status.Error(codes.PermissionDenied, "the client is disabled")
	case !cl.allowsGrant(grantClientCredentials):
		s.record(ctx, ReasonGrantNotAllowed, cl.id, grpcIssue, peerIP(ctx))
		return nil, status.Error(codes.PermissionDenied, "unauthorized_client: the client is not registered for client_credentials")
	}
	var resources []string
	if r := req.GetResource(); r != "" {
		resources = []string{r}
	}
	bound := p.Scopes
	if bound == nil {
		bound = []string{}
	}
	requested, err := parseScope(strings.Join(req.GetScopes(), " "))
	if err != nil {
		return nil, s.grpcError(ctx, err)
	}
	if cl.tls.bound && p.CertThumbprint != "" {
		// The caller authenticated with its certificate (alone, or with a
		// token bound to it): the new token is bound to it too (RFC 8705
		// §3).
		ctx = withBoundCert(ctx, p.CertThumbprint)
	}
	switch {
	case p.DPoPJKT != "":
		// The caller's token is DPoP-bound and the validator checked this
		// call's proof by its key: the new token is bound to the same key
		// (RFC 9449 §5).
		ctx = withDPoPKey(ctx, p.DPoPJKT)
	case cl.dpopBound:
		// There is no proof to bind to: a client registered for DPoP never
		// gets a bearer token.
		s.record(ctx, ReasonInvalidDPoPProof, cl.id, grpcIssue, peerIP(ctx))
		return nil, status.Error(codes.PermissionDenied, "invalid_dpop_proof: the client must call with a DPoP-bound token")
	}
	resp, err := s.clientCredentials.issue(ctx, cl, requested, resources, bound)
	if err != nil {
		return nil, s.grpcError(ctx, err)
	}
	s.issued.WithLabelValues(grantClientCredentials).Inc()
	tokenType := "Bearer"
	if resp.dpopBound {
		tokenType = "DPoP"
	}
	return &tokenv1.IssueClientCredentialsTokenResponse{
		AccessToken: resp.accessToken, TokenType: tokenType, ExpiresIn: resp.expiresIn, Scope: resp.scope,
	}, nil
}

// Introspect implements TokenService with the HTTP endpoint's answer. The
// interceptor authenticated the caller and checked its scope
// (gatehouse:introspect, .all or admin); it is checked again here, the
// caller's budget is spent, and it sees what introspectionView lets it.
func (s *Service) Introspect(ctx context.Context, req *tokenv1.IntrospectRequest) (*tokenv1.IntrospectResponse, error) {
	p, ok := authn.FromContext(ctx)
	if !ok || p.ClientID == "" {
		return nil, status.Error(codes.Unauthenticated, "no authenticated client")
	}
	view := introspectionView{all: p.HasScope(ScopeIntrospectAll) || p.HasScope(scopeAdmin)}
	if err := s.authorizeIntrospection(ctx, grpcIntrospect, p.ClientID, introspectBudgetKey(p.ClientID), view.all || p.HasScope(ScopeIntrospect), p.RateLimitTier, nil); err != nil {
		return nil, s.grpcError(ctx, err)
	}
	c, active := s.introspect(ctx, req.GetToken())
	if active && !view.all {
		// The caller's resources, for a token that is active: the
		// registry is asked only then.
		cl, err := s.publicClient(ctx, p.ClientID)
		if err != nil {
			return nil, s.grpcError(ctx, err)
		}
		view.resources = cl.resources
	}
	if !active || !view.sees(c.Audience) {
		return &tokenv1.IntrospectResponse{Active: false}, nil
	}
	out := &tokenv1.IntrospectResponse{
		Active:     true,
		Scope:      c.Scope,
		ClientId:   c.ClientID,
		Sub:        c.Subject,
		Aud:        c.Audience,
		Iss:        c.Issuer,
		Exp:        timestamppb.New(c.Expiry),
		TokenType:  "Bearer",
		CnfX5TS256: c.CertThumbprint,
		Jti:        c.JTI,
		CnfJkt:     c.DPoPJKT,
	}
	if c.DPoPJKT != "" {
		out.TokenType = "DPoP"
	}
	if !c.IssuedAt.IsZero() {
		out.Iat = timestamppb.New(c.IssuedAt)
	}
	return out, nil
}

// GetServerMetadata implements TokenService: the bytes of the HTTP
// endpoint.
func (s *Service) GetServerMetadata(context.Context, *tokenv1.GetServerMetadataRequest) (*tokenv1.GetServerMetadataResponse, error) {
	return &tokenv1.GetServerMetadataResponse{MetadataJson: s.Metadata()}, nil
}

// grpcError maps an error once at the gRPC boundary: an *Error carries its
// own status (Error.GRPCStatus); anything else is logged and hidden.
func (s *Service) grpcError(ctx context.Context, err error) error {
	var e *Error
	if errors.As(err, &e) {
		if e.Status >= 500 {
			s.log.ErrorContext(ctx, "token service error", "code", e.Code, "error", e.Cause)
		}
		return e.GRPCStatus().Err()
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		return status.Error(codes.Unavailable, "try again later")
	}
	s.log.ErrorContext(ctx, "token service error", "error", err)
	return status.Error(codes.Internal, "internal error")
}

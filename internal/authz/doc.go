// Package authz is the gateway authorizer: it answers an edge gateway's
// question "may this HTTP request through, and as whom?" (nginx
// auth_request, Traefik forwardAuth, Caddy forward_auth) with the same
// decisions pkg/authn makes inside Gatehouse's own services.
//
// It decides nothing itself. A route-rules file maps a method and path to
// an authv1.AuthRule, the rule type of the proto options; each route
// becomes a synthetic gRPC method name in an authn.Rules, and the decision
// is authn.Validator.Authorize on that name. So the authenticators and
// their caches, the revocation follower, the rate and failure limits and
// the auth-failure records are the process's own, and a request no route
// matches is refused as a method without a rule is.
package authz

package authn

import "context"

// Remote is the address of a gRPC call's caller as the validator sees it:
// the peer's, or, when the peer is a trusted forwarder or proxy, the
// address its x-forwarded-for names. Audit records use it, so that a call
// through the REST facade is recorded with the caller's address, not the
// facade's.
func (v *Validator) Remote(ctx context.Context) string { return v.grpcRemote(ctx) }

// Package audit records authentication and authorization failures.
//
// Every refused request is (1) logged as one slog line at Warn with
// event=auth_failure and an enumerated reason, (2) counted in
// gatehouse_auth_failures_total{reason}, and (3) published as an
// eventsv1.AuthFailure on the NATS subject gatehouse.audit.v1. A Failure
// never carries a credential: only the reason, the client when it is known,
// the method, the caller's address and the service.
package audit

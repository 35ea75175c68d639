package revocation

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
)

// Limits of the API. Ids are credential identifiers (a jti, a key id, a
// certificate serial), far below 512 bytes; the bounds keep a caller from
// filling the list, every follower's memory and every event with junk.
const (
	MaxIDBytes     = 512
	MaxReasonBytes = 256
	// DefaultPageSize is List's page size when the request leaves it 0.
	DefaultPageSize = 1000
	// MaxPageSize is the largest page List serves.
	MaxPageSize = 10000
)

// invalid is the InvalidArgument status naming the field at fault.
func invalid(field, format string, args ...any) error {
	return status.Error(codes.InvalidArgument, field+": "+fmt.Sprintf(format, args...))
}

// validateTarget checks what a Revoke or Check names.
func validateTarget(kind revocationv1.Kind, id string) error {
	// revlist.KindName knows exactly the kinds that have a name in
	// events, so nothing can be revoked that followers could not read.
	if revlist.KindName(kind) == "" {
		return invalid("kind", "%d is not a known kind", int32(kind))
	}
	switch {
	case id == "":
		return invalid("id", "required")
	case len(id) > MaxIDBytes:
		return invalid("id", "longer than %d bytes", MaxIDBytes)
	case !utf8.ValidString(id):
		return invalid("id", "not valid UTF-8")
	case containsControl(id):
		return invalid("id", "contains a control character")
	}
	return nil
}

func containsControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// validateRevoke checks a RevokeRequest at now, the revocation time.
func validateRevoke(req *revocationv1.RevokeRequest, now time.Time) error {
	if err := validateTarget(req.GetKind(), req.GetId()); err != nil {
		return err
	}
	if len(req.GetReason()) > MaxReasonBytes {
		return invalid("reason", "longer than %d bytes", MaxReasonBytes)
	}
	// PostgreSQL refuses NUL in text (SQLite would store it): refused
	// here, alike on both stores, with the other control characters.
	if containsControl(req.GetReason()) {
		return invalid("reason", "contains a control character")
	}
	if ts := req.GetExpireTime(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return invalid("expire_time", "not a valid timestamp")
		}
		if !ts.AsTime().After(now) {
			return invalid("expire_time", "must be in the future")
		}
	}
	return nil
}

// validateList checks a ListRequest and returns its page size.
func validateList(req *revocationv1.ListRequest) (int, error) {
	if req.GetSinceSeq() < 0 {
		return 0, invalid("since_seq", "must not be negative")
	}
	size := req.GetPageSize()
	if size == 0 {
		return DefaultPageSize, nil
	}
	if size < 1 || size > MaxPageSize {
		return 0, invalid("page_size", "must be between 1 and %d (0 for %d)", MaxPageSize, DefaultPageSize)
	}
	return int(size), nil
}

package revocation

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

// ToProto is e on the wire; a zero ExpiresAt (never) is an unset
// expire_time.
func ToProto(e Entry) *revocationv1.Entry {
	return &revocationv1.Entry{
		Seq:        e.Seq,
		Kind:       e.Kind,
		Id:         e.ID,
		Reason:     e.Reason,
		RevokeTime: timestamp(e.RevokedAt),
		ExpireTime: timestamp(e.ExpiresAt),
	}
}

// FromProto is the inverse of ToProto. Times are UTC.
func FromProto(p *revocationv1.Entry) Entry {
	return Entry{
		Seq:       p.GetSeq(),
		Kind:      p.GetKind(),
		ID:        p.GetId(),
		Reason:    p.GetReason(),
		RevokedAt: fromTimestamp(p.GetRevokeTime()),
		ExpiresAt: fromTimestamp(p.GetExpireTime()),
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTimestamp(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

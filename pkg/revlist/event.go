package revlist

import (
	"strings"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
)

// Subject is the NATS subject (and JetStream stream subject) of Revoked
// events.
const Subject = "gatehouse.revocation.v1"

// KindName is the name of k in Revoked events: the enum name without its
// KIND_ prefix, in lower case ("api_key"). It is "" for an unknown kind.
func KindName(k revocationv1.Kind) string {
	if k <= revocationv1.Kind_KIND_UNSPECIFIED {
		return ""
	}
	name, ok := revocationv1.Kind_name[int32(k)]
	if !ok {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(name, "KIND_"))
}

// ParseKind is the inverse of KindName; it returns KIND_UNSPECIFIED for a
// name it does not know.
func ParseKind(name string) revocationv1.Kind {
	if name == "" || strings.ToLower(name) != name {
		return revocationv1.Kind_KIND_UNSPECIFIED
	}
	v, ok := revocationv1.Kind_value["KIND_"+strings.ToUpper(name)]
	if !ok || v == 0 {
		return revocationv1.Kind_KIND_UNSPECIFIED
	}
	return revocationv1.Kind(v)
}

// EventOf is the Revoked event announcing e, an entry of the list logID.
func EventOf(e *revocationv1.Entry, logID string) *eventsv1.Revoked {
	return &eventsv1.Revoked{
		Seq:        e.GetSeq(),
		Kind:       KindName(e.GetKind()),
		Id:         e.GetId(),
		ExpireTime: e.GetExpireTime(),
		RevokeTime: e.GetRevokeTime(),
		LogId:      logID,
		Reason:     e.GetReason(),
	}
}

// EntryOf is the entry a Revoked event announces, and the list it belongs
// to. The kind is KIND_UNSPECIFIED when the event names an unknown kind.
func EntryOf(ev *eventsv1.Revoked) (*revocationv1.Entry, string) {
	return &revocationv1.Entry{
		Seq:        ev.GetSeq(),
		Kind:       ParseKind(ev.GetKind()),
		Id:         ev.GetId(),
		Reason:     ev.GetReason(),
		RevokeTime: ev.GetRevokeTime(),
		ExpireTime: ev.GetExpireTime(),
	}, ev.GetLogId()
}

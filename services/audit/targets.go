package audit

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// targetFields are the fields whose values a record names. It is an
// allowlist, never the message: requests and responses of admin calls carry
// client secrets, raw API keys, passwords and private keys, and none of
// those fields is here.
var targetFields = map[protoreflect.Name]bool{
	"client_id": true, "key_id": true, "user_id": true, "kid": true,
	"compromised_kid": true, "serial": true, "id": true, "replaced_by": true,
}

// maxTargetDepth is how deep Targets looks into nested messages: the ids of
// an admin call are at the top (DeleteClient) or in the one resource it
// carries (CreateClient's client, RotateKeys' key).
const maxTargetDepth = 2

// maxTargets bounds one record: a request naming many ids is audited by its
// first ones.
const maxTargets = 16

// Targets returns the ids req and resp name, as "field=value", each once.
func Targets(req, resp any) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range []any{req, resp} {
		if pm, ok := m.(proto.Message); ok && pm != nil {
			collect(pm.ProtoReflect(), 1, seen, &out)
		}
	}
	return out
}

func collect(m protoreflect.Message, depth int, seen map[string]bool, out *[]string) {
	if !m.IsValid() {
		return
	}
	// A scope's id is its name; nowhere else is a name an id (a user's
	// name is personal data).
	scope := strings.Contains(string(m.Descriptor().Name()), "Scope")
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap():
			if depth < maxTargetDepth {
				collect(v.Message(), depth+1, seen, out)
			}
		case fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap():
			if !targetFields[fd.Name()] && (!scope || fd.Name() != "name") {
				return true
			}
			t := string(fd.Name()) + "=" + clip(v.String(), 256)
			if v.String() != "" && !seen[t] && len(*out) < maxTargets {
				seen[t] = true
				*out = append(*out, t)
			}
		}
		return true
	})
}

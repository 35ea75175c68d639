package tracing

import (
	"context"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"go.opentelemetry.io/otel/trace"
)

// LogHandler wraps h so that every record logged with a context that
// carries a valid span gets the span's trace_id and span_id, and every
// record logged with a request's context its request_id: every line a
// request logs with its context (InfoContext, LogAttrs(ctx, ...)) can be
// found from its trace or its id and the other way round. The request id
// is added with tracing off too. Records without such a context pass
// through unchanged.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ next slog.Handler }

func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	id := requestid.FromContext(ctx)
	if id != "" && hasAttr(r, "request_id") {
		// The audit record names it itself; twice would be one key too many.
		id = ""
	}
	if !sc.IsValid() && id == "" {
		return h.next.Handle(ctx, r)
	}
	// A copy: the caller's record is not changed under it.
	r = r.Clone()
	if sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	if id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.next.Handle(ctx, r)
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler { return logHandler{h.next.WithAttrs(as)} }

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.next.WithGroup(name)} }

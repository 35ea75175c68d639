package tracing

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// PgxTracer is a pgx.QueryTracer (pgx.ConnConfig.Tracer) that makes a
// client span of every query a traced request makes. Queries outside a
// request (background work, no recording span in the context) make none.
// A span carries the operation only (SELECT, INSERT, ...): never the SQL
// text, its arguments or an error message, which may hold values.
func PgxTracer() pgx.QueryTracer {
	return pgxTracer{tracer: otel.GetTracerProvider().Tracer(InstrumentationName + "/pgx")}
}

type pgxTracer struct{ tracer trace.Tracer }

func (t pgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	op := sqlOperation(data.SQL)
	ctx, _ = t.tracer.Start(ctx, "postgres "+op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.DBSystemNamePostgreSQL, semconv.DBOperationName(op)))
	return ctx
}

func (t pgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if data.Err != nil {
		// The SQLSTATE only: a server message may quote the values.
		code := "error"
		var pgErr *pgconn.PgError
		if errors.As(data.Err, &pgErr) {
			code = pgErr.Code
			span.SetAttributes(semconv.DBResponseStatusCode(code))
		}
		span.SetStatus(codes.Error, code)
	}
	span.End()
}

// sqlOperation is the statement's first keyword, upper case, or QUERY.
func sqlOperation(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 || len(f[0]) > 16 {
		return "QUERY"
	}
	for _, r := range f[0] {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return "QUERY"
		}
	}
	return strings.ToUpper(f[0])
}

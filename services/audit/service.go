package audit

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strconv"
	"sync"
	"time"

	auditv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/audit/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Page sizes of ListAdminActions.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// Service is AuditService: the trail, read-only.
type Service struct {
	auditv1.UnimplementedAuditServiceServer
	store Store
	log   *slog.Logger
}

// NewService serves store's records.
func NewService(store Store, log *slog.Logger) *Service { return &Service{store: store, log: log} }

// ListAdminActions implements AuditService.
func (s *Service) ListAdminActions(ctx context.Context, req *auditv1.ListAdminActionsRequest) (*auditv1.ListAdminActionsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	before, err := decodePage(req.GetPageToken())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "invalid page_token")
	}
	f := Filter{Actor: req.GetActor(), Target: req.GetTarget(), Before: before, Limit: size + 1}
	if req.GetSince() != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, status.Error(codes.InvalidArgument, "invalid since")
		}
		f.Since = req.GetSince().AsTime()
	}
	recs, err := s.store.List(ctx, f)
	if err != nil {
		s.log.ErrorContext(ctx, "admin audit: list", "error", err)
		return nil, status.Error(codes.Unavailable, "audit trail unavailable")
	}
	resp := &auditv1.ListAdminActionsResponse{}
	if len(recs) > size {
		recs = recs[:size]
		resp.NextPageToken = encodePage(recs[size-1].Seq)
	}
	for _, r := range recs {
		resp.Actions = append(resp.Actions, ToEvent(r))
	}
	return resp, nil
}

// A page token is the seq of the page's last record: the next page starts
// below it.
func encodePage(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a" + strconv.FormatInt(seq, 10)))
}

func decodePage(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 'a' {
		return 0, strconv.ErrSyntax
	}
	seq, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || seq <= 0 {
		return 0, strconv.ErrSyntax
	}
	return seq, nil
}

// purgeBatch bounds one purge statement; a purge runs batches until none
// is full.
const purgeBatch = 1000

// Purge deletes the records older than retention, in bounded batches, and
// says how many it deleted.
func Purge(ctx context.Context, store Store, now time.Time, retention time.Duration) (int64, error) {
	var total int64
	for {
		n, err := store.Purge(ctx, now.Add(-retention), purgeBatch)
		total += n
		if err != nil || n < purgeBatch || ctx.Err() != nil {
			return total, err
		}
	}
}

// StartRetention purges the records older than retention now and then
// every interval, until the returned stop is called (which waits for the
// purge in progress). A retention of 0 keeps records forever.
func StartRetention(store Store, retention, interval time.Duration, log *slog.Logger) (stop func()) {
	if retention <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			n, err := Purge(ctx, store, time.Now(), retention)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("admin audit: retention purge", "error", err)
			case n > 0:
				log.Info("admin audit: purged records past retention", "deleted", n, "retention", retention.String())
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

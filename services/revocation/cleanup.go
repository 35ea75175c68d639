package revocation

import (
	"context"
	"time"
)

// runCleanup deletes expired entries every cleanup interval until ctx is
// done. Replicas may all run it: the deletes are idempotent.
func (s *Service) runCleanup(ctx context.Context) {
	ticker := time.NewTicker(s.cleanupEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n, err := s.store.DeleteExpired(ctx, s.now())
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.ErrorContext(ctx, "revocation cleanup failed", "error", err)
		case n > 0:
			s.log.DebugContext(ctx, "revocation cleanup", "deleted", n)
		}
	}
}

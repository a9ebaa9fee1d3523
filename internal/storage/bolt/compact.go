package bolt

import (
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// compactChunk is how many log entries one compaction transaction deletes: each transaction holds bbolt's
// single writer lock, so small ones keep the write latency of concurrent clients low.
const compactChunk = 1_000

// Compact discards the history at or below rev. The compaction point is persisted first, so watches fail
// from then on even if a crash interrupts the deletion; a later compaction deletes what is left.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.readable(ctx); err != nil {
		return err
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.mu.Lock()
	current, compacted := s.revision, s.compacted
	s.mu.Unlock()
	if rev > current {
		return fmt.Errorf("bolt: compact to revision %d beyond the current revision %d", rev, current)
	}
	if rev <= compacted {
		return nil
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaCompacted, revisionKey(rev))
	})
	if err != nil {
		return fmt.Errorf("bolt: record compaction to %d: %w", rev, err)
	}
	s.mu.Lock()
	s.compacted = rev
	s.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		more, err := s.deleteLogChunk(rev)
		if err != nil {
			return fmt.Errorf("bolt: compact to %d: %w", rev, err)
		}
		if !more {
			return nil
		}
	}
}

// deleteLogChunk deletes up to compactChunk of the oldest log entries at or below rev and reports whether
// any may remain.
func (s *Store) deleteLogChunk(rev int64) (more bool, err error) {
	err = s.db.Update(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog)
		// Collected first: deleting under a bbolt cursor skips entries.
		var keys [][]byte
		c := log.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < compactChunk; k, _ = c.Next() {
			r, err := decodeRevisionKey(k)
			if err != nil {
				return err
			}
			if r > rev {
				break
			}
			keys = append(keys, clone(k))
		}
		for _, k := range keys {
			if err := log.Delete(k); err != nil {
				return err
			}
		}
		more = len(keys) == compactChunk
		return nil
	})
	return more, err
}

// compactLoop keeps the history bounded until Close.
func (s *Store) compactLoop() {
	defer s.wg.Done()
	ticker := time.NewTicker(s.opts.CompactInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-ticker.C:
		}
		target, err := s.retentionTarget()
		if err == nil && target > 0 {
			err = s.Compact(s.life, target)
		}
		if err != nil && s.life.Err() == nil {
			s.opts.Logger.Error("storage background compaction failed", "err", err)
		}
	}
}

// retentionTarget is the highest revision that both retention rules allow to discard (0: none): older than
// the last HistoryRevisions revisions and committed more than HistoryDuration ago.
func (s *Store) retentionTarget() (int64, error) {
	s.mu.Lock()
	byCount := s.revision - s.opts.HistoryRevisions
	compacted := s.compacted
	s.mu.Unlock()
	if byCount <= compacted {
		return 0, nil
	}
	cutoff := s.opts.Now().Add(-s.opts.HistoryDuration).UnixNano()
	var target int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(revisionKey(compacted + 1)); k != nil; k, v = c.Next() {
			rev, err := decodeRevisionKey(k)
			if err != nil {
				return err
			}
			if rev > byCount {
				return nil
			}
			h, _, err := decodeLogHeader(v)
			if err != nil {
				return fmt.Errorf("log revision %d: %w", rev, err)
			}
			// Commit times rise with revisions; a clock stepping back only makes this keep more.
			if h.unixNano >= cutoff {
				return nil
			}
			target = rev
		}
		return nil
	})
	return target, err
}

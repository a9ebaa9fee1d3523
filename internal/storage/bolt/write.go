package bolt

import (
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/peapod-dev/peapod/internal/storage"
)

// Writes go through one committer goroutine. It takes every write queued while the previous transaction was
// being fsynced and commits them together, so a burst of concurrent writers shares one fsync and no write
// waits for a timer (bbolt's own Batch waits up to MaxBatchDelay). A write is answered only after its
// transaction committed and its event was published to watchers.

type writeOp int

const (
	opCreate writeOp = iota + 1
	opUpdate
	opDelete
)

type writeRequest struct {
	ctx              context.Context
	op               writeOp
	key              string
	value            []byte
	expectedRevision int64
	done             chan writeResult // buffered: the committer never blocks on an absent caller
}

type writeResult struct {
	revision int64
	deleted  storage.KeyValue
	err      error
}

// errNothingToCommit rolls back a transaction in which every write failed its precondition.
var errNothingToCommit = errors.New("nothing to commit")

// Create stores a new key and returns its revision once the write is durable.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	res := s.write(ctx, &writeRequest{op: opCreate, key: key, value: value})
	return res.revision, res.err
}

// Update replaces the value of key, if its ModRevision is expectedModRevision (0: any).
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedModRevision int64) (int64, error) {
	res := s.write(ctx, &writeRequest{op: opUpdate, key: key, value: value, expectedRevision: expectedModRevision})
	return res.revision, res.err
}

// Delete removes key, if its ModRevision is expectedModRevision (0: any), and returns it as it was.
func (s *Store) Delete(ctx context.Context, key string, expectedModRevision int64) (storage.KeyValue, int64, error) {
	res := s.write(ctx, &writeRequest{op: opDelete, key: key, expectedRevision: expectedModRevision})
	return res.deleted, res.revision, res.err
}

// write queues req and waits for its outcome. Once queued, it waits for the committer's answer even if ctx
// ends, so that an error returned always means the write did not happen.
func (s *Store) write(ctx context.Context, req *writeRequest) writeResult {
	if req.key == "" {
		return writeResult{err: errors.New("bolt: empty key")}
	}
	if err := ctx.Err(); err != nil {
		return writeResult{err: err}
	}
	req.ctx = ctx
	// The caller may reuse its slice; the value is also shared with watchers.
	req.value = clone(req.value)
	req.done = make(chan writeResult, 1)
	select {
	case s.writes <- req:
	case <-ctx.Done():
		return writeResult{err: ctx.Err()}
	case <-s.life.Done():
		return writeResult{err: ErrClosed}
	}
	select {
	case res := <-req.done:
		return res
	case <-s.committerDone:
		// The committer answers everything it took before it exits; anything unanswered was never applied.
		select {
		case res := <-req.done:
			return res
		default:
			return writeResult{err: ErrClosed}
		}
	}
}

// commitLoop is the single writer.
func (s *Store) commitLoop() {
	defer s.wg.Done()
	defer close(s.committerDone)
	revision := s.revision
	batch := make([]*writeRequest, 0, s.opts.MaxBatch)
	for {
		select {
		case <-s.life.Done():
			return
		case req := <-s.writes:
			batch = append(batch[:0], req)
		}
	gather:
		for len(batch) < s.opts.MaxBatch {
			select {
			case req := <-s.writes:
				batch = append(batch, req)
			default:
				break gather
			}
		}
		revision = s.commitBatch(batch, revision)
		clear(batch)
	}
}

// applied is one write that succeeded inside the transaction being built.
type applied struct {
	req    *writeRequest
	result writeResult
	event  storage.Event
}

// commitBatch commits the batch in one transaction, publishes its events and answers every request. It
// returns the revision reached. A write failing for a reason other than its precondition (a bbolt error)
// aborts the transaction; it is answered with that error and the rest of the batch is retried without it.
func (s *Store) commitBatch(batch []*writeRequest, revision int64) int64 {
	pending := make([]*writeRequest, 0, len(batch))
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- writeResult{err: err}
			continue
		}
		pending = append(pending, req)
	}
	for len(pending) > 0 {
		var (
			done    []applied
			refused []applied // failed preconditions: answered after the transaction, whatever its fate
			failed  = -1
		)
		now := s.opts.Now().UnixNano()
		err := s.db.Update(func(tx *bbolt.Tx) error {
			rev := revision
			for i, req := range pending {
				result, entry, err := apply(tx, req, rev+1, now)
				switch {
				case isPreconditionError(err):
					refused = append(refused, applied{req: req, result: writeResult{err: err}})
					continue
				case err != nil:
					failed = i
					return err
				}
				rev++
				done = append(done, applied{req: req, result: result, event: buildEvent(rev, entry)})
			}
			if len(done) == 0 {
				return errNothingToCommit
			}
			if err := tx.Bucket(bucketMeta).Put(metaRevision, revisionKey(rev)); err != nil {
				return fmt.Errorf("write revision: %w", err)
			}
			return nil
		})
		switch {
		case failed >= 0:
			pending[failed].done <- writeResult{err: fmt.Errorf("bolt: %s %q: %w", opName(pending[failed].op), pending[failed].key, err)}
			pending = append(pending[:failed], pending[failed+1:]...)
			continue
		case errors.Is(err, errNothingToCommit):
		case err != nil:
			s.opts.Logger.Error("storage commit failed", "writes", len(done), "err", err)
			for _, a := range done {
				a.req.done <- writeResult{err: fmt.Errorf("bolt: commit: %w", err)}
			}
		default:
			revision = done[len(done)-1].event.Revision
			s.publish(done)
			for _, a := range done {
				a.req.done <- a.result
			}
		}
		for _, a := range refused {
			a.req.done <- a.result
		}
		return revision
	}
	return revision
}

func isPreconditionError(err error) bool {
	return errors.Is(err, storage.ErrExists) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict)
}

func opName(op writeOp) string {
	switch op {
	case opCreate:
		return "create"
	case opUpdate:
		return "update"
	default:
		return "delete"
	}
}

// apply performs one write at revision rev inside tx and returns its answer and its log entry.
func apply(tx *bbolt.Tx, req *writeRequest, rev, now int64) (writeResult, logEntry, error) {
	keys := tx.Bucket(bucketKeys)
	key := []byte(req.key)
	current := keys.Get(key)
	entry := logEntry{unixNano: now, key: req.key}
	var result writeResult
	if req.op == opCreate {
		if current != nil {
			return writeResult{}, logEntry{}, storage.ErrExists
		}
		entry.eventType = storage.EventPut
		entry.createRevision = rev
		entry.value = req.value
	} else {
		if current == nil {
			return writeResult{}, logEntry{}, storage.ErrNotFound
		}
		old, err := decodeRecord(current) // a copy: bbolt may reuse the page once the key is rewritten
		if err != nil {
			return writeResult{}, logEntry{}, fmt.Errorf("key %q: %w", req.key, err)
		}
		if req.expectedRevision != 0 && req.expectedRevision != old.modRevision {
			return writeResult{}, logEntry{}, storage.ErrConflict
		}
		entry.createRevision = old.createRevision
		entry.prevModRev = old.modRevision
		entry.prevValue = old.value
		if req.op == opUpdate {
			entry.eventType = storage.EventPut
			entry.value = req.value
		} else {
			entry.eventType = storage.EventDelete
			result.deleted = storage.KeyValue{Key: req.key, Value: old.value, CreateRevision: old.createRevision, ModRevision: old.modRevision}
		}
	}
	var err error
	if entry.eventType == storage.EventDelete {
		err = keys.Delete(key)
	} else {
		err = keys.Put(key, encodeRecord(record{createRevision: entry.createRevision, modRevision: rev, value: entry.value}))
	}
	if err != nil {
		return writeResult{}, logEntry{}, err
	}
	if err := tx.Bucket(bucketLog).Put(revisionKey(rev), encodeLogEntry(entry)); err != nil {
		return writeResult{}, logEntry{}, fmt.Errorf("append log: %w", err)
	}
	result.revision = rev
	return result, entry, nil
}

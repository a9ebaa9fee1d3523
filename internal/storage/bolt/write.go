package bolt

import (
	"context"
	"errors"
	"fmt"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/peapod-dev/peapod/internal/storage"
)

// Writes go through one committer goroutine. It takes every write queued while the previous batch was being
// synced and logs them together, so a burst of concurrent writers shares one fdatasync and no write waits
// for a timer (bbolt's own Batch waits up to MaxBatchDelay). A write is answered only after its batch is
// durable in the write-ahead log, readable in the active layer and published to watchers.

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
		s.commitBatch(batch)
		clear(batch)
	}
}

// applied is one write that succeeded in the batch being built.
type applied struct {
	req    *writeRequest
	result writeResult
	entry  logEntry
	event  storage.Event
}

// batchState is the state the committer checks preconditions against: the batch's own writes over the
// layers over bbolt, at the committer's revision. Nothing but the committer advances that revision, so a
// bbolt transaction begun at any point is not ahead of it; and the layers taken at the start stay whole
// even if a checkpoint drops them meanwhile.
type batchState struct {
	db     *bbolt.DB
	layers []*layer
	tx     *bbolt.Tx // begun at the first key the layers do not hold
	local  map[string]keyState
}

// get returns the key's current state; the value only if needValue (a create needs none, so no copy).
func (b *batchState) get(key string, needValue bool) (keyState, bool, error) {
	if k, ok := b.local[key]; ok {
		return k, !k.deleted, nil
	}
	if k, ok := lookupLayers(b.layers, key); ok {
		return k, !k.deleted, nil
	}
	if b.tx == nil {
		tx, err := b.db.Begin(false)
		if err != nil {
			return keyState{}, false, fmt.Errorf("begin read: %w", err)
		}
		b.tx = tx
	}
	v := b.tx.Bucket(bucketKeys).Get([]byte(key))
	if v == nil {
		return keyState{}, false, nil
	}
	if !needValue {
		create, mod, err := recordRevisions(v)
		if err != nil {
			return keyState{}, false, fmt.Errorf("key %q: %w", key, err)
		}
		return keyState{createRevision: create, modRevision: mod}, true, nil
	}
	r, err := decodeRecord(v) // a copy: the transaction ends before the value is used
	if err != nil {
		return keyState{}, false, fmt.Errorf("key %q: %w", key, err)
	}
	return keyState{createRevision: r.createRevision, modRevision: r.modRevision, value: r.value}, true, nil
}

func (b *batchState) close() {
	if b.tx != nil {
		_ = b.tx.Rollback() // read-only: nothing to lose
	}
}

// commitBatch logs the batch's successful writes in one write-ahead log record, adds them to the active
// layer, publishes their events and answers every request. A write whose key cannot be read is answered
// with that error; the others go on.
func (s *Store) commitBatch(batch []*writeRequest) {
	s.stateMu.RLock()
	state := &batchState{db: s.db, layers: slices.Clone(s.layers), local: make(map[string]keyState, len(batch))}
	rev := s.applied
	s.stateMu.RUnlock()
	var (
		done    []applied
		refused []applied // failed preconditions: answered after the batch, whatever its fate
	)
	now := s.opts.Now().UnixNano()
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- writeResult{err: err}
			continue
		}
		current, exists, err := state.get(req.key, req.op != opCreate)
		if err != nil {
			req.done <- writeResult{err: fmt.Errorf("bolt: %s %q: %w", opName(req.op), req.key, err)}
			continue
		}
		result, entry, err := decide(req, current, exists, rev+1)
		if err != nil {
			refused = append(refused, applied{req: req, result: writeResult{err: err}})
			continue
		}
		rev++
		entry.unixNano = now
		if entry.eventType == storage.EventDelete {
			state.local[req.key] = keyState{modRevision: rev, deleted: true}
		} else {
			state.local[req.key] = keyState{createRevision: entry.createRevision, modRevision: rev, value: entry.value}
		}
		done = append(done, applied{req: req, result: result, entry: entry, event: buildEvent(rev, entry)})
	}
	// Ended before taking stateMu: a reader may wait under stateMu for bbolt's mmap lock, which a
	// checkpoint's remap holds until every read transaction has ended.
	state.close()
	if len(done) > 0 {
		entries := make([]logEntry, len(done))
		for i, a := range done {
			entries[i] = a.entry
		}
		if err := s.wal.Append(s.life, done[0].event.Revision, len(entries), encodeBatch(nil, entries)); err != nil {
			s.opts.Logger.Error("storage commit failed", "writes", len(done), "err", err)
			for _, a := range done {
				a.req.done <- writeResult{err: fmt.Errorf("bolt: write-ahead log: %w", err)}
			}
			// The refused writes were judged against writes that did not happen: let them try again.
			for _, a := range refused {
				a.req.done <- writeResult{err: fmt.Errorf("bolt: write-ahead log: %w", err)}
			}
			return
		}
		s.stateMu.Lock()
		active := s.layers[len(s.layers)-1]
		for _, e := range entries {
			active.add(e)
		}
		s.applied = rev
		full := len(active.entries) >= s.opts.CheckpointWrites
		s.stateMu.Unlock()
		if full {
			select {
			case s.checkpointNow <- struct{}{}:
			default:
			}
		}
		s.publish(done)
		for _, a := range done {
			a.req.done <- a.result
		}
	}
	for _, a := range refused {
		a.req.done <- a.result
	}
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

// decide judges req against the key's current state and returns its answer and its log entry at rev.
func decide(req *writeRequest, current keyState, exists bool, rev int64) (writeResult, logEntry, error) {
	entry := logEntry{key: req.key}
	var result writeResult
	if req.op == opCreate {
		if exists {
			return writeResult{}, logEntry{}, storage.ErrExists
		}
		entry.eventType = storage.EventPut
		entry.createRevision = rev
		entry.value = req.value
		result.revision = rev
		return result, entry, nil
	}
	if !exists {
		return writeResult{}, logEntry{}, storage.ErrNotFound
	}
	if req.expectedRevision != 0 && req.expectedRevision != current.modRevision {
		return writeResult{}, logEntry{}, storage.ErrConflict
	}
	entry.createRevision = current.createRevision
	entry.prevModRev = current.modRevision
	entry.prevValue = current.value
	if req.op == opUpdate {
		entry.eventType = storage.EventPut
		entry.value = req.value
	} else {
		entry.eventType = storage.EventDelete
		result.deleted = storage.KeyValue{Key: req.key, Value: clone(current.value), CreateRevision: current.createRevision, ModRevision: current.modRevision}
	}
	result.revision = rev
	return result, entry, nil
}

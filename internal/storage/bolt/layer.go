package bolt

import (
	"fmt"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/peapod-dev/peapod/internal/storage"
)

// Writes logged but not yet in bbolt live in layers: the newest (active) layer takes the committer's
// batches; a checkpoint freezes it, starts a new one, commits the frozen layers to bbolt in one synced
// transaction, and only then drops them. A read takes the layer list and begins its bbolt transaction under
// stateMu, so bbolt is never ahead of the layers it sees (a checkpoint commits only what layers already
// hold) and misses none of them (a layer is dropped only after its commit). A layer still listed after its
// commit repeats what bbolt holds, which reads may see twice without harm.

// keyState is a key as a layer last left it.
type keyState struct {
	createRevision int64
	modRevision    int64
	value          []byte
	deleted        bool
}

func (k keyState) keyValue(key string) storage.KeyValue {
	return storage.KeyValue{Key: key, Value: clone(k.value), CreateRevision: k.createRevision, ModRevision: k.modRevision}
}

// layer holds consecutive writes after revision base.
type layer struct {
	base    int64
	entries []logEntry          // entries[i] is the write at revision base+1+i; appended only
	keys    map[string]keyState // each key written here, as of the layer's last write
}

func newLayer(base int64) *layer {
	return &layer{base: base, keys: make(map[string]keyState)}
}

func (l *layer) last() int64 { return l.base + int64(len(l.entries)) }

// add records the layer's next write.
func (l *layer) add(e logEntry) {
	rev := l.last() + 1
	l.entries = append(l.entries, e)
	if e.eventType == storage.EventDelete {
		l.keys[e.key] = keyState{modRevision: rev, deleted: true}
		return
	}
	l.keys[e.key] = keyState{createRevision: e.createRevision, modRevision: rev, value: e.value}
}

// lookupLayers finds the newest state of key in layers (oldest first).
func lookupLayers(layers []*layer, key string) (keyState, bool) {
	for i := len(layers) - 1; i >= 0; i-- {
		if k, ok := layers[i].keys[key]; ok {
			return k, true
		}
	}
	return keyState{}, false
}

// prefixState collects the newest state of every key under prefix in layers, and those keys in order.
func prefixState(layers []*layer, prefix string) (map[string]keyState, []string) {
	var found map[string]keyState
	for _, l := range layers {
		for k, v := range l.keys {
			if strings.HasPrefix(k, prefix) {
				if found == nil {
					found = make(map[string]keyState)
				}
				found[k] = v
			}
		}
	}
	keys := make([]string, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return found, keys
}

// layerLog is a layer's writes as a reader captured them: later appends do not touch this part.
type layerLog struct {
	base    int64
	entries []logEntry
}

// logAt returns the write at rev from logs (oldest first).
func logAt(logs []layerLog, rev int64) (logEntry, bool) {
	for i := len(logs) - 1; i >= 0; i-- {
		l := logs[i]
		if rev > l.base && rev <= l.base+int64(len(l.entries)) {
			return l.entries[rev-l.base-1], true
		}
	}
	return logEntry{}, false
}

// beginRead begins a bbolt read transaction consistent with the layers. Called with stateMu held.
func (s *Store) beginRead() (*bbolt.Tx, error) {
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("bolt: begin read: %w", err)
	}
	return tx, nil
}

// checkpoint commits every write in the layers to bbolt and retires the log segments it covers.
func (s *Store) checkpoint() error {
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	s.stateMu.Lock()
	if len(s.layers[len(s.layers)-1].entries) > 0 {
		s.layers = append(s.layers, newLayer(s.applied))
	}
	frozen := slices.Clone(s.layers[:len(s.layers)-1])
	s.stateMu.Unlock()
	if len(frozen) == 0 {
		return nil
	}
	upTo := frozen[len(frozen)-1].last()
	start := time.Now()
	if err := s.db.Update(func(tx *bbolt.Tx) error { return writeLayers(tx, frozen) }); err != nil {
		return fmt.Errorf("bolt: checkpoint to revision %d: %w", upTo, err)
	}
	s.stateMu.Lock()
	s.layers = slices.Clone(s.layers[len(frozen):])
	s.stateMu.Unlock()
	s.wal.Release(upTo)
	s.opts.Logger.Debug("storage checkpoint", "revision", upTo, "took", time.Since(start))
	return nil
}

// writeLayers applies layers (oldest first, consecutive) to bbolt inside tx.
func writeLayers(tx *bbolt.Tx, layers []*layer) error {
	keys, log, meta := tx.Bucket(bucketKeys), tx.Bucket(bucketLog), tx.Bucket(bucketMeta)
	// History at or below the compaction point is not written back: Compact may run ahead of checkpoints.
	compacted, err := readMetaRevision(meta, metaCompacted)
	if err != nil {
		return err
	}
	for _, l := range layers {
		for k, v := range l.keys {
			if v.deleted {
				err = keys.Delete([]byte(k))
			} else {
				err = keys.Put([]byte(k), encodeRecord(record{createRevision: v.createRevision, modRevision: v.modRevision, value: v.value}))
			}
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
		}
		for i, e := range l.entries {
			rev := l.base + 1 + int64(i)
			if rev <= compacted {
				continue
			}
			if err := log.Put(revisionKey(rev), encodeLogEntry(e)); err != nil {
				return fmt.Errorf("log revision %d: %w", rev, err)
			}
		}
	}
	if err := meta.Put(metaRevision, revisionKey(layers[len(layers)-1].last())); err != nil {
		return fmt.Errorf("write revision: %w", err)
	}
	return nil
}

// checkpointLoop checkpoints every CheckpointInterval and whenever the committer asks, until Close.
func (s *Store) checkpointLoop() {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.opts.CheckpointInterval > 0 {
		ticker := time.NewTicker(s.opts.CheckpointInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-s.life.Done():
			return
		case <-tick:
		case <-s.checkpointNow:
		}
		if err := s.checkpoint(); err != nil {
			// The writes stay in the layers and the log; the next checkpoint tries again.
			s.opts.Logger.Error("storage checkpoint failed", "err", err)
		}
	}
}

// Package bolt is the embedded storage.Store: keys, one cluster-wide revision and a persisted event log in a
// single bbolt file, fronted by a write-ahead log so that an acknowledged write costs one fdatasync.
//
// One committer goroutine takes every write queued while the previous batch was being synced and makes the
// batch durable as one record of the write-ahead log (package wal): a preallocated segment file, so the sync
// flushes data only. The batch then joins an in-memory layer of writes not yet in bbolt (layer.go), is
// published to watchers and answered. A checkpointer commits the layers to bbolt in one ordinary, synced
// transaction every CheckpointInterval or CheckpointWrites, then releases the log segments they cover; bbolt
// is never written unsynced, so its file is always whole. Reads see the layers over a bbolt snapshot at one
// revision. Open replays the log records above bbolt's revision into bbolt (a torn last record was never
// acknowledged and is ignored); Close checkpoints everything, so a clean shutdown leaves bbolt complete.
//
// An in-memory window of recent events feeds watchers. Watches from older revisions replay the persisted
// log (and the layers), so they work across a restart of the process until the history is compacted.
//
// Values handed out in events are shared between watchers: callers must not modify them.
package bolt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/peapod-dev/peapod/internal/storage"
	"github.com/peapod-dev/peapod/internal/storage/bolt/wal"
)

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("bolt: store closed")

// Options tune a Store. Zero values take the defaults given on each field.
type Options struct {
	// HistoryRevisions is how many of the latest revisions background compaction keeps (default 100,000).
	HistoryRevisions int64
	// HistoryDuration is how long background compaction keeps history (default 1 hour). Compaction keeps
	// whichever of HistoryRevisions and HistoryDuration holds more.
	HistoryDuration time.Duration
	// CompactInterval is how often background compaction runs (default 1 minute; negative disables it).
	CompactInterval time.Duration
	// WindowSize is how many recent events stay in memory for watchers (default 10,000). Older history is
	// read from disk.
	WindowSize int
	// WatchQueueLength is how many undelivered events one watcher may hold when more arrive; beyond it the
	// watch ends with storage.ErrWatchTooSlow (default 1,000). A watcher also buffers 64 events in its channel.
	WatchQueueLength int
	// MaxBatch is the most writes committed in one write-ahead log record (default 1,000).
	MaxBatch int
	// CheckpointInterval is how often the writes held in memory and in the write-ahead log are committed to
	// the bbolt file (default 100 ms; negative: only when CheckpointWrites have accumulated, and at Close).
	CheckpointInterval time.Duration
	// CheckpointWrites starts a checkpoint as soon as this many writes wait for one (default 5,000). It
	// bounds the memory the layers hold and the replay after a crash.
	CheckpointWrites int
	// WALSegmentSize is the size of one preallocated write-ahead log file (default 8 MiB; a new store's first
	// one is at most 1 MiB, so that opening a store stays cheap). A batch larger than a segment is written
	// anyway, growing the file.
	WALSegmentSize int64
	// Logger receives background errors (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock, for tests of time-based retention (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.HistoryRevisions <= 0 {
		o.HistoryRevisions = 100_000
	}
	if o.HistoryDuration <= 0 {
		o.HistoryDuration = time.Hour
	}
	if o.CompactInterval == 0 {
		o.CompactInterval = time.Minute
	}
	if o.WindowSize <= 0 {
		o.WindowSize = 10_000
	}
	if o.WatchQueueLength <= 0 {
		o.WatchQueueLength = 1_000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1_000
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 100 * time.Millisecond
	}
	if o.CheckpointWrites <= 0 {
		o.CheckpointWrites = 5_000
	}
	if o.WALSegmentSize <= 0 {
		o.WALSegmentSize = 8 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// defaultLockTimeout bounds the wait for the file lock when Open's context has no deadline: a second server
// on the same data directory should fail, not hang.
const defaultLockTimeout = 2 * time.Second

// initialMmapSize is address space, not memory: mapping ahead means a growing file does not remap, and a
// remap would wait for every open read transaction, stalling writes behind long lists.
const initialMmapSize = 1 << 30

// Store is the bbolt-backed storage.Store.
type Store struct {
	db    *bbolt.DB
	wal   *wal.Log
	logID uint64 // names the write-ahead log of this bbolt file
	opts  Options

	writes        chan *writeRequest // to the committer
	committerDone chan struct{}      // closed when the committer has exited
	life          context.Context    // cancelled by Close: background goroutines and watchers end
	end           context.CancelFunc
	wg            sync.WaitGroup // committer, compactor and watcher goroutines
	compactMu     sync.Mutex     // one compaction at a time
	checkpointMu  sync.Mutex     // one checkpoint at a time
	checkpointNow chan struct{}  // capacity 1: the committer asks for a checkpoint

	closeOnce sync.Once
	closeErr  error

	// stateMu guards what reads see: the layers of logged writes not yet checkpointed (oldest first, the
	// last one active) and the revision of the newest of them. The committer adds a batch once it is durable.
	stateMu sync.RWMutex
	layers  []*layer
	applied int64

	// mu guards the published state: what watchers and Revision see. The committer publishes a batch under
	// mu after it is durable and readable.
	mu        sync.Mutex
	closed    bool
	revision  int64 // last published revision
	compacted int64 // history at or below this revision is gone
	window    eventWindow
	watchers  map[*watcher]struct{}
}

var _ storage.Store = (*Store)(nil)

// Open opens or creates the database at path, with its write-ahead log in the directory path+".wal", and
// starts the writer, the checkpointer and background compaction.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory for %s: %w", path, err)
	}
	timeout := defaultLockTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: timeout,
		// The freelist is rebuilt on open instead of written on every commit: less I/O per write, same
		// durability (etcd runs bbolt the same way).
		NoFreelistSync:  true,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: initialMmapSize,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	life, end := context.WithCancel(context.Background())
	s := &Store{
		db:            db,
		opts:          opts,
		writes:        make(chan *writeRequest, opts.MaxBatch),
		committerDone: make(chan struct{}),
		checkpointNow: make(chan struct{}, 1),
		life:          life,
		end:           end,
		window:        newEventWindow(opts.WindowSize),
		watchers:      make(map[*watcher]struct{}),
	}
	if err := s.load(); err != nil {
		end()
		return nil, errors.Join(fmt.Errorf("open %s: %w", path, err), db.Close())
	}
	if s.wal, err = s.recover(ctx, path+".wal"); err != nil {
		end()
		return nil, errors.Join(fmt.Errorf("open %s: %w", path, err), db.Close())
	}
	s.applied = s.revision
	s.layers = []*layer{newLayer(s.revision)}
	s.window.reset(s.revision)
	s.wg.Add(3)
	go s.commitLoop()
	go s.checkpointLoop()
	go func() {
		defer s.wg.Done()
		s.wal.Run(life)
	}()
	if opts.CompactInterval > 0 {
		s.wg.Add(1)
		go s.compactLoop()
	}
	return s, nil
}

// recover puts the writes logged in dir above bbolt's revision into bbolt, in one synced transaction, and
// opens the write-ahead log for the writes that follow.
func (s *Store) recover(ctx context.Context, dir string) (*wal.Log, error) {
	opts := wal.Options{ID: s.logID, SegmentSize: s.opts.WALSegmentSize, Logger: s.opts.Logger}
	return wal.Open(ctx, dir, s.revision, opts, func(records []wal.Record) error {
		replayed := newLayer(s.revision)
		for _, rec := range records {
			entries, err := decodeBatch(rec.Data, rec.Count)
			if err != nil {
				return fmt.Errorf("write-ahead log record at revision %d: %w", rec.First, err)
			}
			// A record may begin at or below bbolt's revision; only what follows it is replayed.
			for i, e := range entries {
				if rec.First+int64(i) > replayed.last() {
					replayed.add(e)
				}
			}
		}
		if len(replayed.entries) == 0 {
			return nil
		}
		if err := s.db.Update(func(tx *bbolt.Tx) error { return writeLayers(tx, []*layer{replayed}) }); err != nil {
			return fmt.Errorf("replay %d logged writes: %w", len(replayed.entries), err)
		}
		s.opts.Logger.Info("storage replayed the write-ahead log", "writes", len(replayed.entries), "from", s.revision+1, "to", replayed.last())
		s.revision = replayed.last()
		return nil
	})
}

// load creates the buckets of a new file and reads the revisions of an existing one.
func (s *Store) load() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketKeys, bucketLog, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if format := meta.Get(metaFormat); format == nil {
			if err := meta.Put(metaFormat, revisionKey(formatVersion)); err != nil {
				return fmt.Errorf("write format: %w", err)
			}
		} else if v, err := decodeRevisionKey(format); err != nil || v != formatVersion {
			return fmt.Errorf("unsupported data format %x", format)
		}
		id := meta.Get(metaLogID)
		if id == nil {
			id = make([]byte, 8)
			_, _ = rand.Read(id) // never fails
			if err := meta.Put(metaLogID, id); err != nil {
				return fmt.Errorf("write log id: %w", err)
			}
		}
		if len(id) != 8 {
			return fmt.Errorf("%w: log id of %d bytes", errCorrupt, len(id))
		}
		s.logID = binary.BigEndian.Uint64(id)
		var err error
		if s.revision, err = readMetaRevision(meta, metaRevision); err != nil {
			return err
		}
		s.compacted, err = readMetaRevision(meta, metaCompacted)
		return err
	})
}

func readMetaRevision(meta *bbolt.Bucket, name []byte) (int64, error) {
	b := meta.Get(name)
	if b == nil {
		return 0, nil
	}
	rev, err := decodeRevisionKey(b)
	if err != nil {
		return 0, fmt.Errorf("meta %s: %w", name, err)
	}
	return rev, nil
}

// Close stops the writer (queued writes fail with ErrClosed), background work and every watch, checkpoints
// every logged write into bbolt, then closes the files.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.end()
		s.wg.Wait()
		// If the checkpoint fails, the writes are still in the log for the next Open.
		s.closeErr = errors.Join(s.checkpoint(), s.wal.Close(), s.db.Close())
	})
	return s.closeErr
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Get returns the current value of key.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	if err := s.readable(ctx); err != nil {
		return storage.KeyValue{}, err
	}
	s.stateMu.RLock()
	k, found := lookupLayers(s.layers, key)
	var (
		tx  *bbolt.Tx
		err error
	)
	if !found {
		tx, err = s.beginRead()
	}
	s.stateMu.RUnlock()
	switch {
	case err != nil:
		return storage.KeyValue{}, err
	case found && k.deleted:
		return storage.KeyValue{}, storage.ErrNotFound
	case found:
		return k.keyValue(key), nil
	}
	defer tx.Rollback()
	b := tx.Bucket(bucketKeys).Get([]byte(key))
	if b == nil {
		return storage.KeyValue{}, storage.ErrNotFound
	}
	r, err := decodeRecord(b)
	if err != nil {
		return storage.KeyValue{}, fmt.Errorf("key %q: %w", key, err)
	}
	return storage.KeyValue{Key: key, Value: r.value, CreateRevision: r.createRevision, ModRevision: r.modRevision}, nil
}

// readPrefix takes, at one revision, the layers' state of the keys under prefix (and those keys in order)
// and a bbolt transaction to read the rest from.
func (s *Store) readPrefix(prefix string) (rev int64, over map[string]keyState, overKeys []string, tx *bbolt.Tx, err error) {
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	over, overKeys = prefixState(s.layers, prefix)
	tx, err = s.beginRead()
	return s.applied, over, overKeys, tx, err
}

// List returns every key with the prefix, in key order, from one snapshot, and that snapshot's revision.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.KeyValue, int64, error) {
	if err := s.readable(ctx); err != nil {
		return nil, 0, err
	}
	rev, over, overKeys, tx, err := s.readPrefix(prefix)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var kvs []storage.KeyValue
	// Merge the layers' keys (overKeys, sorted) into bbolt's, the layers winning.
	emitOver := func(k string) {
		if v := over[k]; !v.deleted {
			kvs = append(kvs, v.keyValue(k))
		}
	}
	p := []byte(prefix)
	c := tx.Bucket(bucketKeys).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if len(kvs)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		for len(overKeys) > 0 && overKeys[0] < string(k) {
			emitOver(overKeys[0])
			overKeys = overKeys[1:]
		}
		if len(overKeys) > 0 && overKeys[0] == string(k) {
			emitOver(overKeys[0])
			overKeys = overKeys[1:]
			continue
		}
		r, err := decodeRecord(v)
		if err != nil {
			return nil, 0, fmt.Errorf("key %q: %w", k, err)
		}
		kvs = append(kvs, storage.KeyValue{Key: string(k), Value: r.value, CreateRevision: r.createRevision, ModRevision: r.modRevision})
	}
	for _, k := range overKeys {
		emitOver(k)
	}
	return kvs, rev, nil
}

// Count returns how many keys have the prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	if err := s.readable(ctx); err != nil {
		return 0, err
	}
	_, over, _, tx, err := s.readPrefix(prefix)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	for _, v := range over {
		if !v.deleted {
			n++
		}
	}
	p := []byte(prefix)
	c := tx.Bucket(bucketKeys).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		if _, ok := over[string(k)]; !ok {
			n++
		}
	}
	return n, nil
}

// Revision returns the last committed revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.readable(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revision, nil
}

func (s *Store) readable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return ErrClosed
	}
	return nil
}

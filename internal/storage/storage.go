// Package storage defines the persistence seam of the API server: a revisioned key-value store with watch.
//
// Values are opaque bytes (the API layer stores Kubernetes protobuf). Every successful write gets a new,
// strictly increasing cluster-wide revision; an object's resourceVersion is the ModRevision of its key.
// The embedded implementation lives in storage/bolt; a real etcd cluster implements the same contract.
package storage

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("storage: key not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("storage: key already exists")
	// ErrConflict: Update or Delete was given an expected ModRevision that is not the key's current one.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrWatchTooSlow ends a watch whose consumer could not keep up; the client must re-list.
	ErrWatchTooSlow = errors.New("storage: watcher fell too far behind")
)

// CompactedError reports that a watch asked for history that has been compacted away.
type CompactedError struct {
	Requested int64 // the revision the watch wanted to start after
	Oldest    int64 // the oldest revision still available
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("storage: revision %d has been compacted (oldest available %d)", e.Requested, e.Oldest)
}

// KeyValue is one stored key at one revision.
type KeyValue struct {
	Key            string
	Value          []byte
	CreateRevision int64 // revision of the write that created the key
	ModRevision    int64 // revision of the last write to the key (for a delete event: the delete's revision)
}

// EventType says what happened to a key.
type EventType int

const (
	EventPut      EventType = iota + 1 // key created or updated
	EventDelete                        // key deleted; KV.Value holds the last value before deletion
	EventProgress                      // no change; every change up to Revision has been delivered on this watch
	EventError                         // the watch ends; Err says why; the channel is closed after it
)

// Event is one entry of a watch stream.
type Event struct {
	Type     EventType
	KV       KeyValue  // the key after the change (Put) or as it was before deletion, with ModRevision = delete revision
	PrevKV   *KeyValue // the previous value for updates and deletes, nil for creates
	Revision int64     // the revision this event happened at (for Progress: the revision reached)
	Err      error     // set only for EventError
}

// WatchOptions tune a watch.
type WatchOptions struct {
	// ProgressInterval, if non-zero, asks the store to send an EventProgress at least this often while idle.
	ProgressInterval int64 // nanoseconds (time.Duration)
}

// Store is a revisioned key-value store with ordered, gap-free watches.
type Store interface {
	// Get returns the current value of key, or ErrNotFound.
	Get(ctx context.Context, key string) (KeyValue, error)
	// List returns every key with the prefix, sorted by key, and the revision of that consistent snapshot.
	List(ctx context.Context, prefix string) ([]KeyValue, int64, error)
	// Count returns how many keys have the prefix.
	Count(ctx context.Context, prefix string) (int64, error)
	// Create stores a new key; ErrExists if present. Returns the new revision. Durable (fsynced) on return.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update replaces key's value. expectedModRevision 0 means unconditional; otherwise ErrConflict if the key's
	// ModRevision differs. ErrNotFound if absent. Returns the new revision. Durable on return.
	Update(ctx context.Context, key string, value []byte, expectedModRevision int64) (int64, error)
	// Delete removes key (same precondition rule as Update) and returns the deleted KeyValue and the new revision.
	Delete(ctx context.Context, key string, expectedModRevision int64) (KeyValue, int64, error)
	// Watch streams every change to keys with the prefix whose revision is greater than afterRevision, in
	// revision order, without gaps, until ctx ends (then the channel closes). afterRevision 0 means "from now".
	// If the history needed is compacted it returns a *CompactedError. A consumer that falls too far behind
	// gets a final EventError with ErrWatchTooSlow: events are never dropped silently.
	Watch(ctx context.Context, prefix string, afterRevision int64, opts WatchOptions) (<-chan Event, error)
	// Revision returns the store's current revision.
	Revision(ctx context.Context) (int64, error)
	// Compact discards history at or below rev; later watches from below rev fail with *CompactedError.
	Compact(ctx context.Context, rev int64) error
	// Close releases the store. Watches end.
	Close() error
}

package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/peapod-dev/peapod/internal/storage"
	"github.com/peapod-dev/peapod/internal/storage/storagetest"
)

// openTest opens a store in a fresh directory and closes it when the test ends.
func openTest(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		// A window smaller than the tests' histories sends watches through the disk-to-memory hand-off.
		{"small window and queue", Options{WindowSize: 4, WatchQueueLength: 16}},
		// Checkpoints after almost every write and tiny segments: reads and watches cross from the layers to
		// bbolt all the time, and the log rolls and recycles its files.
		{"constant checkpoints", Options{WindowSize: 4, CheckpointInterval: time.Millisecond, CheckpointWrites: 3, WALSegmentSize: 4 << 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) (storage.Store, func(t *testing.T) storage.Store) {
				path := filepath.Join(t.TempDir(), "db")
				s := openTest(t, path, tc.opts)
				return s, func(t *testing.T) storage.Store {
					if err := s.Close(); err != nil {
						t.Fatalf("Close before reopen: %v", err)
					}
					s = openTest(t, path, tc.opts)
					return s
				}
			})
		})
	}
}

// TestWindowAndLogAgree checks that a watch served from the in-memory window and one replayed from disk see
// the same events, with a window smaller than the history so that one watch crosses from disk to memory.
func TestWindowAndLogAgree(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{WindowSize: 8})
	ctx := t.Context()
	for i := range 20 {
		key := fmt.Sprintf("/x/%d", i%4)
		var err error
		if i < 4 {
			_, err = s.Create(ctx, key, []byte(fmt.Sprint(i)))
		} else if i%7 == 0 {
			_, _, err = s.Delete(ctx, key, 0)
			if err == nil {
				_, err = s.Create(ctx, key, []byte(fmt.Sprint(i)))
			}
		} else {
			_, err = s.Update(ctx, key, []byte(fmt.Sprint(i)), 0)
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	end, _ := s.Revision(ctx)
	fromDisk, err := s.readLog(1, end, "/x/")
	if err != nil {
		t.Fatalf("readLog: %v", err)
	}
	if int64(len(fromDisk)) != end {
		t.Fatalf("log holds %d events, want %d", len(fromDisk), end)
	}
	s.mu.Lock()
	for rev := end - 7; rev <= end; rev++ {
		live, disk := s.window.at(rev), fromDisk[rev-1]
		if eventString(live) != eventString(disk) {
			t.Errorf("revision %d: window %s, log %s", rev, eventString(live), eventString(disk))
		}
	}
	s.mu.Unlock()
	// A watch from revision 1 starts on disk (the window holds 8) and must continue in memory without a seam.
	events, err := s.Watch(ctx, "/x/", 1, storage.WatchOptions{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	for want := int64(2); want <= end; want++ {
		select {
		case ev := <-events:
			if ev.Revision != want {
				t.Fatalf("watch across the window edge: revision %d, want %d", ev.Revision, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for revision %d", want)
		}
	}
}

func TestBackgroundCompaction(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		keepRevisions int64
		keepFor       time.Duration
		age           time.Duration // how old the writes are when compaction runs
		wantCompacted int64
	}{
		{"count allows, time forbids", 5, time.Hour, time.Minute, 0},
		{"both allow", 5, time.Minute, time.Hour, 15},
		{"time allows, count forbids", 30, time.Minute, time.Hour, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var age atomic.Int64
			s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{
				HistoryRevisions: tc.keepRevisions, HistoryDuration: tc.keepFor, CompactInterval: 5 * time.Millisecond,
				Now: func() time.Time { return start.Add(time.Duration(age.Load())) },
			})
			for i := range 20 {
				if _, err := s.Create(t.Context(), fmt.Sprintf("/b/%d", i), []byte("x")); err != nil {
					t.Fatalf("Create: %v", err)
				}
			}
			age.Store(int64(tc.age))
			if tc.wantCompacted == 0 {
				target, err := s.retentionTarget()
				if err != nil || target != 0 {
					t.Fatalf("retention target = %d, %v; want none", target, err)
				}
				return
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				s.mu.Lock()
				compacted := s.compacted
				s.mu.Unlock()
				if compacted == tc.wantCompacted {
					break
				}
				if compacted > tc.wantCompacted || time.Now().After(deadline) {
					t.Fatalf("background compaction reached %d, want %d", compacted, tc.wantCompacted)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestCompactDeletesLogAndPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, Options{})
	ctx := t.Context()
	const writes = compactChunk*2 + 10 // several deletion transactions
	keys := make([]string, writes)
	for i := range keys {
		keys[i] = fmt.Sprintf("/k/%05d", i)
	}
	createAll(t, s, keys, []byte("x"))
	if err := s.Compact(ctx, writes-5); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if err := s.Compact(ctx, writes+1); err == nil {
		t.Errorf("Compact beyond the current revision succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openTest(t, path, Options{})
	var compacted *storage.CompactedError
	if _, err := s.Watch(ctx, "/k/", writes-6, storage.WatchOptions{}); !errors.As(err, &compacted) {
		t.Fatalf("Watch below the compaction after reopen: err = %v, want *CompactedError", err)
	}
	events, err := s.readLog(writes-4, writes, "")
	if err != nil || len(events) != 5 {
		t.Fatalf("readLog after compaction = %d events, %v; want 5", len(events), err)
	}
	if n, err := s.Count(ctx, "/k/"); err != nil || n != writes {
		t.Errorf("Count after compaction = %d, %v; want %d", n, err, writes)
	}
	var remaining int
	_ = s.db.View(func(tx *bbolt.Tx) error {
		remaining = tx.Bucket(bucketLog).Stats().KeyN
		return nil
	})
	if remaining != 5 {
		t.Errorf("log holds %d entries after compaction, want 5", remaining)
	}
}

func TestCloseEndsWatchesAndWrites(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	events, err := s.Watch(t.Context(), "/", 0, storage.WatchOptions{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case _, open := <-events:
		if open {
			t.Errorf("watch sent an event after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("watch channel still open after Close")
	}
	if _, err := s.Create(t.Context(), "/a", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Create after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Get(t.Context(), "/a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: err = %v, want ErrClosed", err)
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	openTest(t, path, Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if s, err := Open(ctx, path, Options{}); err == nil {
		s.Close()
		t.Fatal("a second Open of a locked database succeeded")
	}
}

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		rev   int64
		entry logEntry
	}{
		{"create", 7, logEntry{eventType: storage.EventPut, unixNano: 42, key: "/a", createRevision: 7, value: []byte("v")}},
		{"update", 9, logEntry{eventType: storage.EventPut, unixNano: -1, key: "/a", createRevision: 7, prevModRev: 8, value: []byte("new"), prevValue: []byte("old")}},
		{"delete", 10, logEntry{eventType: storage.EventDelete, key: "/a", createRevision: 7, prevModRev: 9, prevValue: []byte("new")}},
		{"empty values", 3, logEntry{eventType: storage.EventPut, key: "/e", createRevision: 2, prevModRev: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeEvent(tc.rev, encodeLogEntry(tc.entry))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := buildEvent(tc.rev, tc.entry)
			if eventString(got) != eventString(want) {
				t.Errorf("round trip = %s, want %s", eventString(got), eventString(want))
			}
		})
	}
	for _, corrupt := range [][]byte{nil, {byte(storage.EventPut)}, {9, 0, 0, 0, 0}, {byte(storage.EventPut), 0, 0, 0, 5, 'a'}} {
		if _, err := decodeEvent(1, corrupt); !errors.Is(err, errCorrupt) {
			t.Errorf("decode %v: err = %v, want errCorrupt", corrupt, err)
		}
	}
}

// createAll creates keys with value concurrently, so that setup of large stores rides on group commit.
func createAll(tb testing.TB, s *Store, keys []string, value []byte) {
	tb.Helper()
	const workers = 64
	todo := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range todo {
				if _, err := s.Create(context.Background(), key, value); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, k := range keys {
		todo <- k
	}
	close(todo)
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("Create: %v", err)
	}
}

// eventString shows an event with the contents of PrevKV, for comparisons.
func eventString(ev storage.Event) string {
	kv := func(kv storage.KeyValue) string {
		return fmt.Sprintf("{%s %q create %d mod %d}", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
	}
	prev := "nil"
	if ev.PrevKV != nil {
		prev = kv(*ev.PrevKV)
	}
	return fmt.Sprintf("type %d at %d: %s prev %s err %v", ev.Type, ev.Revision, kv(ev.KV), prev, ev.Err)
}

package bolt

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/peapod-dev/peapod/internal/storage"
	"github.com/peapod-dev/peapod/internal/storage/bolt/wal"
)

// noCheckpoints keeps every write in the layers and the log until Close, as if the process died before its
// first checkpoint.
var noCheckpoints = Options{CheckpointInterval: -1, CheckpointWrites: 1 << 30}

// crashImage copies the files of the store at path, open or not, to a new directory and returns the copy's
// path: what a kill -9 at this instant would leave (the copy reads the page cache, as a restart would).
func crashImage(t *testing.T, path string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "db")
	copyFile(t, path, img)
	if err := os.Mkdir(img+".wal", 0o700); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(path + ".wal")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range names {
		b, err := os.ReadFile(filepath.Join(path+".wal", d.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // renamed or removed since the listing (a segment being prepared): the crash came before
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(img+".wal", d.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// boltRevision reads the revision the bbolt file alone holds, with the store closed or never opened on it.
func boltRevision(t *testing.T, path string) (rev int64, keys, logEntries int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open bbolt file: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		var err error
		rev, err = readMetaRevision(tx.Bucket(bucketMeta), metaRevision)
		keys = tx.Bucket(bucketKeys).Stats().KeyN
		logEntries = tx.Bucket(bucketLog).Stats().KeyN
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rev, keys, logEntries
}

// writeHistory makes creates, updates, deletes and a re-create under /h/, calling between(i) after the
// i-th write, and returns the events a watch saw live.
func writeHistory(t *testing.T, s *Store, between func(i int)) []storage.Event {
	t.Helper()
	ctx := t.Context()
	events := mustWatchStore(t, s, "/h/", 0)
	writes := []func() error{
		func() error { _, err := s.Create(ctx, "/h/a", []byte("a1")); return err },
		func() error { _, err := s.Create(ctx, "/h/b", []byte("b1")); return err },
		func() error { _, err := s.Create(ctx, "/h/c", []byte("c1")); return err },
		func() error { _, err := s.Update(ctx, "/h/a", []byte("a2"), 1); return err },
		func() error { _, _, err := s.Delete(ctx, "/h/b", 0); return err },
		func() error { _, err := s.Create(ctx, "/h/b", []byte("b2")); return err },
		func() error { _, err := s.Update(ctx, "/h/c", []byte("c2"), 0); return err },
		func() error { _, err := s.Create(ctx, "/h/d", []byte("d1")); return err },
	}
	for i, write := range writes {
		if err := write(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		between(i + 1)
	}
	var live []storage.Event
	for len(live) < len(writes) {
		select {
		case ev := <-events:
			live = append(live, ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("live watch got %d of %d events", len(live), len(writes))
		}
	}
	return live
}

func mustWatchStore(t *testing.T, s *Store, prefix string, after int64) <-chan storage.Event {
	t.Helper()
	events, err := s.Watch(t.Context(), prefix, after, storage.WatchOptions{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	return events
}

func TestCrashBeforeCheckpointReplaysLog(t *testing.T) {
	tests := []struct {
		name            string
		checkpointAfter int // the write after which a checkpoint runs (0: none)
	}{
		{"nothing checkpointed", 0},
		{"half checkpointed", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			s := openTest(t, path, noCheckpoints)
			live := writeHistory(t, s, func(i int) {
				if i == tc.checkpointAfter {
					if err := s.checkpoint(); err != nil {
						t.Fatalf("checkpoint: %v", err)
					}
				}
			})
			wantKVs, _, err := s.List(t.Context(), "/h/")
			if err != nil {
				t.Fatal(err)
			}
			img := crashImage(t, path)
			if rev, _, _ := boltRevision(t, img); rev != int64(tc.checkpointAfter) {
				t.Fatalf("the crashed bbolt file is at revision %d, want %d: the test needs writes only in the log", rev, tc.checkpointAfter)
			}

			// A small window sends watches from old revisions to the persisted log.
			r := openTest(t, img, Options{WindowSize: 2})
			if rev, _ := r.Revision(t.Context()); rev != int64(len(live)) {
				t.Fatalf("Revision after replay = %d, want %d", rev, len(live))
			}
			gotKVs, rev, err := r.List(t.Context(), "/h/")
			if err != nil || rev != int64(len(live)) {
				t.Fatalf("List after replay: revision %d, %v", rev, err)
			}
			if fmt.Sprint(kvStrings(gotKVs)) != fmt.Sprint(kvStrings(wantKVs)) {
				t.Errorf("List after replay = %v, want %v", kvStrings(gotKVs), kvStrings(wantKVs))
			}
			replayed, err := r.readLog(1, int64(len(live)), "/h/")
			if err != nil {
				t.Fatalf("readLog after replay: %v", err)
			}
			events := mustWatchStore(t, r, "/h/", 1)
			for i, want := range live {
				if got := eventString(replayed[i]); got != eventString(want) {
					t.Errorf("persisted log at %d = %s, want %s", i+1, got, eventString(want))
				}
				if i == 0 {
					continue
				}
				select {
				case ev := <-events:
					if eventString(ev) != eventString(want) {
						t.Errorf("watch from 1 replayed %s, want %s", eventString(ev), eventString(want))
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("watch from 1 stalled at event %d", i)
				}
			}
		})
	}
}

func kvStrings(kvs []storage.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, fmt.Sprintf("%s=%s@%d/%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision))
	}
	return out
}

// TestTornLogTailIsDropped tears the record of the last write as a crash in the middle of its write would,
// and expects the store to come back without it and to give its revision to the next write. The record is
// found as the bytes in which crash images before and after that write differ.
func TestTornLogTailIsDropped(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(record []byte)
	}{
		{"second half never written", func(b []byte) { clear(b[len(b)/2:]) }},
		{"only the start written", func(b []byte) { clear(b[8:]) }},
		{"flipped bit", func(b []byte) { b[len(b)-3] ^= 0x10 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "db")
			s := openTest(t, path, noCheckpoints)
			for i := range 5 {
				if _, err := s.Create(ctx, fmt.Sprintf("/t/%d", i), []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			before := crashImage(t, path)
			if _, err := s.Create(ctx, "/t/torn", []byte(strings.Repeat("y", 300))); err != nil {
				t.Fatal(err)
			}
			img := crashImage(t, path)
			tearLastRecord(t, before+".wal", img+".wal", tc.corrupt)

			r := openTest(t, img, noCheckpoints)
			if rev, _ := r.Revision(ctx); rev != 5 {
				t.Fatalf("Revision after a torn last record = %d, want 5", rev)
			}
			if _, err := r.Get(ctx, "/t/torn"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the torn write is visible: %v", err)
			}
			// The revision of the lost write is given again; a second crash must not bring the torn bytes back.
			if rev, err := r.Create(ctx, "/t/after", []byte("z")); err != nil || rev != 6 {
				t.Fatalf("Create after recovery = %d, %v; want 6", rev, err)
			}
			again := openTest(t, crashImage(t, img), Options{})
			if rev, _ := again.Revision(ctx); rev != 6 {
				t.Fatalf("Revision after the second crash = %d, want 6", rev)
			}
			if kv, err := again.Get(ctx, "/t/after"); err != nil || kv.ModRevision != 6 {
				t.Fatalf("Get /t/after = %+v, %v", kv, err)
			}
			if _, err := again.Get(ctx, "/t/torn"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the torn write came back: %v", err)
			}
			if events, err := again.readLog(1, 6, ""); err != nil || len(events) != 6 {
				t.Fatalf("event log = %d events, %v; want 6", len(events), err)
			}
		})
	}
}

// tearLastRecord finds the one log file of dir that differs from its copy in beforeDir, and corrupts the
// differing bytes: the record written in between.
func tearLastRecord(t *testing.T, beforeDir, dir string, corrupt func([]byte)) {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	torn := 0
	for _, d := range names {
		after, err := os.ReadFile(filepath.Join(dir, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		before, err := os.ReadFile(filepath.Join(beforeDir, d.Name()))
		if err != nil || len(before) != len(after) {
			t.Fatalf("log file %s changed size or appeared (%v): the test expects one record in place", d.Name(), err)
		}
		start, end := 0, len(after)
		for start < end && before[start] == after[start] {
			start++
		}
		for end > start && before[end-1] == after[end-1] {
			end--
		}
		if start == end {
			continue
		}
		torn++
		corrupt(after[start:end])
		if err := os.WriteFile(filepath.Join(dir, d.Name()), after, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if torn != 1 {
		t.Fatalf("%d log files changed with the last write, want 1", torn)
	}
}

func TestLogSegmentsRecycledAfterCheckpoint(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, Options{CheckpointInterval: -1, CheckpointWrites: 20, WALSegmentSize: 16 << 10})
	keys := make([]string, 1500)
	for i := range keys {
		keys[i] = fmt.Sprintf("/s/%04d", i)
	}
	// ~500 KiB of log: some thirty segments.
	createAll(t, s, keys, []byte(strings.Repeat("v", 300)))
	if err := s.checkpoint(); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	// Once everything is checkpointed, only the active segment, a ready one and a few reusable remain.
	const wantMax = 4
	deadline := time.Now().Add(10 * time.Second)
	for n := countSegments(t, path+".wal"); n > wantMax; n = countSegments(t, path+".wal") {
		if time.Now().After(deadline) {
			t.Fatalf("%d log segment files remain after the checkpoint, want at most %d", n, wantMax)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Reused files hold records of their past lives: a replay must not take them for new ones.
	for i := range 50 {
		if _, err := s.Update(ctx, keys[i], []byte("new"), 0); err != nil {
			t.Fatal(err)
		}
	}
	r := openTest(t, crashImage(t, path), Options{})
	if rev, _ := r.Revision(ctx); rev != int64(len(keys)+50) {
		t.Fatalf("Revision after replay = %d, want %d", rev, len(keys)+50)
	}
	if n, err := r.Count(ctx, "/s/"); err != nil || n != int64(len(keys)) {
		t.Fatalf("Count after replay = %d, %v", n, err)
	}
	if kv, err := r.Get(ctx, keys[49]); err != nil || string(kv.Value) != "new" {
		t.Fatalf("Get after replay = %q, %v", kv.Value, err)
	}
}

func countSegments(t *testing.T, dir string) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

func TestRecreatedStoreIgnoresOldLog(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "db")
	s := openTest(t, path, noCheckpoints)
	if _, err := s.Create(ctx, "/old/1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	img := crashImage(t, path)
	// The bbolt file is deleted, as to start afresh, and the log beside it forgotten.
	if err := os.Remove(img); err != nil {
		t.Fatal(err)
	}
	r := openTest(t, img, Options{})
	if rev, _ := r.Revision(ctx); rev != 0 {
		t.Fatalf("a new store beside an old log starts at revision %d, want 0", rev)
	}
	if _, err := r.Get(ctx, "/old/1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a new store replayed another store's log: Get = %v", err)
	}
}

func TestCleanCloseLeavesBoltComplete(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(ctx, path, noCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	const writes = 30
	keys := make([]string, writes)
	for i := range keys {
		keys[i] = fmt.Sprintf("/cc/%02d", i)
	}
	createAll(t, s, keys, []byte("x"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if rev, n, logN := boltRevision(t, path); rev != writes || n != writes || logN != writes {
		t.Fatalf("bbolt after a clean close: revision %d, %d keys, %d log entries; want %d of each", rev, n, logN, writes)
	}
	// Opening the log retires it as the store's Open would.
	log, err := wal.Open(ctx, path+".wal", writes, wal.Options{ID: s.logID, SegmentSize: 1 << 20, Logger: slog.Default()}, func(records []wal.Record) error {
		if len(records) != 0 {
			return fmt.Errorf("the log after a clean close holds %d records above bbolt's revision, want none", len(records))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T)
	}{
		{"log kept", func(*testing.T) {}},
		{"log removed", func(t *testing.T) {
			if err := os.RemoveAll(path + ".wal"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare(t)
			r, err := Open(ctx, path, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer func() {
				if err := r.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			if rev, _ := r.Revision(ctx); rev != writes {
				t.Fatalf("Revision = %d, want %d", rev, writes)
			}
			if n, err := r.Count(ctx, "/cc/"); err != nil || n != writes {
				t.Fatalf("Count = %d, %v", n, err)
			}
			if events, err := r.readLog(1, writes, "/cc/"); err != nil || len(events) != writes {
				t.Fatalf("event log = %d events, %v", len(events), err)
			}
		})
	}
}

// TestReadsDuringCheckpoints reads from many goroutines while checkpoints move writes from the layers to
// bbolt as fast as they can; run it with -race.
func TestReadsDuringCheckpoints(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "db"), Options{CheckpointInterval: time.Millisecond, CheckpointWrites: 5, WALSegmentSize: 32 << 10})
	const writers, perWriter, readers = 4, 150, 3
	var (
		ackMu   sync.Mutex
		acked   []storage.KeyValue // each key's create, in no order
		writeWG sync.WaitGroup
		readWG  sync.WaitGroup
		stop    = make(chan struct{})
	)
	end := int64(writers * perWriter * 2)
	watched := make(chan error, 1)
	events := mustWatchStore(t, s, "/rc/", 0)
	go func() {
		for next := int64(1); next <= end; next++ {
			select {
			case ev := <-events:
				if ev.Revision != next {
					watched <- fmt.Errorf("watch got revision %d (%v), want %d", ev.Revision, ev.Err, next)
					return
				}
			case <-time.After(10 * time.Second):
				watched <- fmt.Errorf("watch stalled at revision %d", next)
				return
			}
		}
		watched <- nil
	}()
	for w := range writers {
		writeWG.Add(1)
		go func() {
			defer writeWG.Done()
			for i := range perWriter {
				key := fmt.Sprintf("/rc/%d/%03d", w, i)
				rev, err := s.Create(ctx, key, []byte("created"))
				if err == nil {
					_, err = s.Update(ctx, key, []byte("updated"), rev)
				}
				if err != nil {
					t.Errorf("write %s: %v", key, err)
					return
				}
				ackMu.Lock()
				acked = append(acked, storage.KeyValue{Key: key, CreateRevision: rev})
				ackMu.Unlock()
			}
		}()
	}
	for range readers {
		readWG.Add(1)
		go func() {
			defer readWG.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ackMu.Lock()
				var probe storage.KeyValue
				if len(acked) > 0 {
					probe = acked[n%len(acked)]
				}
				ackMu.Unlock()
				if probe.Key != "" {
					kv, err := s.Get(ctx, probe.Key)
					if err != nil || kv.CreateRevision != probe.CreateRevision || string(kv.Value) != "updated" {
						t.Errorf("Get %s (created at %d, updated) = %+v, %v", probe.Key, probe.CreateRevision, kv, err)
						return
					}
				}
				kvs, rev, err := s.List(ctx, "/rc/")
				if err != nil {
					t.Errorf("List: %v", err)
					return
				}
				for _, kv := range kvs {
					// Each key's update follows its create at once, so a snapshot holds either the create or the
					// update, never a revision past its own.
					want := "created"
					if kv.ModRevision != kv.CreateRevision {
						want = "updated"
					}
					if kv.ModRevision > rev || string(kv.Value) != want {
						t.Errorf("List at %d: %s = %q at %d/%d", rev, kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
						return
					}
				}
				if _, err := s.Count(ctx, "/rc/"); err != nil {
					t.Errorf("Count: %v", err)
					return
				}
			}
		}()
	}
	writeWG.Wait()
	close(stop)
	readWG.Wait()
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	var inBolt int64
	if err := s.db.View(func(tx *bbolt.Tx) (err error) {
		inBolt, err = readMetaRevision(tx.Bucket(bucketMeta), metaRevision)
		return err
	}); err != nil || inBolt == 0 {
		t.Fatalf("no checkpoint ran during the test (bbolt at %d, %v)", inBolt, err)
	}
	if events, err := s.readLog(1, end, ""); err != nil || int64(len(events)) != end {
		t.Fatalf("event log = %d events, %v; want %d", len(events), err, end)
	}
}

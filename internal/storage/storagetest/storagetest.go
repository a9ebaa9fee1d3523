// Package storagetest is the conformance suite of the storage.Store contract: any implementation runs it
// from its own tests with Run, so the embedded store and a cluster store behave the same to the API layer.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/storage"
)

// Factory returns a new, empty store for one test, and reopen, which closes that store and returns a new one
// over the same data, as a restart of the process would (nil if the store cannot restart; the restart test
// is then skipped). The factory closes every store it returns when the test ends.
type Factory func(t *testing.T) (s storage.Store, reopen func(t *testing.T) storage.Store)

// Run runs the whole suite against stores from newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		run  func(t *testing.T, newStore Factory)
	}{
		{"CreateGet", testCreateGet},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"ListCountPrefixIsolation", testListCountPrefixIsolation},
		{"RevisionsMonotonic", testRevisionsMonotonic},
		{"WatchEventShapes", testWatchEventShapes},
		{"WatchFromNow", testWatchFromNow},
		{"WatchFromFutureRevision", testWatchFromFutureRevision},
		{"WatchFromOldRevisionReplaysExactly", testWatchFromOldRevision},
		{"WatchConcurrentWritersNoGaps", testWatchConcurrentWriters},
		{"WatchAcrossReopen", testWatchAcrossReopen},
		{"Compacted", testCompacted},
		{"SlowConsumer", testSlowConsumer},
		{"Progress", testProgress},
		{"WatchEndsWithContext", testWatchEndsWithContext},
		{"ListIsSnapshotUnderWrites", testListIsSnapshotUnderWrites},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore) })
	}
}

// eventTimeout bounds every wait for an event, so a broken store fails instead of hanging.
const eventTimeout = 10 * time.Second

func testCreateGet(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	rev := mustCreate(t, s, "/a/1", "one")
	kv, err := s.Get(ctx, "/a/1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := storage.KeyValue{Key: "/a/1", Value: []byte("one"), CreateRevision: rev, ModRevision: rev}
	assertKV(t, "Get after Create", kv, want)

	if _, err := s.Create(ctx, "/a/1", []byte("again")); !errors.Is(err, storage.ErrExists) {
		t.Errorf("Create of an existing key: err = %v, want ErrExists", err)
	}
	if kv, _ := s.Get(ctx, "/a/1"); string(kv.Value) != "one" {
		t.Errorf("a refused Create changed the value to %q", kv.Value)
	}
	if _, err := s.Get(ctx, "/a/missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
	value := []byte("mutable")
	mustCreateBytes(t, s, "/a/2", value)
	value[0] = 'X'
	if kv, _ := s.Get(ctx, "/a/2"); string(kv.Value) != "mutable" {
		t.Errorf("the store kept the caller's slice: value became %q", kv.Value)
	}
}

func testUpdate(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	created := mustCreate(t, s, "/u/1", "v1")
	tests := []struct {
		name     string
		key      string
		expected func(current int64) int64
		wantErr  error
	}{
		{"matching revision", "/u/1", func(current int64) int64 { return current }, nil},
		{"stale revision", "/u/1", func(current int64) int64 { return current - 1 }, storage.ErrConflict},
		{"unconditional", "/u/1", func(int64) int64 { return 0 }, nil},
		{"missing key", "/u/missing", func(int64) int64 { return 0 }, storage.ErrNotFound},
		{"missing key with a revision", "/u/missing", func(current int64) int64 { return current }, storage.ErrNotFound},
	}
	current := created
	for i, tc := range tests {
		value := fmt.Sprintf("v%d", i+2)
		before, _ := s.Get(ctx, "/u/1")
		rev, err := s.Update(ctx, tc.key, []byte(value), tc.expected(current))
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
		}
		kv, getErr := s.Get(ctx, "/u/1")
		if getErr != nil {
			t.Fatalf("%s: Get: %v", tc.name, getErr)
		}
		if tc.wantErr != nil {
			assertKV(t, tc.name+": refused update left the key", kv, before)
			continue
		}
		if rev <= current {
			t.Errorf("%s: revision %d not above the previous %d", tc.name, rev, current)
		}
		assertKV(t, tc.name, kv, storage.KeyValue{Key: "/u/1", Value: []byte(value), CreateRevision: created, ModRevision: rev})
		current = rev
	}
}

func testDelete(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	created := mustCreate(t, s, "/d/1", "v1")
	updated, err := s.Update(ctx, "/d/1", []byte("v2"), 0)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if _, _, err := s.Delete(ctx, "/d/1", created); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("Delete with a stale revision: err = %v, want ErrConflict", err)
	}
	deleted, rev, err := s.Delete(ctx, "/d/1", updated)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertKV(t, "deleted key", deleted, storage.KeyValue{Key: "/d/1", Value: []byte("v2"), CreateRevision: created, ModRevision: updated})
	if rev <= updated {
		t.Errorf("delete revision %d not above %d", rev, updated)
	}
	if got, _ := s.Revision(ctx); got != rev {
		t.Errorf("Revision after delete = %d, want %d", got, rev)
	}
	if _, err := s.Get(ctx, "/d/1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Delete(ctx, "/d/1", 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	recreated := mustCreate(t, s, "/d/1", "v3")
	if kv, _ := s.Get(ctx, "/d/1"); kv.CreateRevision != recreated {
		t.Errorf("re-created key has CreateRevision %d, want %d", kv.CreateRevision, recreated)
	}
}

func testListCountPrefixIsolation(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	// Inserted out of order; "ns/a" must not match "ns/ab" nor "podsx" match "pods".
	keys := []string{
		"/registry/pods/ns-b/z", "/registry/pods/ns-a/y", "/registry/pods/ns-a/x", "/registry/pods/ns-ab/w",
		"/registry/podsx/ns-a/v", "/registry/nodes/n1",
	}
	for _, k := range keys {
		mustCreate(t, s, k, "value of "+k)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"/registry/pods/ns-a/", []string{"/registry/pods/ns-a/x", "/registry/pods/ns-a/y"}},
		{"/registry/pods/", []string{"/registry/pods/ns-a/x", "/registry/pods/ns-a/y", "/registry/pods/ns-ab/w", "/registry/pods/ns-b/z"}},
		{"/registry/nodes/", []string{"/registry/nodes/n1"}},
		{"/registry/services/", nil},
	}
	for _, tc := range tests {
		kvs, rev, err := s.List(ctx, tc.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", tc.prefix, err)
		}
		var got []string
		for _, kv := range kvs {
			got = append(got, kv.Key)
			if string(kv.Value) != "value of "+kv.Key {
				t.Errorf("List(%q): %s has value %q", tc.prefix, kv.Key, kv.Value)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
		if current, _ := s.Revision(ctx); rev != current {
			t.Errorf("List(%q) revision = %d, want the current %d", tc.prefix, rev, current)
		}
		n, err := s.Count(ctx, tc.prefix)
		if err != nil {
			t.Fatalf("Count(%q): %v", tc.prefix, err)
		}
		if n != int64(len(tc.want)) {
			t.Errorf("Count(%q) = %d, want %d", tc.prefix, n, len(tc.want))
		}
	}
}

func testRevisionsMonotonic(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	var last int64
	for i := range 20 {
		key := fmt.Sprintf("/m/%d", i%5)
		var (
			rev int64
			err error
		)
		if i < 5 {
			rev, err = s.Create(ctx, key, []byte("x"))
		} else {
			rev, err = s.Update(ctx, key, []byte(fmt.Sprint(i)), 0)
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if rev <= last {
			t.Fatalf("write %d got revision %d, not above %d", i, rev, last)
		}
		last = rev
		if _, err := s.Create(ctx, key, []byte("dup")); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("duplicate create: %v", err)
		}
		if current, _ := s.Revision(ctx); current != last {
			t.Fatalf("Revision = %d after a refused write, want %d", current, last)
		}
	}
}

func testWatchEventShapes(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, "/other/1", "unwatched")
	events := mustWatch(t, s, "/w/", 0, storage.WatchOptions{})
	created := mustCreate(t, s, "/w/1", "v1")
	mustCreate(t, s, "/other/2", "unwatched")
	updated, err := s.Update(ctx, "/w/1", []byte("v2"), created)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	_, deleted, err := s.Delete(ctx, "/w/1", updated)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	got := receive(t, events, 3)
	v1 := storage.KeyValue{Key: "/w/1", Value: []byte("v1"), CreateRevision: created, ModRevision: created}
	v2 := storage.KeyValue{Key: "/w/1", Value: []byte("v2"), CreateRevision: created, ModRevision: updated}
	want := []storage.Event{
		{Type: storage.EventPut, Revision: created, KV: v1},
		{Type: storage.EventPut, Revision: updated, KV: v2, PrevKV: &v1},
		{Type: storage.EventDelete, Revision: deleted,
			KV:     storage.KeyValue{Key: "/w/1", Value: []byte("v2"), CreateRevision: created, ModRevision: deleted},
			PrevKV: &v2},
	}
	for i := range want {
		assertEvent(t, fmt.Sprintf("event %d", i), got[i], want[i])
	}
}

func testWatchFromNow(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	for i := range 3 {
		mustCreate(t, s, fmt.Sprintf("/now/before-%d", i), "x")
	}
	events := mustWatch(t, s, "/now/", 0, storage.WatchOptions{})
	rev := mustCreate(t, s, "/now/after", "x")
	got := receive(t, events, 1)
	if got[0].KV.Key != "/now/after" || got[0].Revision != rev {
		t.Errorf("first event of a watch from now = %s at %d, want /now/after at %d", got[0].KV.Key, got[0].Revision, rev)
	}
}

// testWatchFromFutureRevision watches from a revision not reached yet, as a client holding a resourceVersion
// from a List may do while the store publishes it: nothing at or below it arrives, and progress never
// claims a revision the watch has not reached.
func testWatchFromFutureRevision(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	current, _ := s.Revision(t.Context())
	after := current + 2
	events := mustWatch(t, s, "/f/", after, storage.WatchOptions{ProgressInterval: int64(5 * time.Millisecond)})
	for i := range 3 {
		time.Sleep(20 * time.Millisecond) // room for progress events between the writes
		mustCreate(t, s, fmt.Sprintf("/f/%d", i), "x")
	}
	for {
		ev := receiveOne(t, events)
		switch ev.Type {
		case storage.EventProgress:
			if ev.Revision < after {
				t.Fatalf("progress at %d on a watch from %d", ev.Revision, after)
			}
			continue
		case storage.EventPut:
			if ev.Revision != after+1 {
				t.Fatalf("first event at %d on a watch from %d, want %d", ev.Revision, after, after+1)
			}
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
		return
	}
}

// testWatchFromOldRevision follows the list-then-watch pattern of every informer: changes made between the
// list and the watch arrive, exactly once, followed by live ones.
func testWatchFromOldRevision(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	var revs []int64
	for i := range 10 {
		revs = append(revs, mustCreate(t, s, fmt.Sprintf("/old/%02d", i), "x"))
	}
	_, listed, err := s.List(t.Context(), "/old/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for i := 10; i < 15; i++ {
		revs = append(revs, mustCreate(t, s, fmt.Sprintf("/old/%02d", i), "x"))
	}
	events := mustWatch(t, s, "/old/", revs[2], storage.WatchOptions{})
	fromList := mustWatch(t, s, "/old/", listed, storage.WatchOptions{})
	revs = append(revs, mustCreate(t, s, "/old/15", "x"))
	assertRevisions(t, "watch from revs[2]", receive(t, events, len(revs)-3), revs[3:])
	assertRevisions(t, "watch from the list revision", receive(t, fromList, 6), revs[10:])
}

func testWatchConcurrentWriters(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	start, err := s.Revision(ctx)
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	const writers, perWriter = 8, 25
	end := start + writers*perWriter
	// Every watch is read while the writes run, as a server would, so a small watch buffer does not matter.
	type watchResult struct {
		after  int64
		events <-chan []storage.Event
	}
	watches := []watchResult{{start, collectUntil(t, mustWatch(t, s, "/c/", start, storage.WatchOptions{}), end)}}
	var (
		wg        sync.WaitGroup
		watchesMu sync.Mutex
		writeErr  = make(chan error, writers)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				rev, err := s.Create(ctx, fmt.Sprintf("/c/%d/%d", w, i), []byte(fmt.Sprint(w, i)))
				if err != nil {
					writeErr <- err
					return
				}
				// Watches started while the writes run, from older revisions, exercise the hand-off from
				// replay to live delivery.
				if w == 0 && i%5 == 2 {
					after := rev - int64(i)
					ch, err := s.Watch(ctx, "/c/", after, storage.WatchOptions{})
					if err != nil {
						writeErr <- err
						return
					}
					watchesMu.Lock()
					watches = append(watches, watchResult{after, collectUntil(t, ch, end)})
					watchesMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(writeErr)
	for err := range writeErr {
		t.Fatalf("concurrent write: %v", err)
	}
	if got, _ := s.Revision(ctx); got != end {
		t.Fatalf("%d creates took the revision from %d to %d", writers*perWriter, start, got)
	}
	for _, w := range watches {
		events := <-w.events
		seen := map[string]bool{}
		for i, ev := range events {
			if want := w.after + int64(i) + 1; ev.Revision != want {
				t.Fatalf("watch from %d: event %d has revision %d, want %d (gap or reordering)", w.after, i, ev.Revision, want)
			}
			if seen[ev.KV.Key] {
				t.Fatalf("watch from %d: key %s delivered twice", w.after, ev.KV.Key)
			}
			seen[ev.KV.Key] = true
		}
		if int64(len(events)) != end-w.after {
			t.Errorf("watch from %d got %d events, want %d", w.after, len(events), end-w.after)
		}
	}
}

// collectUntil reads change events in the background until one at revision end or later, and delivers
// them; it fails the test on an error event, a closed channel or a timeout.
func collectUntil(t *testing.T, events <-chan storage.Event, end int64) <-chan []storage.Event {
	done := make(chan []storage.Event, 1)
	go func() {
		var got []storage.Event
		defer func() { done <- got }()
		timeout := time.NewTimer(eventTimeout)
		defer timeout.Stop()
		for {
			select {
			case ev, open := <-events:
				switch {
				case !open:
					t.Errorf("watch closed after %d events", len(got))
					return
				case ev.Type == storage.EventError:
					t.Errorf("watch ended after %d events: %v", len(got), ev.Err)
					return
				case ev.Type == storage.EventProgress:
					continue
				}
				got = append(got, ev)
				if ev.Revision >= end {
					return
				}
			case <-timeout.C:
				t.Errorf("watch stalled after %d events", len(got))
				return
			}
		}
	}()
	return done
}

func testWatchAcrossReopen(t *testing.T, newStore Factory) {
	s, reopen := newStore(t)
	if reopen == nil {
		t.Skip("the store cannot be reopened")
	}
	var revs []int64
	for i := range 5 {
		revs = append(revs, mustCreate(t, s, fmt.Sprintf("/r/%d", i), fmt.Sprint(i)))
	}
	updated, err := s.Update(t.Context(), "/r/0", []byte("changed"), revs[0])
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	revs = append(revs, updated)
	s = reopen(t)
	if got, _ := s.Revision(t.Context()); got != updated {
		t.Fatalf("Revision after reopen = %d, want %d", got, updated)
	}
	if kv, err := s.Get(t.Context(), "/r/0"); err != nil || string(kv.Value) != "changed" {
		t.Fatalf("Get after reopen = %q, %v", kv.Value, err)
	}
	events := mustWatch(t, s, "/r/", revs[1], storage.WatchOptions{})
	revs = append(revs, mustCreate(t, s, "/r/after", "x"))
	got := receive(t, events, len(revs)-2)
	assertRevisions(t, "watch across reopen", got, revs[2:])
	update := got[len(got)-2]
	if update.PrevKV == nil || string(update.PrevKV.Value) != "0" || string(update.KV.Value) != "changed" {
		t.Errorf("replayed update = %+v, want PrevKV 0 and KV changed", update)
	}
}

func testCompacted(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	var revs []int64
	for i := range 6 {
		revs = append(revs, mustCreate(t, s, fmt.Sprintf("/k/%d", i), "x"))
	}
	if err := s.Compact(ctx, revs[3]); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	_, err := s.Watch(ctx, "/k/", revs[2], storage.WatchOptions{})
	var compacted *storage.CompactedError
	if !errors.As(err, &compacted) {
		t.Fatalf("Watch from a compacted revision: err = %v, want *CompactedError", err)
	}
	if compacted.Requested != revs[2] || compacted.Oldest <= revs[3] || compacted.Oldest > revs[4] {
		t.Errorf("CompactedError = %+v, want Requested %d and Oldest in (%d, %d]", compacted, revs[2], revs[3], revs[4])
	}
	events := mustWatch(t, s, "/k/", revs[3], storage.WatchOptions{})
	assertRevisions(t, "watch from the compaction point", receive(t, events, 2), revs[4:])
	if kv, err := s.Get(ctx, "/k/0"); err != nil || kv.ModRevision != revs[0] {
		t.Errorf("compaction touched current state: Get = %+v, %v", kv, err)
	}
}

// testSlowConsumer writes while a watcher reads nothing, and expects the watcher to get a gap-free prefix of
// the history followed by ErrWatchTooSlow.
func testSlowConsumer(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	start, _ := s.Revision(ctx)
	events := mustWatch(t, s, "/slow/", start, storage.WatchOptions{})
	const writers, maxWrites = 32, 4000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range maxWrites / writers {
				if _, err := s.Create(ctx, fmt.Sprintf("/slow/%d/%d", w, i), []byte("x")); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	next := start + 1
	for {
		ev := receiveOne(t, events)
		if ev.Type == storage.EventError {
			if !errors.Is(ev.Err, storage.ErrWatchTooSlow) {
				t.Fatalf("watch ended with %v, want ErrWatchTooSlow", ev.Err)
			}
			break
		}
		if ev.Revision != next {
			t.Fatalf("slow watcher got revision %d, want %d: events were dropped", ev.Revision, next)
		}
		next++
		if next > start+maxWrites {
			t.Fatalf("a watcher that read nothing during %d writes was never told it is too slow", maxWrites)
		}
	}
	if _, open := receiveOrClosed(t, events); open {
		t.Errorf("the channel stays open after EventError")
	}
}

func testProgress(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	interval := 20 * time.Millisecond
	events := mustWatch(t, s, "/p/", 0, storage.WatchOptions{ProgressInterval: int64(interval)})
	watched := mustCreate(t, s, "/p/1", "x")
	unwatched := mustCreate(t, s, "/q/1", "x")
	ev := receiveOne(t, events)
	if ev.Type != storage.EventPut || ev.Revision != watched {
		t.Fatalf("first event = %+v, want the put at %d", ev, watched)
	}
	// Progress must come while idle and must reach the unwatched write: every change up to it was sent.
	deadline := time.Now().Add(eventTimeout)
	var last int64
	for last < unwatched {
		if time.Now().After(deadline) {
			t.Fatalf("no progress event reached revision %d (last %d)", unwatched, last)
		}
		ev := receiveOne(t, events)
		if ev.Type != storage.EventProgress {
			t.Fatalf("idle watch sent %+v, want progress", ev)
		}
		if ev.Revision < last || ev.Revision < watched {
			t.Fatalf("progress revision %d after %d and the delivered %d", ev.Revision, last, watched)
		}
		last = ev.Revision
	}
	if last != unwatched {
		t.Errorf("progress revision %d beyond the store's %d", last, unwatched)
	}
}

func testWatchEndsWithContext(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	events, err := s.Watch(ctx, "/e/", 0, storage.WatchOptions{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	cancel()
	deadline := time.After(eventTimeout)
	for {
		select {
		case _, open := <-events:
			if !open {
				return
			}
		case <-deadline:
			t.Fatal("the channel stayed open after the context ended")
		}
	}
}

// testListIsSnapshotUnderWrites lists while concurrent creates run: each list must hold exactly the keys
// created at or below the revision it reports, with the revisions their creates returned.
func testListIsSnapshotUnderWrites(t *testing.T, newStore Factory) {
	s, _ := newStore(t)
	ctx := t.Context()
	const writers, perWriter, maxLists = 4, 50, 200
	type snapshot struct {
		rev  int64
		keys map[string]int64
	}
	var (
		wg       sync.WaitGroup
		createMu sync.Mutex
		created  = map[string]int64{}
		stop     = make(chan struct{})
		lists    = make(chan []snapshot, 1)
	)
	go func() {
		var got []snapshot
		defer func() { lists <- got }()
		for len(got) < maxLists {
			select {
			case <-stop:
				return
			default:
			}
			kvs, rev, err := s.List(ctx, "/snap/")
			if err != nil {
				t.Errorf("List: %v", err)
				return
			}
			snap := snapshot{rev: rev, keys: make(map[string]int64, len(kvs))}
			for _, kv := range kvs {
				snap.keys[kv.Key] = kv.ModRevision
			}
			got = append(got, snap)
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				key := fmt.Sprintf("/snap/%d/%d", w, i)
				rev, err := s.Create(ctx, key, []byte("x"))
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				createMu.Lock()
				created[key] = rev
				createMu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	snapshots := <-lists
	if len(snapshots) == 0 {
		t.Fatal("no List completed")
	}
	for _, snap := range snapshots {
		want := 0
		for key, rev := range created {
			if rev > snap.rev {
				continue
			}
			want++
			if got, ok := snap.keys[key]; !ok || got != rev {
				t.Fatalf("List at revision %d: %s (created at %d) has revision %d, present %v", snap.rev, key, rev, got, ok)
			}
		}
		if len(snap.keys) != want {
			t.Fatalf("List at revision %d holds %d keys, want the %d created up to it", snap.rev, len(snap.keys), want)
		}
	}
}

func mustCreate(t *testing.T, s storage.Store, key, value string) int64 {
	t.Helper()
	return mustCreateBytes(t, s, key, []byte(value))
}

func mustCreateBytes(t *testing.T, s storage.Store, key string, value []byte) int64 {
	t.Helper()
	rev, err := s.Create(t.Context(), key, value)
	if err != nil {
		t.Fatalf("Create(%s): %v", key, err)
	}
	return rev
}

func mustWatch(t *testing.T, s storage.Store, prefix string, after int64, opts storage.WatchOptions) <-chan storage.Event {
	t.Helper()
	events, err := s.Watch(t.Context(), prefix, after, opts)
	if err != nil {
		t.Fatalf("Watch(%s, %d): %v", prefix, after, err)
	}
	return events
}

func receiveOrClosed(t *testing.T, events <-chan storage.Event) (storage.Event, bool) {
	t.Helper()
	select {
	case ev, open := <-events:
		return ev, open
	case <-time.After(eventTimeout):
		t.Fatalf("no event within %s", eventTimeout)
		return storage.Event{}, false
	}
}

func receiveOne(t *testing.T, events <-chan storage.Event) storage.Event {
	t.Helper()
	ev, open := receiveOrClosed(t, events)
	if !open {
		t.Fatal("watch channel closed early")
	}
	return ev
}

// receive reads n change events, failing on an error event; progress events are skipped.
func receive(t *testing.T, events <-chan storage.Event, n int) []storage.Event {
	t.Helper()
	var got []storage.Event
	for len(got) < n {
		ev := receiveOne(t, events)
		switch ev.Type {
		case storage.EventError:
			t.Fatalf("watch ended after %d of %d events: %v", len(got), n, ev.Err)
		case storage.EventProgress:
			continue
		}
		got = append(got, ev)
	}
	return got
}

func assertRevisions(t *testing.T, what string, got []storage.Event, want []int64) {
	t.Helper()
	var revs []int64
	for _, ev := range got {
		revs = append(revs, ev.Revision)
	}
	if fmt.Sprint(revs) != fmt.Sprint(want) {
		t.Errorf("%s: revisions %v, want %v", what, revs, want)
	}
}

func assertKV(t *testing.T, what string, got, want storage.KeyValue) {
	t.Helper()
	if got.Key != want.Key || !bytes.Equal(got.Value, want.Value) || got.CreateRevision != want.CreateRevision || got.ModRevision != want.ModRevision {
		t.Errorf("%s = {%s %q create %d mod %d}, want {%s %q create %d mod %d}", what,
			got.Key, got.Value, got.CreateRevision, got.ModRevision, want.Key, want.Value, want.CreateRevision, want.ModRevision)
	}
}

func assertEvent(t *testing.T, what string, got, want storage.Event) {
	t.Helper()
	if got.Type != want.Type || got.Revision != want.Revision {
		t.Errorf("%s: type %d at %d, want type %d at %d", what, got.Type, got.Revision, want.Type, want.Revision)
	}
	assertKV(t, what+" KV", got.KV, want.KV)
	switch {
	case want.PrevKV == nil && got.PrevKV != nil:
		t.Errorf("%s: PrevKV = %+v, want nil", what, got.PrevKV)
	case want.PrevKV != nil && got.PrevKV == nil:
		t.Errorf("%s: PrevKV = nil, want %+v", what, want.PrevKV)
	case want.PrevKV != nil:
		assertKV(t, what+" PrevKV", *got.PrevKV, *want.PrevKV)
	}
}

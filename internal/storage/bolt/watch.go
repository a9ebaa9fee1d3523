package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/peapod-dev/peapod/internal/storage"
)

// A watch runs in two phases in its own goroutine. Catching up, it pulls the events it wants in chunks, from
// the persisted log while they are older than the in-memory window and from the window after, at the pace of
// its consumer. When nothing published remains to catch up on, it registers with the store under the same
// lock that publishing takes, so no event can fall between the two phases. Live, the committer appends to
// its queue; a queue that outgrows WatchQueueLength ends the watch with ErrWatchTooSlow.

// catchUpChunk is how many revisions one catch-up step reads: it bounds the time mu or a read transaction is
// held and the memory of one step.
const catchUpChunk = 512

// outBuffer is the capacity of a watch's channel.
const outBuffer = 64

// eventWindow holds the most recent events, one per revision, in a ring indexed by revision.
type eventWindow struct {
	events []storage.Event
	last   int64 // revision of the newest event (or the store's revision when empty)
	count  int
}

func newEventWindow(size int) eventWindow {
	return eventWindow{events: make([]storage.Event, size)}
}

// reset empties the window, which then starts after revision rev.
func (w *eventWindow) reset(rev int64) {
	clear(w.events)
	w.last, w.count = rev, 0
}

func (w *eventWindow) append(ev storage.Event) {
	w.events[ev.Revision%int64(len(w.events))] = ev
	w.last = ev.Revision
	w.count = min(w.count+1, len(w.events))
}

// covers reports whether every event from revision next on is in the window.
func (w *eventWindow) covers(next int64) bool {
	return next > w.last-int64(w.count)
}

func (w *eventWindow) at(rev int64) storage.Event {
	return w.events[rev%int64(len(w.events))]
}

// watcher is one live watch.
type watcher struct {
	prefix      string
	minRevision int64         // events below this were asked not to be sent
	wake        chan struct{} // capacity 1: "the queue changed"

	// Guarded by Store.mu.
	queue   []storage.Event
	reached int64 // every published revision up to here is in the queue or was sent, if wanted
	tooSlow bool
}

// offer queues the events the watcher wants. Called with Store.mu held. The limit is checked per committed
// batch, not per event, so that one large group commit does not end a watcher that keeps up.
func (w *watcher) offer(events []applied, limit int) {
	if w.tooSlow {
		return
	}
	before := len(w.queue)
	for _, a := range events {
		if a.event.Revision >= w.minRevision && strings.HasPrefix(a.event.KV.Key, w.prefix) {
			w.queue = append(w.queue, a.event)
		}
	}
	queued := len(w.queue) > before
	if queued && before >= limit {
		w.tooSlow = true
		w.queue = nil // the watch ends: free what it will never send
	}
	w.reached = events[len(events)-1].event.Revision
	if queued {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// publish makes committed events visible to Revision and watchers.
func (s *Store) publish(events []applied) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range events {
		s.window.append(a.event)
	}
	s.revision = events[len(events)-1].event.Revision
	for w := range s.watchers {
		w.offer(events, s.opts.WatchQueueLength)
	}
}

// Watch streams the changes under prefix after afterRevision (0: from now).
func (s *Store) Watch(ctx context.Context, prefix string, afterRevision int64, opts storage.WatchOptions) (<-chan storage.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if afterRevision < 0 {
		return nil, fmt.Errorf("bolt: watch from negative revision %d", afterRevision)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if afterRevision == 0 {
		afterRevision = s.revision
	}
	if afterRevision < s.compacted {
		return nil, &storage.CompactedError{Requested: afterRevision, Oldest: s.compacted + 1}
	}
	w := &watcher{prefix: prefix, wake: make(chan struct{}, 1), minRevision: afterRevision + 1}
	out := make(chan storage.Event, outBuffer)
	s.wg.Add(1)
	go s.runWatch(ctx, w, out, time.Duration(opts.ProgressInterval))
	return out, nil
}

// runWatch is the goroutine of one watch; it owns out and closes it when the watch ends.
func (s *Store) runWatch(ctx context.Context, w *watcher, out chan<- storage.Event, progress time.Duration) {
	defer s.wg.Done()
	defer close(out)
	send := func(ev storage.Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
		case <-s.life.Done():
		}
		return false
	}
	if err := s.catchUp(ctx, w, send); err != nil {
		if !errors.Is(err, errWatchEnded) {
			send(storage.Event{Type: storage.EventError, Err: err})
		}
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
	}()

	var tick <-chan time.Time
	if progress > 0 {
		ticker := time.NewTicker(progress)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.life.Done():
			return
		case <-w.wake:
		case <-tick:
		}
		s.mu.Lock()
		events, reached, tooSlow := w.queue, w.reached, w.tooSlow
		w.queue = nil
		s.mu.Unlock()
		for _, ev := range events {
			if !send(ev) {
				return
			}
		}
		if tooSlow {
			send(storage.Event{Type: storage.EventError, Err: storage.ErrWatchTooSlow})
			return
		}
		// A watch from a revision the store has not reached yet reports progress only once it has.
		if len(events) == 0 && progress > 0 && reached >= w.minRevision-1 {
			if !send(storage.Event{Type: storage.EventProgress, Revision: reached}) {
				return
			}
		}
	}
}

// errWatchEnded: the consumer went away or the store closed while catching up; nothing more to send.
var errWatchEnded = errors.New("watch ended")

// catchUp sends every published event the watcher wants, then registers it for live events.
func (s *Store) catchUp(ctx context.Context, w *watcher, send func(storage.Event) bool) error {
	next := w.minRevision
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return errWatchEnded
		}
		published := s.revision
		if next > published {
			w.reached = published
			s.watchers[w] = struct{}{}
			s.mu.Unlock()
			return nil
		}
		upTo := min(published, next+catchUpChunk-1)
		var events []storage.Event
		fromWindow := s.window.covers(next)
		if fromWindow {
			for rev := next; rev <= upTo; rev++ {
				if ev := s.window.at(rev); strings.HasPrefix(ev.KV.Key, w.prefix) {
					events = append(events, ev)
				}
			}
		}
		s.mu.Unlock()
		if !fromWindow {
			var err error
			if events, err = s.readLog(next, upTo, w.prefix); err != nil {
				return err
			}
		}
		for _, ev := range events {
			if !send(ev) {
				return errWatchEnded
			}
		}
		next = upTo + 1
		if ctx.Err() != nil {
			return errWatchEnded
		}
	}
}

// readLog reads the logged events from revision from to revision to under prefix, from bbolt and the layers
// above it. Every one of them must be there: those revisions were published, so logged, and a gap means
// compaction overtook the watch.
func (s *Store) readLog(from, to int64, prefix string) ([]storage.Event, error) {
	s.stateMu.RLock()
	logs := make([]layerLog, len(s.layers))
	for i, l := range s.layers {
		logs[i] = layerLog{base: l.base, entries: l.entries}
	}
	tx, err := s.beginRead()
	s.stateMu.RUnlock()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	meta := tx.Bucket(bucketMeta)
	compacted, err := readMetaRevision(meta, metaCompacted)
	if err != nil {
		return nil, err
	}
	if from <= compacted {
		return nil, &storage.CompactedError{Requested: from - 1, Oldest: compacted + 1}
	}
	inBolt, err := readMetaRevision(meta, metaRevision)
	if err != nil {
		return nil, err
	}
	var events []storage.Event
	p := []byte(prefix)
	want := from
	c := tx.Bucket(bucketLog).Cursor()
	for k, v := c.Seek(revisionKey(from)); k != nil && want <= min(to, inBolt); k, v = c.Next() {
		rev, err := decodeRevisionKey(k)
		if err != nil {
			return nil, err
		}
		if rev != want {
			return nil, fmt.Errorf("bolt: event log is missing revision %d (found %d)", want, rev)
		}
		want++
		h, r, err := decodeLogHeader(v)
		if err != nil {
			return nil, fmt.Errorf("log revision %d: %w", rev, err)
		}
		if !bytes.HasPrefix(h.key, p) {
			continue
		}
		ev, err := finishEvent(rev, h, r)
		if err != nil {
			return nil, fmt.Errorf("log revision %d: %w", rev, err)
		}
		events = append(events, ev)
	}
	for ; want <= to; want++ {
		e, ok := logAt(logs, want)
		if !ok {
			return nil, fmt.Errorf("bolt: event log ends before revision %d", want)
		}
		if strings.HasPrefix(e.key, prefix) {
			events = append(events, buildEvent(want, e))
		}
	}
	return events, nil
}

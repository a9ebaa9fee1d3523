// Package wal is a write-ahead log of group commits: each record holds a batch of writes at consecutive
// revisions and is made durable with one fdatasync.
//
// Records are appended to the active segment, a file whose blocks were all written before it was used, so
// that the sync flushes data only: no size change, no extent conversion, no journal commit. Segments are
// named by a sequence number, used in that order, and prepared off the hot path by Run, which reuses the
// files of released segments under a new number.
//
// A record is
//
//	4 bytes little-endian payload length | 4 bytes CRC-32C | payload
//	payload: uvarint first revision, uvarint count, the caller's data
//
// The CRC covers the log's ID, the segment's sequence number, the length and the payload. A reused file
// keeps the bytes of its previous life, but under its new number none of them checks, so a segment ends at
// its first record that does not check: zeroes, a torn write, or an older life. Only the last record
// written before a crash can be torn, and it was never acknowledged. Open hands the records above the
// caller's durable revision to the caller and then retires every segment (reusing the files under new
// numbers), so a torn tail is never read again.
package wal

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	segmentSuffix = ".wal"
	tmpSuffix     = ".tmp"
	recordHeader  = 8
	// zeroChunk is the write size used to preallocate a segment.
	zeroChunk = 1 << 20
	// firstSegmentSize bounds the size of a new log's first segment, so that creating a log stays cheap.
	firstSegmentSize = 1 << 20
	// keepRecycled is how many released segment files wait for reuse; more are removed.
	keepRecycled = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune a Log.
type Options struct {
	// ID names the data the log belongs to; records written under another ID are not read. It keeps a log
	// from being replayed into a store that was recreated beside it.
	ID uint64
	// SegmentSize is the size of a preallocated segment file (a new log's first one is at most 1 MiB).
	SegmentSize int64
	// Logger receives background errors.
	Logger *slog.Logger
}

// Record is one batch of writes at consecutive revisions.
type Record struct {
	First int64  // revision of the first write
	Count int    // the writes are at First .. First+Count-1
	Data  []byte // the caller's encoding of the writes
}

// Last is the revision of the record's last write.
func (r Record) Last() int64 { return r.First + int64(r.Count) - 1 }

// segment is one segment file.
type segment struct {
	seq     uint64
	path    string
	f       *os.File // open while the segment is active or ready
	size    int64    // bytes already written in the file (preallocated or reused): appends below it sync fast
	off     int64    // where the next record goes
	lastRev int64    // revision of the last record appended (0: none)
}

// Log is a write-ahead log. One goroutine appends, any may release, and Run prepares the next segment.
type Log struct {
	id          uint64
	dir         string
	segmentSize int64
	logger      *slog.Logger

	// Owned by the appending goroutine.
	active    *segment
	buf       []byte
	err       error // a failed write or sync: nothing more is appended (the file's state is unknown)
	askedNext bool  // Run was asked for a successor of active

	ready  chan *segment // capacity 1: the prepared next segment
	wanted atomic.Bool   // the appender asked for the next segment
	wake   chan struct{} // capacity 1: Run has work
	prepMu sync.Mutex    // one preparation at a time, so segments are numbered in the order they are used

	mu         sync.Mutex
	nextSeq    uint64
	sealed     []*segment // full segments, oldest first, until released
	recyclable []*segment // released segments whose files wait for reuse
}

func segmentPath(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x%s", seq, segmentSuffix))
}

// Open reads the log in dir (created if missing) and calls recover with the records holding revisions
// above after, in revision order and without gaps (the first may also hold revisions at or below after).
// Once recover has made them durable elsewhere and returned nil, every segment is retired and the log is
// ready to append the revisions that follow.
func Open(ctx context.Context, dir string, after int64, opts Options, recover func([]Record) error) (*Log, error) {
	records, found, err := read(dir, opts.ID, after)
	if err != nil {
		return nil, err
	}
	if err := recover(records); err != nil {
		return nil, err
	}
	created, err := ensureDir(dir)
	if err != nil {
		return nil, err
	}
	if created {
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	}
	w := &Log{
		id:          opts.ID,
		dir:         dir,
		segmentSize: opts.SegmentSize,
		logger:      opts.Logger,
		ready:       make(chan *segment, 1),
		wake:        make(chan struct{}, 1),
		nextSeq:     1,
	}
	for _, seg := range found {
		w.nextSeq = max(w.nextSeq, seg.seq+1)
	}
	// The largest files are reused first; Run removes the surplus.
	w.recyclable = slices.SortedStableFunc(slices.Values(found), func(a, b *segment) int { return cmp.Compare(b.size, a.size) })
	if w.active, err = w.prepare(ctx, min(w.segmentSize, firstSegmentSize)); err != nil {
		return nil, err
	}
	w.poke() // trim the files not reused
	return w, nil
}

// read returns the records above revision after and the segments found, in sequence order.
func read(dir string, id uint64, after int64) ([]Record, []*segment, error) {
	names, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read write-ahead log directory: %w", err)
	}
	var segments []*segment
	for _, d := range names {
		name := d.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			// A preparation interrupted by a crash: never used.
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, nil, fmt.Errorf("remove %s: %w", name, err)
			}
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 16, 64)
		if err != nil || !strings.HasSuffix(name, segmentSuffix) {
			return nil, nil, fmt.Errorf("unexpected file %s in the write-ahead log directory", name)
		}
		segments = append(segments, &segment{seq: seq, path: filepath.Join(dir, name)})
	}
	slices.SortFunc(segments, func(a, b *segment) int { return cmp.Compare(a.seq, b.seq) })
	var records []Record
	next := after + 1
	for _, seg := range segments {
		data, err := os.ReadFile(seg.path)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", seg.path, err)
		}
		seg.size = int64(len(data))
		for off := 0; ; {
			payload, n := checkRecord(data[off:], id, seg.seq)
			if payload == nil {
				break
			}
			rec, err := decodeRecord(payload)
			if err != nil {
				return nil, nil, fmt.Errorf("%s at %d: %w", seg.path, off, err)
			}
			switch {
			case rec.Last() < next:
				// Already durable elsewhere.
			case rec.First > next:
				return nil, nil, fmt.Errorf("%s at %d: revisions %d-%d follow %d: the log has a gap", seg.path, off, rec.First, rec.Last(), next-1)
			default:
				records = append(records, rec)
				next = rec.Last() + 1
			}
			off += n
		}
	}
	return records, segments, nil
}

// checkRecord returns the payload of the record at the start of b and the record's length, or nil if there
// is no valid record of log id's segment seq there.
func checkRecord(b []byte, id, seq uint64) ([]byte, int) {
	if len(b) < recordHeader {
		return nil, 0
	}
	n := int64(binary.LittleEndian.Uint32(b))
	if n == 0 || n > int64(len(b)-recordHeader) {
		return nil, 0
	}
	payload := b[recordHeader : recordHeader+n]
	if binary.LittleEndian.Uint32(b[4:]) != recordChecksum(id, seq, payload) {
		return nil, 0
	}
	return payload, recordHeader + int(n)
}

func recordChecksum(id, seq uint64, payload []byte) uint32 {
	var h [20]byte
	binary.LittleEndian.PutUint64(h[:], id)
	binary.LittleEndian.PutUint64(h[8:], seq)
	binary.LittleEndian.PutUint32(h[16:], uint32(len(payload)))
	return crc32.Update(crc32.Update(0, castagnoli, h[:]), castagnoli, payload)
}

// errCorrupt: a record whose checksum holds does not decode, which no crash explains.
var errCorrupt = errors.New("wal: corrupt record")

func decodeRecord(p []byte) (Record, error) {
	first, n := binary.Uvarint(p)
	if n <= 0 || first == 0 || first > math.MaxInt64 {
		return Record{}, fmt.Errorf("%w: first revision", errCorrupt)
	}
	p = p[n:]
	count, n := binary.Uvarint(p)
	if n <= 0 || count == 0 || count > math.MaxInt32 {
		return Record{}, fmt.Errorf("%w: count", errCorrupt)
	}
	return Record{First: int64(first), Count: int(count), Data: p[n:]}, nil
}

func ensureDir(dir string) (created bool, err error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create write-ahead log directory: %w", err)
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

func (w *Log) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Append makes the record of count writes from revision first, encoded by the caller as data, durable.
// One goroutine appends; after an error from the disk, every later Append fails with it.
func (w *Log) Append(ctx context.Context, first int64, count int, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if first <= 0 || count <= 0 {
		return fmt.Errorf("wal: record of %d writes at revision %d", count, first)
	}
	w.buf = append(w.buf[:0], make([]byte, recordHeader)...)
	w.buf = binary.AppendUvarint(w.buf, uint64(first))
	w.buf = binary.AppendUvarint(w.buf, uint64(count))
	w.buf = append(w.buf, data...)
	rec := w.buf
	if len(rec)-recordHeader > math.MaxUint32 {
		return fmt.Errorf("a batch of %d bytes is too large for one log record", len(rec)-recordHeader)
	}
	seg := w.active
	if seg.off > 0 && seg.off+int64(len(rec)) > seg.size {
		if err := w.roll(ctx); err != nil {
			return err
		}
		seg = w.active
	}
	payload := rec[recordHeader:]
	binary.LittleEndian.PutUint32(rec, uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:], recordChecksum(w.id, seg.seq, payload))
	if _, err := seg.f.WriteAt(rec, seg.off); err != nil {
		w.err = fmt.Errorf("write %s: %w", seg.path, err)
		return w.err
	}
	if err := unix.Fdatasync(int(seg.f.Fd())); err != nil {
		// After a failed sync the kernel may have dropped the dirty pages: what the file holds is unknown.
		w.err = fmt.Errorf("sync %s: %w", seg.path, err)
		return w.err
	}
	seg.off += int64(len(rec))
	seg.size = max(seg.size, seg.off)
	seg.lastRev = first + int64(count) - 1
	if cap(w.buf) > 4*zeroChunk {
		w.buf = nil // one huge batch should not pin its buffer for good
	}
	if !w.askedNext && seg.off > seg.size/2 {
		// Half full: time to prepare the successor, not earlier, so a small log writes one segment only.
		w.askedNext = true
		w.wanted.Store(true)
		w.poke()
	}
	return nil
}

// roll seals the active segment and moves to the next one, preparing it here if Run has not.
func (w *Log) roll(ctx context.Context) error {
	var next *segment
	select {
	case next = <-w.ready:
	default:
		w.prepMu.Lock()
		select {
		case next = <-w.ready:
		default:
			var err error
			next, err = w.prepare(ctx, w.segmentSize)
			if err != nil {
				w.prepMu.Unlock()
				return err
			}
		}
		w.prepMu.Unlock()
	}
	old := w.active
	if err := old.f.Close(); err != nil {
		w.logger.Warn("wal: close write-ahead log segment", "path", old.path, "err", err)
	}
	old.f = nil
	w.mu.Lock()
	w.sealed = append(w.sealed, old)
	w.mu.Unlock()
	w.active = next
	w.askedNext = false
	return nil
}

// prepare numbers and readies a segment: a reused file, or a new one written full of zeroes and synced
// under a temporary name first, so a numbered segment is always whole. The name is made durable before the
// segment is handed out.
func (w *Log) prepare(ctx context.Context, size int64) (*segment, error) {
	w.mu.Lock()
	seq := w.nextSeq
	w.nextSeq++
	var reuse *segment
	if len(w.recyclable) > 0 {
		reuse = w.recyclable[0]
		w.recyclable = w.recyclable[1:]
	}
	w.mu.Unlock()
	seg := &segment{seq: seq, path: segmentPath(w.dir, seq)}
	if reuse != nil {
		if err := os.Rename(reuse.path, seg.path); err != nil {
			return nil, fmt.Errorf("reuse write-ahead log segment: %w", err)
		}
		seg.size = reuse.size
	} else {
		if err := zeroFill(ctx, seg.path+tmpSuffix, size); err != nil {
			return nil, err
		}
		if err := os.Rename(seg.path+tmpSuffix, seg.path); err != nil {
			return nil, fmt.Errorf("name write-ahead log segment: %w", err)
		}
		seg.size = size
	}
	if err := syncDir(w.dir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open write-ahead log segment: %w", err)
	}
	seg.f = f
	return seg, nil
}

// zeroFill writes a new segment's blocks for real: an fallocated extent is "unwritten", and the first write
// into it would cost a journal commit on the hot path.
func zeroFill(ctx context.Context, path string, size int64) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create write-ahead log segment: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close new write-ahead log segment: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	zeroes := make([]byte, zeroChunk)
	for off := int64(0); off < size; off += zeroChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := f.WriteAt(zeroes[:min(zeroChunk, size-off)], off); err != nil {
			return fmt.Errorf("preallocate write-ahead log segment: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync new write-ahead log segment: %w", err)
	}
	return nil
}

// Release retires the full segments whose writes are all at or below rev, now durable elsewhere.
func (w *Log) Release(rev int64) {
	w.mu.Lock()
	n := 0
	for n < len(w.sealed) && w.sealed[n].lastRev <= rev {
		n++
	}
	w.recyclable = append(w.recyclable, w.sealed[:n]...)
	w.sealed = slices.Delete(w.sealed, 0, n)
	w.mu.Unlock()
	if n > 0 {
		w.poke()
	}
}

// Run keeps the next segment ready and the retired files few, until ctx ends.
func (w *Log) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.prepMu.Lock()
		if len(w.ready) == 0 && w.wanted.Swap(false) {
			seg, err := w.prepare(ctx, w.segmentSize)
			if err == nil {
				w.ready <- seg // never blocks: only Run sends, under prepMu
			} else if ctx.Err() == nil {
				// The appender prepares its own segment when none is ready, and reports the error.
				w.logger.Warn("wal: prepare write-ahead log segment", "err", err)
			}
		}
		w.prepMu.Unlock()
		w.mu.Lock()
		var extra []*segment
		if len(w.recyclable) > keepRecycled {
			extra = slices.Clone(w.recyclable[keepRecycled:])
			w.recyclable = w.recyclable[:keepRecycled]
		}
		w.mu.Unlock()
		for _, seg := range extra {
			if err := os.Remove(seg.path); err != nil {
				w.logger.Warn("wal: remove write-ahead log segment", "path", seg.path, "err", err)
			}
		}
	}
}

// Close closes the files, once Run has returned and the last Append is done; the log stays on disk for the
// next Open.
func (w *Log) Close() error {
	var errs []error
	if w.active != nil && w.active.f != nil {
		errs = append(errs, w.active.f.Close())
	}
	select {
	case seg := <-w.ready:
		errs = append(errs, seg.f.Close())
	default:
	}
	return errors.Join(errs...)
}

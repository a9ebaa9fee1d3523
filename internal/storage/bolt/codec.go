package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/peapod-dev/peapod/internal/storage"
)

// The on-disk layout. Three buckets:
//
//	keys: key -> record   (uvarint createRevision, uvarint modRevision, value)
//	log:  8-byte big-endian revision -> logEntry (one per write, the persisted event history)
//	meta: "revision" -> 8 bytes (the last checkpointed revision), "compacted" -> 8 bytes,
//	      "log-id" -> 8 random bytes naming this file's write-ahead log
//
// Revisions are big-endian in log keys so that bolt's byte order is revision order.
var (
	bucketKeys = []byte("keys")
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")

	metaRevision  = []byte("revision")
	metaCompacted = []byte("compacted")
	metaFormat    = []byte("format")
	metaLogID     = []byte("log-id")
)

// formatVersion is written at creation so that a later layout change can recognise old files.
const formatVersion = 1

var errCorrupt = errors.New("bolt: corrupt record")

// record is the current state of one key in the keys bucket.
type record struct {
	createRevision int64
	modRevision    int64
	value          []byte
}

func encodeRecord(r record) []byte {
	buf := make([]byte, 0, 2*binary.MaxVarintLen64+len(r.value))
	buf = binary.AppendUvarint(buf, uint64(r.createRevision))
	buf = binary.AppendUvarint(buf, uint64(r.modRevision))
	return append(buf, r.value...)
}

// decodeRecord copies the value out: bolt's memory is only valid inside its transaction.
func decodeRecord(b []byte) (record, error) {
	create, n := binary.Uvarint(b)
	if n <= 0 {
		return record{}, fmt.Errorf("%w: create revision", errCorrupt)
	}
	b = b[n:]
	mod, n := binary.Uvarint(b)
	if n <= 0 {
		return record{}, fmt.Errorf("%w: mod revision", errCorrupt)
	}
	return record{createRevision: int64(create), modRevision: int64(mod), value: clone(b[n:])}, nil
}

// recordRevisions reads only the revisions of a record, for preconditions that need no value copy.
func recordRevisions(b []byte) (create, mod int64, err error) {
	c, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, fmt.Errorf("%w: create revision", errCorrupt)
	}
	m, k := binary.Uvarint(b[n:])
	if k <= 0 {
		return 0, 0, fmt.Errorf("%w: mod revision", errCorrupt)
	}
	return int64(c), int64(m), nil
}

// logEntry is one persisted event. For a delete, value is empty and prevValue holds the deleted value.
type logEntry struct {
	eventType      storage.EventType
	unixNano       int64 // commit time, for time-based retention
	key            string
	createRevision int64
	prevModRev     int64 // 0 for a create
	value          []byte
	prevValue      []byte
}

func encodeLogEntry(e logEntry) []byte {
	buf := make([]byte, 0, 1+5*binary.MaxVarintLen64+len(e.key)+len(e.value)+len(e.prevValue))
	buf = append(buf, byte(e.eventType))
	buf = binary.AppendVarint(buf, e.unixNano)
	buf = binary.AppendUvarint(buf, uint64(e.createRevision))
	buf = binary.AppendUvarint(buf, uint64(e.prevModRev))
	buf = binary.AppendUvarint(buf, uint64(len(e.key)))
	buf = append(buf, e.key...)
	buf = binary.AppendUvarint(buf, uint64(len(e.value)))
	buf = append(buf, e.value...)
	return append(buf, e.prevValue...)
}

// logReader walks an encoded log entry field by field, so that a prefix filter can stop after the key.
type logReader struct {
	b   []byte
	err error
}

func (r *logReader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: log %s", errCorrupt, field)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *logReader) varint(field string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: log %s", errCorrupt, field)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *logReader) bytes(field string) []byte {
	n := r.uvarint(field + " length")
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: log %s length %d", errCorrupt, field, n)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// logHeader is the part of a log entry needed to decide whether a watch wants it.
type logHeader struct {
	eventType      storage.EventType
	unixNano       int64
	createRevision int64
	prevModRev     int64
	key            []byte // aliases bolt memory
}

func decodeLogHeader(b []byte) (logHeader, *logReader, error) {
	if len(b) == 0 {
		return logHeader{}, nil, fmt.Errorf("%w: empty log entry", errCorrupt)
	}
	r := &logReader{b: b[1:]}
	h := logHeader{eventType: storage.EventType(b[0])}
	h.unixNano = r.varint("time")
	h.createRevision = int64(r.uvarint("create revision"))
	h.prevModRev = int64(r.uvarint("previous mod revision"))
	h.key = r.bytes("key")
	if r.err != nil {
		return logHeader{}, nil, r.err
	}
	if h.eventType != storage.EventPut && h.eventType != storage.EventDelete {
		return logHeader{}, nil, fmt.Errorf("%w: event type %d", errCorrupt, h.eventType)
	}
	return h, r, nil
}

// decodeEvent turns the log entry at revision rev into the event a watcher receives, copying out of bolt memory.
func decodeEvent(rev int64, b []byte) (storage.Event, error) {
	h, r, err := decodeLogHeader(b)
	if err != nil {
		return storage.Event{}, err
	}
	return finishEvent(rev, h, r)
}

// encodeBatch is a group commit's writes as one write-ahead log record holds them: each entry after its
// length.
func encodeBatch(buf []byte, entries []logEntry) []byte {
	for _, e := range entries {
		enc := encodeLogEntry(e)
		buf = binary.AppendUvarint(buf, uint64(len(enc)))
		buf = append(buf, enc...)
	}
	return buf
}

func decodeBatch(b []byte, count int) ([]logEntry, error) {
	r := &logReader{b: b}
	entries := make([]logEntry, 0, count)
	for range count {
		enc := r.bytes("batch entry")
		if r.err != nil {
			return nil, r.err
		}
		e, err := decodeLogEntry(enc)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the batch", errCorrupt, len(r.b))
	}
	return entries, nil
}

// decodeLogEntry decodes a whole log entry, copying what it keeps.
func decodeLogEntry(b []byte) (logEntry, error) {
	h, r, err := decodeLogHeader(b)
	if err != nil {
		return logEntry{}, err
	}
	value := r.bytes("value")
	if r.err != nil {
		return logEntry{}, r.err
	}
	return logEntry{
		eventType:      h.eventType,
		unixNano:       h.unixNano,
		key:            string(h.key),
		createRevision: h.createRevision,
		prevModRev:     h.prevModRev,
		value:          clone(value),
		prevValue:      clone(r.b),
	}, nil
}

func finishEvent(rev int64, h logHeader, r *logReader) (storage.Event, error) {
	value := r.bytes("value")
	if r.err != nil {
		return storage.Event{}, r.err
	}
	return buildEvent(rev, logEntry{
		eventType:      h.eventType,
		key:            string(h.key),
		createRevision: h.createRevision,
		prevModRev:     h.prevModRev,
		value:          clone(value),
		prevValue:      clone(r.b),
	}), nil
}

// buildEvent shapes a log entry as the storage contract describes events; the write path uses it too, so a
// live event and a replayed one are identical.
func buildEvent(rev int64, e logEntry) storage.Event {
	ev := storage.Event{Type: e.eventType, Revision: rev}
	var prev *storage.KeyValue
	if e.prevModRev != 0 {
		prev = &storage.KeyValue{Key: e.key, Value: e.prevValue, CreateRevision: e.createRevision, ModRevision: e.prevModRev}
	}
	ev.PrevKV = prev
	value := e.value
	if e.eventType == storage.EventDelete {
		value = e.prevValue
	}
	ev.KV = storage.KeyValue{Key: e.key, Value: value, CreateRevision: e.createRevision, ModRevision: rev}
	return ev
}

func revisionKey(rev int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(rev))
}

func decodeRevisionKey(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: revision key of %d bytes", errCorrupt, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// Package crilog reads container log files in the CRI format (`<RFC3339Nano> <stdout|stderr> <F|P> <text>`,
// one record a line, P marking a partial line continued by the next record of the same stream) and writes
// them out with the options `kubectl logs` gives the kubelet: tail, since, timestamps, a byte limit and
// follow.
package crilog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Stream is which of the container's outputs a record came from.
type Stream string

const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// pollInterval is how often a followed file that reached its end is checked for more.
const pollInterval = 100 * time.Millisecond

// Options are kubelet's log options (PodLogOptions, minus container and previous).
type Options struct {
	// TailLines, when not nil, keeps only the last n lines present when reading starts (partial records
	// joined, so a line split across records counts once).
	TailLines *int64
	// Since drops lines written before it (the time of a line is that of its first record).
	Since time.Time
	// Timestamps prefixes each line with its time in RFC 3339 with nanoseconds and a space.
	Timestamps bool
	// LimitBytes, when not nil, stops after that many bytes of output (timestamps included), cutting the
	// last line.
	LimitBytes *int64
	// Follow keeps reading as the file grows, until ctx ends or, once Running reports false, the file
	// is drained. A rotated file (path now names another file) is drained, then the new one is read.
	Follow bool
	// Running says whether the container still writes to the file; nil means it does while ctx lasts.
	Running func() bool
	// Flush, when not nil, is called each time a followed file has been written out to its end, before
	// waiting for more: a network writer sends its buffer there rather than after every line.
	Flush func()
}

// Read writes the log at path to stdout and stderr, each line to the writer of its stream, in file order.
func Read(ctx context.Context, path string, opts Options, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	r := &reader{opts: opts, out: map[Stream]io.Writer{Stdout: stdout, Stderr: stderr}, partial: map[Stream]*line{}}
	if opts.LimitBytes != nil {
		r.remaining = *opts.LimitBytes
	}
	if opts.TailLines != nil {
		r.tail = &tailBuffer{max: *opts.TailLines}
	}
	defer func() { f.Close() }()
	for {
		done, err := r.drain(f)
		if err != nil || done {
			return err
		}
		if r.tail != nil {
			// What was in the file when reading started has been read: now the tail is known. Without
			// follow, lines left partial are lines of the tail too.
			if !opts.Follow {
				r.partialsToTail()
			}
			lines := r.tail.lines()
			r.tail = nil
			for _, l := range lines {
				if done, err := r.emit(l); err != nil || done {
					return err
				}
			}
		}
		if !opts.Follow {
			return r.flushPartials()
		}
		if opts.Running != nil && !opts.Running() {
			// The container stopped: whatever it wrote before is in the file now.
			if done, err := r.drain(f); err != nil || done {
				return err
			}
			return r.flushPartials()
		}
		if opts.Flush != nil {
			opts.Flush()
		}
		next, err := rotated(f, path)
		if err != nil {
			return err
		}
		if next != nil {
			if done, err := r.drain(f); err != nil || done {
				next.Close()
				return err
			}
			f.Close()
			f, r.pending = next, nil
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pollInterval):
		}
	}
}

// rotated returns the file now at path when it is no longer the one open as f (log rotation).
func rotated(f *os.File, path string) (*os.File, error) {
	current, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat log file: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil || os.SameFile(current, info) {
		// A missing path is a rotation in progress: keep the old file until the new one appears.
		return nil, nil
	}
	next, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	return next, nil
}

// line is one logical line: its records joined.
type line struct {
	time    time.Time
	stream  Stream
	content []byte
	partial bool // the last record was P: no newline yet
}

type reader struct {
	opts      Options
	out       map[Stream]io.Writer
	partial   map[Stream]*line // per stream, a line whose records so far were all P
	order     []Stream         // streams with a partial line, in the order of their latest records
	pending   []byte           // a record read without its newline yet
	tail      *tailBuffer      // not nil while reading what the file held at the start, with TailLines
	remaining int64            // bytes left under LimitBytes
	limited   bool
	buf       bytes.Buffer // one line of output, reused
}

// drain reads f to its current end. done reports that output must stop (the byte limit).
func (r *reader) drain(f *os.File) (done bool, err error) {
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			r.pending = append(r.pending, chunk...)
			continue
		case errors.Is(err, io.EOF):
			// An unterminated record is still being written: keep it for the next read.
			r.pending = append(r.pending, chunk...)
			return false, nil
		case err != nil:
			return false, fmt.Errorf("read log file: %w", err)
		}
		record := chunk
		if len(r.pending) > 0 {
			record = append(r.pending, chunk...)
			r.pending = nil
		}
		if done, err := r.record(record); err != nil || done {
			return done, err
		}
	}
}

// record handles one CRI record; malformed records are skipped, as the kubelet does.
func (r *reader) record(raw []byte) (bool, error) {
	ts, stream, partial, content, ok := parse(raw)
	if !ok {
		return false, nil
	}
	l := r.partial[stream]
	if l == nil {
		l = &line{time: ts, stream: stream}
	} else {
		delete(r.partial, stream)
		r.removeOrder(stream)
	}
	l.content = append(l.content, content...)
	if partial {
		l.partial = true
		r.partial[stream] = l
		r.order = append(r.order, stream)
		return false, nil
	}
	l.partial = false
	return r.complete(l)
}

func (r *reader) removeOrder(stream Stream) {
	for i, s := range r.order {
		if s == stream {
			r.order = append(r.order[:i], r.order[i+1:]...)
			return
		}
	}
}

// complete routes a finished line to the tail buffer or the output.
func (r *reader) complete(l *line) (bool, error) {
	if r.tail != nil {
		r.tail.add(l)
		return false, nil
	}
	return r.emit(l)
}

func (r *reader) partialsToTail() {
	for _, s := range r.order {
		r.tail.add(r.partial[s])
	}
	r.order, r.partial = nil, map[Stream]*line{}
}

// flushPartials ends reading: lines whose last record was partial are written as they are, without a
// newline, as the kubelet writes a P record.
func (r *reader) flushPartials() error {
	order := r.order
	r.order = nil
	for _, s := range order {
		if done, err := r.emit(r.partial[s]); err != nil || done {
			return err
		}
	}
	r.partial = map[Stream]*line{}
	return nil
}

// emit writes one line under Since, Timestamps and LimitBytes.
func (r *reader) emit(l *line) (bool, error) {
	if r.limited {
		return true, nil
	}
	if !r.opts.Since.IsZero() && l.time.Before(r.opts.Since) {
		return false, nil
	}
	buf := &r.buf
	buf.Reset()
	if r.opts.Timestamps {
		buf.WriteString(l.time.Format(time.RFC3339Nano))
		buf.WriteByte(' ')
	}
	buf.Write(l.content)
	if !l.partial {
		buf.WriteByte('\n')
	}
	data := buf.Bytes()
	if r.opts.LimitBytes != nil {
		if int64(len(data)) >= r.remaining {
			data = data[:r.remaining]
			r.limited = true
		}
		r.remaining -= int64(len(data))
	}
	if _, err := r.out[l.stream].Write(data); err != nil {
		return false, fmt.Errorf("write %s: %w", l.stream, err)
	}
	return r.limited, nil
}

// parse splits a CRI record: timestamp, stream, tags (the first is F or P; more may follow after ':'),
// content without its newline.
func parse(raw []byte) (ts time.Time, stream Stream, partial bool, content []byte, ok bool) {
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	tsField, rest, found := bytes.Cut(raw, []byte(" "))
	if !found {
		return
	}
	ts, err := time.Parse(time.RFC3339Nano, string(tsField))
	if err != nil {
		return
	}
	streamField, rest, found := bytes.Cut(rest, []byte(" "))
	if !found {
		return
	}
	stream = Stream(streamField)
	if stream != Stdout && stream != Stderr {
		return
	}
	tagField, content, _ := bytes.Cut(rest, []byte(" "))
	tag, _, _ := bytes.Cut(tagField, []byte(":"))
	switch string(tag) {
	case "P":
		partial = true
	case "F":
	default:
		return
	}
	return ts, stream, partial, content, true
}

// tailBuffer keeps the last max lines in a ring.
type tailBuffer struct {
	max   int64
	ring  []*line
	start int // index of the oldest line once the ring is full
}

func (t *tailBuffer) add(l *line) {
	switch {
	case t.max <= 0:
	case int64(len(t.ring)) < t.max:
		t.ring = append(t.ring, l)
	default:
		t.ring[t.start] = l
		t.start = (t.start + 1) % len(t.ring)
	}
}

// lines are the kept lines, oldest first.
func (t *tailBuffer) lines() []*line {
	return append(t.ring[t.start:len(t.ring):len(t.ring)], t.ring[:t.start]...)
}

package crilog

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

// recorder keeps what each stream received and, in one buffer, the order across streams.
type recorder struct {
	mu       sync.Mutex
	all      bytes.Buffer
	byStream map[Stream]*bytes.Buffer
}

func newRecorder() *recorder {
	return &recorder{byStream: map[Stream]*bytes.Buffer{Stdout: {}, Stderr: {}}}
}

type streamWriter struct {
	r      *recorder
	stream Stream
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	w.r.all.Write(p)
	w.r.byStream[w.stream].Write(p)
	return len(p), nil
}

func (r *recorder) writers() (streamWriter, streamWriter) {
	return streamWriter{r, Stdout}, streamWriter{r, Stderr}
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all.String()
}

func writeLog(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const sample = `2026-05-01T10:00:00.100000000Z stdout F one
2026-05-01T10:00:01.000000000Z stderr F two
2026-05-01T10:00:02.000000000Z stdout P thr
2026-05-01T10:00:02.500000000Z stdout P e
2026-05-01T10:00:03.000000000Z stdout F e
2026-05-01T10:00:04.123456789Z stderr F four
`

func TestRead(t *testing.T) {
	since := time.Date(2026, 5, 1, 10, 0, 1, 0, time.UTC)
	tests := []struct {
		name       string
		content    string
		opts       Options
		want       string // stdout and stderr in the order written
		wantStdout string // when not empty, what stdout alone received
	}{
		{name: "all, interleaved in file order, partials joined", content: sample, want: "one\ntwo\nthree\nfour\n", wantStdout: "one\nthree\n"},
		{name: "tail counts joined lines", content: sample, opts: Options{TailLines: ptr.To[int64](2)}, want: "three\nfour\n"},
		{name: "tail of zero", content: sample, opts: Options{TailLines: ptr.To[int64](0)}, want: ""},
		{name: "tail longer than the file", content: sample, opts: Options{TailLines: ptr.To[int64](10)}, want: "one\ntwo\nthree\nfour\n"},
		{name: "timestamps in RFC 3339 with nanoseconds, of a line's first record", content: sample, opts: Options{Timestamps: true},
			want: "2026-05-01T10:00:00.1Z one\n2026-05-01T10:00:01Z two\n2026-05-01T10:00:02Z three\n2026-05-01T10:00:04.123456789Z four\n"},
		{name: "since keeps lines written at or after it", content: sample, opts: Options{Since: since}, want: "two\nthree\nfour\n"},
		{name: "tail before since", content: sample, opts: Options{Since: since, TailLines: ptr.To[int64](3)}, want: "two\nthree\nfour\n"},
		{name: "limit cuts bytes", content: sample, opts: Options{LimitBytes: ptr.To[int64](6)}, want: "one\ntw"},
		{name: "limit counts timestamps", content: sample, opts: Options{LimitBytes: ptr.To[int64](25), Timestamps: true}, want: "2026-05-01T10:00:00.1Z on"},
		{name: "limit larger than the log", content: sample, opts: Options{LimitBytes: ptr.To[int64](1000)}, want: "one\ntwo\nthree\nfour\n"},
		{name: "partials of two streams", content: `2026-05-01T10:00:00Z stdout P a
2026-05-01T10:00:01Z stderr P x
2026-05-01T10:00:02Z stderr F y
2026-05-01T10:00:03Z stdout F b
`, want: "xy\nab\n", wantStdout: "ab\n"},
		{name: "malformed records skipped", content: `garbage
2026-05-01T10:00:00Z stdout F ok
2026-05-01T10:00:00Z stdin F bad stream
yesterday stdout F bad time
2026-05-01T10:00:00Z stdout X bad tag
2026-05-01T10:00:00Z stdout F  two spaces
`, want: "ok\n two spaces\n"},
		{name: "empty lines", content: "2026-05-01T10:00:00Z stdout F\n2026-05-01T10:00:01Z stdout F \n", want: "\n\n"},
		{name: "a last partial record is written without newline", content: "2026-05-01T10:00:00Z stdout F a\n2026-05-01T10:00:01Z stdout P b\n", want: "a\nb"},
		{name: "a last partial record counts in the tail", content: "2026-05-01T10:00:00Z stdout F a\n2026-05-01T10:00:01Z stdout P b\n", opts: Options{TailLines: ptr.To[int64](1)}, want: "b"},
		{name: "an unterminated last record is not read", content: "2026-05-01T10:00:00Z stdout F a\n2026-05-01T10:00:01Z stdout F b", want: "a\n"},
		{name: "tags after the first", content: "2026-05-01T10:00:00Z stdout P:x a\n2026-05-01T10:00:01Z stdout F:y b\n", want: "ab\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			stdout, stderr := rec.writers()
			if err := Read(context.Background(), writeLog(t, tc.content), tc.opts, stdout, stderr); err != nil {
				t.Fatal(err)
			}
			if got := rec.String(); got != tc.want {
				t.Errorf("output %q, want %q", got, tc.want)
			}
			if tc.wantStdout != "" && rec.byStream[Stdout].String() != tc.wantStdout {
				t.Errorf("stdout %q, want %q", rec.byStream[Stdout].String(), tc.wantStdout)
			}
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	rec := newRecorder()
	stdout, stderr := rec.writers()
	if err := Read(context.Background(), filepath.Join(t.TempDir(), "nope.log"), Options{}, stdout, stderr); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read = %v, want a not-exist error", err)
	}
}

// follower runs Read with Follow in the background.
type follower struct {
	rec     *recorder
	running atomic.Bool
	done    chan error
	cancel  context.CancelFunc
}

func follow(t *testing.T, path string, opts Options) *follower {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	f := &follower{rec: newRecorder(), done: make(chan error, 1), cancel: cancel}
	f.running.Store(true)
	opts.Follow = true
	opts.Running = f.running.Load
	stdout, stderr := f.rec.writers()
	go func() { f.done <- Read(ctx, path, opts, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		<-f.done
	})
	return f
}

// waitFor polls until the output is want, within a bounded time.
func (f *follower) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.rec.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q", f.rec.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish stops the container and waits for Read to return.
func (f *follower) finish(t *testing.T) {
	t.Helper()
	f.running.Store(false)
	select {
	case err := <-f.done:
		f.done <- err // for the cleanup
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after the container stopped")
	}
}

func appendLog(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func TestFollow(t *testing.T) {
	t.Run("reads as the file grows and drains it once the container stops", func(t *testing.T) {
		path := writeLog(t, "2026-05-01T10:00:00Z stdout F a\n")
		f := follow(t, path, Options{})
		f.waitFor(t, "a\n")
		appendLog(t, path, "2026-05-01T10:00:01Z stderr F b\n2026-05-01T10:00:02Z stdout P c")
		f.waitFor(t, "a\nb\n")
		// The rest of a record written in two parts, then the container's last line and its exit.
		appendLog(t, path, "1\n2026-05-01T10:00:03Z stdout F c2\n2026-05-01T10:00:04Z stdout F last\n")
		f.finish(t)
		if got := f.rec.String(); got != "a\nb\nc1c2\nlast\n" {
			t.Errorf("output %q", got)
		}
	})
	t.Run("tail, then new lines", func(t *testing.T) {
		path := writeLog(t, sample)
		f := follow(t, path, Options{TailLines: ptr.To[int64](1)})
		f.waitFor(t, "four\n")
		appendLog(t, path, "2026-05-01T10:00:05Z stdout F five\n")
		f.waitFor(t, "four\nfive\n")
		f.finish(t)
	})
	t.Run("flushes each time it has caught up", func(t *testing.T) {
		path := writeLog(t, "2026-05-01T10:00:00Z stdout F a\n")
		var flushed sync.Map // output at each flush
		var current atomic.Pointer[follower]
		f := follow(t, path, Options{Flush: func() {
			if f := current.Load(); f != nil {
				flushed.Store(f.rec.String(), true)
			}
		}})
		current.Store(f)
		waitFlush := func(want string) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, ok := flushed.Load(want); ok {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no flush once %q was written", want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		waitFlush("a\n")
		appendLog(t, path, "2026-05-01T10:00:01Z stdout F b\n")
		waitFlush("a\nb\n")
		f.finish(t)
	})
	t.Run("ends with the context", func(t *testing.T) {
		path := writeLog(t, "2026-05-01T10:00:00Z stdout F a\n")
		f := follow(t, path, Options{})
		f.waitFor(t, "a\n")
		f.cancel()
		select {
		case err := <-f.done:
			f.done <- err
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Read did not return when its context ended")
		}
	})
	t.Run("across a rotation", func(t *testing.T) {
		path := writeLog(t, "2026-05-01T10:00:00Z stdout F a\n")
		f := follow(t, path, Options{})
		f.waitFor(t, "a\n")
		appendLog(t, path, "2026-05-01T10:00:01Z stdout F b\n")
		if err := os.Rename(path, path+".20260501-100002"); err != nil {
			t.Fatal(err)
		}
		appendLog(t, path, "2026-05-01T10:00:02Z stdout F c\n")
		f.waitFor(t, "a\nb\nc\n")
		f.finish(t)
	})
	t.Run("limit ends following", func(t *testing.T) {
		path := writeLog(t, "2026-05-01T10:00:00Z stdout F a\n")
		f := follow(t, path, Options{LimitBytes: ptr.To[int64](4)})
		appendLog(t, path, "2026-05-01T10:00:01Z stdout F bcd\n")
		select {
		case err := <-f.done:
			f.done <- err
			if err != nil || f.rec.String() != "a\nbc" {
				t.Fatalf("Read = %v, output %q", err, f.rec.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Read did not return at its byte limit")
		}
	})
}

func BenchmarkRead(b *testing.B) {
	var content strings.Builder
	for i := 0; i < 100000; i++ {
		content.WriteString("2026-05-01T10:00:00.123456789Z stdout F a log line of a typical length, with some words in it\n")
	}
	path := filepath.Join(b.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(content.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"all", Options{}},
		{"tail10", Options{TailLines: ptr.To[int64](10)}},
		{"timestamps", Options{Timestamps: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(content.Len()))
			for i := 0; i < b.N; i++ {
				var out bytes.Buffer
				if err := Read(context.Background(), path, bc.opts, &out, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

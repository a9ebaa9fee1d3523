package wal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openLog opens the log in dir after revision after, returns it with the records Open recovered, and runs
// it until the test ends.
func openLog(t *testing.T, dir string, after int64, segmentSize int64) (*Log, []Record) {
	t.Helper()
	var recovered []Record
	l, err := Open(t.Context(), dir, after, Options{SegmentSize: segmentSize, Logger: slog.Default()}, func(records []Record) error {
		for _, r := range records {
			r.Data = append([]byte(nil), r.Data...)
			recovered = append(recovered, r)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l, recovered
}

// appendAll appends one record per revision from first to last, each holding "rev N" padded to size.
func appendAll(t *testing.T, l *Log, first, last int64, size int) {
	t.Helper()
	for rev := first; rev <= last; rev++ {
		if err := l.Append(t.Context(), rev, 1, payload(rev, size)); err != nil {
			t.Fatalf("Append %d: %v", rev, err)
		}
	}
}

func payload(rev int64, size int) []byte {
	p := fmt.Sprintf("rev %d ", rev)
	return []byte(p + strings.Repeat("x", max(0, size-len(p))))
}

// image copies dir as a kill -9 would leave it (the copy reads the page cache).
func image(t *testing.T, dir string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "wal")
	if err := os.Mkdir(img, 0o700); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range names {
		b, err := os.ReadFile(filepath.Join(dir, d.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // renamed or removed since the listing: the crash came before
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(img, d.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func revisions(records []Record) string {
	var out []string
	for _, r := range records {
		out = append(out, fmt.Sprintf("%d+%d:%s", r.First, r.Count, strings.TrimRight(string(r.Data), "x")))
	}
	return strings.Join(out, ",")
}

func TestRecordsRecoveredAboveRevision(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, recovered := openLog(t, dir, 0, 1<<20)
	if len(recovered) != 0 {
		t.Fatalf("a new log recovered %v", revisions(recovered))
	}
	appendAll(t, l, 1, 3, 10)
	if err := l.Append(t.Context(), 4, 3, []byte("batch of three")); err != nil {
		t.Fatal(err)
	}
	img := image(t, dir)
	tests := []struct {
		after int64
		want  string
	}{
		{0, "1+1:rev 1 ,2+1:rev 2 ,3+1:rev 3 ,4+3:batch of three"},
		{2, "3+1:rev 3 ,4+3:batch of three"},
		{5, "4+3:batch of three"}, // the record straddles: the caller skips what it has
		{6, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("after ", tc.after), func(t *testing.T) {
			_, got := openLog(t, image(t, img), tc.after, 1<<20)
			if revisions(got) != tc.want {
				t.Errorf("recovered %q, want %q", revisions(got), tc.want)
			}
		})
	}
}

func TestRecordsOfAnotherLogAreIgnored(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, _ := openLog(t, dir, 0, 1<<20)
	appendAll(t, l, 1, 3, 10)
	var got []Record
	other, err := Open(t.Context(), image(t, dir), 0, Options{ID: 7, SegmentSize: 1 << 20, Logger: slog.Default()}, func(records []Record) error {
		got = records
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("a log with another ID recovered %q", revisions(got))
	}
}

func TestGapIsAnError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, _ := openLog(t, dir, 0, 1<<20)
	appendAll(t, l, 5, 6, 10)
	_, err := Open(t.Context(), image(t, dir), 2, Options{SegmentSize: 1 << 20, Logger: slog.Default()}, func([]Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("Open of a log starting at 5 after revision 2: err = %v, want a gap", err)
	}
}

func TestTornTailIsDropped(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(record []byte) // the last record as the crash left it
	}{
		{"second half never written", func(b []byte) { clear(b[len(b)/2:]) }},
		{"only the header written", func(b []byte) { clear(b[recordHeader:]) }},
		{"flipped bit", func(b []byte) { b[len(b)-3] ^= 0x10 }},
		{"length beyond the file", func(b []byte) { copy(b, []byte{0xff, 0xff, 0xff, 0x7f}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			l, _ := openLog(t, dir, 0, 1<<20)
			appendAll(t, l, 1, 5, 100)
			start := l.active.off
			appendAll(t, l, 6, 6, 300)
			img := image(t, dir)
			segment := filepath.Join(img, filepath.Base(l.active.path))
			b, err := os.ReadFile(segment)
			if err != nil {
				t.Fatal(err)
			}
			tc.corrupt(b[start:l.active.off])
			if err := os.WriteFile(segment, b, 0o600); err != nil {
				t.Fatal(err)
			}
			r, got := openLog(t, img, 0, 1<<20)
			if want := "1+1:rev 1 ,2+1:rev 2 ,3+1:rev 3 ,4+1:rev 4 ,5+1:rev 5 "; revisions(got) != want {
				t.Fatalf("recovered %q, want %q", revisions(got), want)
			}
			// The torn revision is written again; the torn bytes must not come back after a second crash.
			appendAll(t, r, 6, 7, 50)
			if _, again := openLog(t, image(t, img), 5, 1<<20); revisions(again) != "6+1:rev 6 ,7+1:rev 7 " {
				t.Fatalf("after the second crash recovered %q", revisions(again))
			}
		})
	}
}

func TestReleasedSegmentsAreReusedAndTrimmed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	const segmentSize = 8 << 10
	l, _ := openLog(t, dir, 0, segmentSize)
	appendAll(t, l, 1, 600, 500) // ~16 a segment
	if l.active.seq < 20 {
		t.Fatalf("600 records used %d segments, want many", l.active.seq)
	}
	l.Release(600)
	// Only the active segment, a ready one and the reusable few remain once Run has trimmed the rest.
	wantMax := 2 + keepRecycled
	deadline := time.Now().Add(10 * time.Second)
	for n := countSegments(t, dir); n > wantMax; n = countSegments(t, dir) {
		if time.Now().After(deadline) {
			t.Fatalf("%d segment files remain after releasing everything, want at most %d", n, wantMax)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Reused files hold records of their past lives: a recovery must not take them for new ones.
	appendAll(t, l, 601, 650, 500)
	if _, got := openLog(t, image(t, dir), 600, segmentSize); len(got) != 50 || got[0].First != 601 || got[49].First != 650 {
		t.Fatalf("recovered %d records (%q), want 601-650", len(got), revisions(got))
	}
}

func countSegments(t *testing.T, dir string) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

func TestRecordLargerThanASegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, _ := openLog(t, dir, 0, 4<<10)
	appendAll(t, l, 1, 1, 100)
	appendAll(t, l, 2, 2, 20<<10) // grows a fresh segment past its preallocated size
	appendAll(t, l, 3, 3, 100)
	if _, got := openLog(t, image(t, dir), 0, 4<<10); len(got) != 3 || len(got[1].Data) != 20<<10 {
		t.Fatalf("recovered %d records, want 3 with the large one whole", len(got))
	}
}

func TestFailedWriteStopsTheLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, _ := openLog(t, dir, 0, 1<<20)
	appendAll(t, l, 1, 2, 10)
	// The file is gone from under the log, as a failing disk would take it: the record cannot be written.
	f := l.active.f
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(t.Context(), 3, 1, payload(3, 10)); err == nil {
		t.Fatal("Append to a closed segment succeeded")
	}
	// What the file holds after a failed write or sync is unknown: nothing more may be appended.
	l.active.f, _ = os.Open(os.DevNull)
	if err := l.Append(t.Context(), 3, 1, payload(3, 10)); err == nil {
		t.Fatal("Append after a failed one succeeded")
	}
	if _, got := openLog(t, image(t, dir), 0, 1<<20); revisions(got) != "1+1:rev 1 ,2+1:rev 2 " {
		t.Fatalf("recovered %q, want revisions 1 and 2", revisions(got))
	}
}

package volume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var tsDirRE = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

func newTestWriter(t *testing.T) (*Writer, string) {
	t.Helper()
	dir := t.TempDir()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	return w, dir
}

func mustWrite(t *testing.T, w *Writer, payload map[string]File) bool {
	t.Helper()
	changed, err := w.Write(context.Background(), payload)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return changed
}

func readlink(t *testing.T, p string) string {
	t.Helper()
	target, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// payloadDirs lists the timestamped directories in dir.
func payloadDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if tsDirRE.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// visibleNames lists what a user sees in dir: everything not starting with "..".
func visibleNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func TestWriterFirstWriteLayout(t *testing.T) {
	w, dir := newTestWriter(t)
	changed := mustWrite(t, w, map[string]File{
		"key":          {Data: []byte("value"), Mode: 0o644},
		"secret":       {Data: []byte("s3cr3t"), Mode: 0o400},
		"sub/nested":   {Data: []byte("deep"), Mode: 0o600},
		"sub/a/b/leaf": {Data: []byte("leaf"), Mode: 0o755},
	})
	if !changed {
		t.Fatal("first Write reported no change")
	}

	ts := readlink(t, filepath.Join(dir, "..data"))
	if !tsDirRE.MatchString(ts) {
		t.Fatalf("..data -> %q, want a ..YYYY_MM_DD_hh_mm_ss.N directory", ts)
	}
	if got := payloadDirs(t, dir); len(got) != 1 || got[0] != ts {
		t.Fatalf("payload dirs %v, want only %s", got, ts)
	}
	if got, want := visibleNames(t, dir), []string{"key", "secret", "sub"}; !slices.Equal(got, want) {
		t.Fatalf("visible names %v, want %v", got, want)
	}
	for _, name := range []string{"key", "secret", "sub"} {
		if got, want := readlink(t, filepath.Join(dir, name)), "..data/"+name; got != want {
			t.Errorf("%s -> %q, want %q", name, got, want)
		}
	}

	files := []struct {
		path string
		data string
		mode fs.FileMode
	}{
		{"key", "value", 0o644},
		{"secret", "s3cr3t", 0o400},
		{"sub/nested", "deep", 0o600},
		{"sub/a/b/leaf", "leaf", 0o755},
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.path))
		if err != nil || string(got) != f.data {
			t.Errorf("read %s = %q, %v; want %q", f.path, got, err, f.data)
		}
		fi, err := os.Lstat(filepath.Join(dir, ts, f.path))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != f.mode {
			t.Errorf("%s mode %v, want regular %v", f.path, fi.Mode(), f.mode)
		}
	}
	for _, d := range []string{ts, ts + "/sub", ts + "/sub/a", ts + "/sub/a/b"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("directory %s mode %v, want 0755", d, fi.Mode().Perm())
		}
	}
}

func TestWriterUpdateSwapsData(t *testing.T) {
	w, dir := newTestWriter(t)
	mustWrite(t, w, map[string]File{
		"keep":     {Data: []byte("1"), Mode: 0o644},
		"gone":     {Data: []byte("1"), Mode: 0o644},
		"sub/gone": {Data: []byte("1"), Mode: 0o644},
		"sub/keep": {Data: []byte("1"), Mode: 0o644},
		"dir/only": {Data: []byte("1"), Mode: 0o644},
	})
	first := readlink(t, filepath.Join(dir, "..data"))

	changed := mustWrite(t, w, map[string]File{
		"keep":     {Data: []byte("2"), Mode: 0o644},
		"sub/keep": {Data: []byte("2"), Mode: 0o644},
		"new":      {Data: []byte("2"), Mode: 0o644},
	})
	if !changed {
		t.Fatal("update reported no change")
	}
	second := readlink(t, filepath.Join(dir, "..data"))
	if second == first {
		t.Fatalf("..data still points at %s", first)
	}
	if _, err := os.Lstat(filepath.Join(dir, first)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old payload dir %s still there (err %v)", first, err)
	}
	if got := payloadDirs(t, dir); len(got) != 1 || got[0] != second {
		t.Errorf("payload dirs %v, want only %s", got, second)
	}
	if got, want := visibleNames(t, dir), []string{"keep", "new", "sub"}; !slices.Equal(got, want) {
		t.Errorf("visible names %v, want %v", got, want)
	}
	for _, p := range []string{"keep", "sub/keep", "new"} {
		if got, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(got) != "2" {
			t.Errorf("read %s = %q, %v; want 2", p, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sub/gone")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sub/gone still readable (err %v)", err)
	}
}

func TestWriterNoOpOnSameContent(t *testing.T) {
	payload := map[string]File{
		"a":     {Data: []byte("x"), Mode: 0o644},
		"b/c":   {Data: []byte("y"), Mode: 0o600},
		"empty": {Mode: 0o644},
	}
	tests := []struct {
		name    string
		next    map[string]File
		changed bool
	}{
		{"identical", payload, false},
		{"unclean paths, same files", map[string]File{"./a": payload["a"], "b//c": payload["b/c"], "empty": payload["empty"]}, false},
		{"content differs", map[string]File{"a": {Data: []byte("z"), Mode: 0o644}, "b/c": payload["b/c"], "empty": payload["empty"]}, true},
		{"mode differs", map[string]File{"a": {Data: []byte("x"), Mode: 0o640}, "b/c": payload["b/c"], "empty": payload["empty"]}, true},
		{"file removed", map[string]File{"a": payload["a"], "b/c": payload["b/c"]}, true},
		{"file added", map[string]File{"a": payload["a"], "b/c": payload["b/c"], "empty": payload["empty"], "d": {Mode: 0o644}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, dir := newTestWriter(t)
			mustWrite(t, w, payload)
			before := readlink(t, filepath.Join(dir, "..data"))
			if got := mustWrite(t, w, tt.next); got != tt.changed {
				t.Fatalf("changed = %v, want %v", got, tt.changed)
			}
			after := readlink(t, filepath.Join(dir, "..data"))
			if (before != after) != tt.changed {
				t.Errorf("..data %s -> %s, changed %v", before, after, tt.changed)
			}
			if n := len(payloadDirs(t, dir)); n != 1 {
				t.Errorf("%d payload dirs, want 1", n)
			}
		})
	}
}

func TestWriterRepairsMissingLinkWithoutNewPayload(t *testing.T) {
	w, dir := newTestWriter(t)
	payload := map[string]File{"a": {Data: []byte("x"), Mode: 0o644}}
	mustWrite(t, w, payload)
	if err := os.Remove(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if !mustWrite(t, w, payload) {
		t.Fatal("Write with a missing link reported no change")
	}
	if got, err := os.ReadFile(filepath.Join(dir, "a")); err != nil || string(got) != "x" {
		t.Fatalf("read a = %q, %v", got, err)
	}
}

func TestWriterRemovesLeftovers(t *testing.T) {
	w, dir := newTestWriter(t)
	// What a crashed Write leaves: a payload dir nobody points at and a dangling ..data_tmp.
	crashed := filepath.Join(dir, "..2020_01_02_03_04_05.42")
	if err := os.MkdirAll(filepath.Join(crashed, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2020_01_02_03_04_05.42", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	// Not ours: a user-looking hidden dir that does not follow the timestamp shape stays.
	foreign := filepath.Join(dir, "..keep")
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}

	mustWrite(t, w, map[string]File{"a": {Data: []byte("x"), Mode: 0o644}})
	if _, err := os.Lstat(crashed); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover payload dir still there (err %v)", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "..data_tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("..data_tmp still there (err %v)", err)
	}
	if _, err := os.Lstat(foreign); err != nil {
		t.Errorf("foreign dir removed: %v", err)
	}
}

func TestWriterModesIgnoreUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	w, dir := newTestWriter(t)
	mustWrite(t, w, map[string]File{"a/b": {Data: []byte("x"), Mode: 0o644}})
	for p, want := range map[string]fs.FileMode{"..data/": 0o755, "..data/a": 0o755, "..data/a/b": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

func TestWriterRejectsBadPaths(t *testing.T) {
	long := strings.Repeat("x", 256)
	tests := []struct {
		path string
		want string
	}{
		{"", `invalid path: must not be empty: ""`},
		{"/abs", "invalid path: must be relative path: /abs"},
		{"a/../b", "invalid path: must not contain '..': a/../b"},
		{"..hidden", "invalid path: must not start with '..': ..hidden"},
		{long, "invalid path: filenames must be less than or equal to 255 characters"},
		{strings.Repeat("a/", 2049), "invalid path: must be less than or equal to 4096 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			w, dir := newTestWriter(t)
			_, err := w.Write(context.Background(), map[string]File{tt.path: {Mode: 0o644}})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if names := payloadDirs(t, dir); len(names) != 0 {
				t.Errorf("a refused payload left %v", names)
			}
		})
	}
}

func TestWriterHonoursContext(t *testing.T) {
	w, dir := newTestWriter(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Write(ctx, map[string]File{"a": {Mode: 0o644}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if names := payloadDirs(t, dir); len(names) != 0 {
		t.Errorf("a cancelled Write left %v", names)
	}
	if _, err := os.Lstat(filepath.Join(dir, "..data")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cancelled Write made ..data (err %v)", err)
	}
}

func TestNewWriterNeedsDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "missing"), file} {
		if _, err := NewWriter(p); err == nil {
			t.Errorf("NewWriter(%s) succeeded", p)
		}
	}
}

// generation builds payload number g: every file holds a header naming g and a body long enough that a
// torn write would show, and the set of keys changes with g's parity.
func generation(g int) map[string]File {
	body := bytes.Repeat([]byte{byte('a' + g%26)}, 64<<10)
	file := func(name string) File {
		return File{Data: append([]byte(fmt.Sprintf("gen=%d name=%s\n", g, name)), body...), Mode: 0o644}
	}
	p := map[string]File{"stable": file("stable"), "dir/nested": file("dir/nested")}
	if g%2 == 0 {
		p["even"] = file("even")
	}
	return p
}

// parseGeneration checks that data is a whole file of some generation for name and returns it.
func parseGeneration(name string, data []byte) (int, error) {
	header, _, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return 0, fmt.Errorf("%s: no header in %d bytes", name, len(data))
	}
	var g int
	var gotName string
	if _, err := fmt.Sscanf(string(header), "gen=%d name=%s", &g, &gotName); err != nil || gotName != name {
		return 0, fmt.Errorf("%s: bad header %q", name, header)
	}
	want := generation(g)[name].Data
	if !bytes.Equal(data, want) {
		return 0, fmt.Errorf("%s: generation %d torn (%d bytes, want %d)", name, g, len(data), len(want))
	}
	return g, nil
}

// TestWriterConcurrentReader updates the volume while readers read it both ways a program does: through
// the visible names, and through one resolved ..data snapshot. No read may see a torn file, and a snapshot
// that reads at all must be one generation throughout.
func TestWriterConcurrentReader(t *testing.T) {
	const (
		updates  = 60
		maxReads = 20000
	)
	w, dir := newTestWriter(t)
	mustWrite(t, w, generation(0))

	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	var visibleReads, snapshots, consistentSnapshots int
	wg.Add(2)
	go func() { // through visible names
		defer wg.Done()
		for i := 0; i < maxReads; i++ {
			select {
			case <-done:
				return
			default:
			}
			for _, name := range []string{"stable", "dir/nested"} {
				data, err := os.ReadFile(filepath.Join(dir, name))
				if errors.Is(err, fs.ErrNotExist) {
					// The path walk resolved ..data just before a swap and reached the old payload just
					// after its removal: the kubelet's layout has the same window, and it is not a torn read.
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if _, err := parseGeneration(name, data); err != nil {
					errs <- err
					return
				}
				visibleReads++
			}
		}
	}()
	go func() { // through one ..data snapshot
		defer wg.Done()
		for i := 0; i < maxReads; i++ {
			select {
			case <-done:
				return
			default:
			}
			root, err := os.OpenRoot(filepath.Join(dir, "..data"))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				errs <- err
				return
			}
			snapshots++
			gens := map[int]bool{}
			complete := true
			for _, name := range []string{"stable", "dir/nested"} {
				data, err := root.ReadFile(name)
				if errors.Is(err, fs.ErrNotExist) {
					complete = false // removed under us after a swap: the reader would retry
					break
				}
				if err != nil {
					errs <- err
					root.Close()
					return
				}
				g, err := parseGeneration(name, data)
				if err != nil {
					errs <- err
					root.Close()
					return
				}
				gens[g] = true
			}
			root.Close()
			if complete {
				consistentSnapshots++
				if len(gens) != 1 {
					errs <- fmt.Errorf("one snapshot mixed generations %v", gens)
					return
				}
			}
		}
	}()

	for g := 1; g <= updates; g++ {
		if _, err := w.Write(context.Background(), generation(g)); err != nil {
			close(done)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if visibleReads == 0 || consistentSnapshots == 0 {
		t.Errorf("readers did not overlap the writer: %d visible reads, %d/%d snapshots", visibleReads, consistentSnapshots, snapshots)
	}
	if n := len(payloadDirs(t, dir)); n != 1 {
		t.Errorf("%d payload dirs after the run, want 1", n)
	}
	if got, want := visibleNames(t, dir), []string{"dir", "even", "stable"}; !slices.Equal(got, want) {
		t.Errorf("visible names %v, want %v (generation %d)", got, want, updates)
	}
	t.Logf("%d visible reads, %d snapshots (%d complete)", visibleReads, snapshots, consistentSnapshots)
}

// benchPayload is a service-account-like volume: three small files.
func benchPayload(g int) map[string]File {
	return map[string]File{
		"token":     {Data: []byte(fmt.Sprintf("eyJhbGciOi.%0900d", g)), Mode: 0o644},
		"ca.crt":    {Data: bytes.Repeat([]byte("c"), 1200), Mode: 0o644},
		"namespace": {Data: []byte("default"), Mode: 0o644},
	}
}

// BenchmarkWriterUpdate measures a full update: new payload dir, ..data swap, old dir removed.
func BenchmarkWriterUpdate(b *testing.B) {
	w, err := NewWriter(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := w.Write(ctx, benchPayload(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterNoOp measures the periodic resync of an unchanged volume: compare only.
func BenchmarkWriterNoOp(b *testing.B) {
	w, err := NewWriter(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	p := benchPayload(0)
	if _, err := w.Write(ctx, p); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		changed, err := w.Write(ctx, p)
		if err != nil || changed {
			b.Fatalf("changed %v, err %v", changed, err)
		}
	}
}

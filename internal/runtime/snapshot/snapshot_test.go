package snapshot_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/peapod-dev/peapod/internal/runtime/image"
	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
	"github.com/peapod-dev/peapod/internal/runtime/snapshot"
)

func requireOverlay(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount overlayfs")
	}
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(data), "\toverlay\n") {
		t.Skip("overlayfs is not available in this kernel")
	}
}

// mounts counts the mounts at p in this process's mount namespace.
func mounts(t testing.TB, p string) int {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && fields[4] == p {
			n++
		}
	}
	return n
}

func newSnapshotter(t testing.TB) *snapshot.Snapshotter {
	t.Helper()
	s, err := snapshot.New(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cleanup removes a snapshot when a test ends, whatever happened, so that no mount outlives it.
func cleanup(t testing.TB, s *snapshot.Snapshotter, id string) {
	t.Cleanup(func() {
		if err := s.Remove(context.Background(), id, ""); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func layerDirs(t testing.TB, n int, files func(i int) map[string]string) []string {
	t.Helper()
	base := t.TempDir()
	var dirs []string
	for i := range n {
		d := filepath.Join(base, fmt.Sprintf("layer-with-a-deliberately-long-name-to-fill-the-page-%04d", i))
		for name, body := range files(i) {
			p := filepath.Join(d, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrepareRemove(t *testing.T) {
	requireOverlay(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		layers int
	}{
		{"one layer", 1},
		{"two layers", 2},
		{"no layers", 0},
		{"beyond the mount options page", 120}, // ~70 bytes a path: twice the 4 KiB page
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSnapshotter(t)
			lowers := layerDirs(t, tt.layers, func(i int) map[string]string {
				return map[string]string{"top": fmt.Sprint(i), fmt.Sprintf("only-%d", i): "x"}
			})
			cleanup(t, s, "c1")
			rootfs, err := s.Prepare(ctx, "c1", lowers, "")
			if err != nil {
				t.Fatal(err)
			}
			if mounts(t, rootfs) != 1 {
				t.Fatalf("%s mounted %d times", rootfs, mounts(t, rootfs))
			}
			if tt.layers > 0 {
				if got := readFile(t, filepath.Join(rootfs, "top")); got != fmt.Sprint(tt.layers-1) {
					t.Errorf("top = %q: the last lower dir should be the top layer", got)
				}
				for i := range tt.layers {
					if _, err := os.Stat(filepath.Join(rootfs, fmt.Sprintf("only-%d", i))); err != nil {
						t.Errorf("layer %d not visible: %v", i, err)
					}
				}
			}
			if err := os.WriteFile(filepath.Join(rootfs, "written"), []byte("w"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, l := range lowers {
				if _, err := os.Stat(filepath.Join(l, "written")); err == nil {
					t.Fatal("a write reached a lower layer")
				}
			}
			// Idempotent: the same layers give the same mount; other layers are refused.
			again, err := s.Prepare(ctx, "c1", lowers, "")
			if err != nil || again != rootfs || mounts(t, rootfs) != 1 {
				t.Errorf("second Prepare: %q, %v, %d mounts", again, err, mounts(t, rootfs))
			}
			if _, err := s.Prepare(ctx, "c1", append(lowers, t.TempDir()), ""); err == nil {
				t.Error("Prepare with other layers succeeded")
			}
			if err := s.Remove(ctx, "c1", ""); err != nil {
				t.Fatal(err)
			}
			if mounts(t, rootfs) != 0 {
				t.Errorf("%s still mounted after Remove", rootfs)
			}
			if _, err := os.Stat(filepath.Dir(rootfs)); !os.IsNotExist(err) {
				t.Errorf("snapshot dir left behind: %v", err)
			}
			if err := s.Remove(ctx, "c1", ""); err != nil {
				t.Errorf("second Remove: %v", err)
			}
		})
	}
}

func TestPrepareRejects(t *testing.T) {
	requireOverlay(t)
	s := newSnapshotter(t)
	ok := t.TempDir()
	for _, tt := range []struct {
		id     string
		lowers []string
	}{
		{"../escape", []string{ok}},
		{"", []string{ok}},
		{"a/b", []string{ok}},
		{"fine", []string{"relative"}},
		{"fine", []string{filepath.Join(ok, "missing")}},
	} {
		if _, err := s.Prepare(context.Background(), tt.id, tt.lowers, ""); err == nil {
			s.Remove(context.Background(), tt.id, "")
			t.Errorf("Prepare(%q, %v) succeeded", tt.id, tt.lowers)
		}
	}
}

func TestListAfterRestart(t *testing.T) {
	requireOverlay(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "snapshots")
	s, err := snapshot.New(root)
	if err != nil {
		t.Fatal(err)
	}
	lowers := layerDirs(t, 2, func(i int) map[string]string { return map[string]string{"f": fmt.Sprint(i)} })
	cleanup(t, s, "mounted")
	cleanup(t, s, "unmounted")
	for _, id := range []string{"mounted", "unmounted"} {
		if _, err := s.Prepare(ctx, id, lowers, ""); err != nil {
			t.Fatal(err)
		}
	}
	unmountedRootfs := filepath.Join(root, "unmounted", "rootfs")
	if err := os.WriteFile(filepath.Join(unmountedRootfs, "kept"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	// What a reboot does to one of them.
	if err := unix.Unmount(unmountedRootfs, 0); err != nil {
		t.Fatal(err)
	}
	s2, err := snapshot.New(root)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(list)
	want := fmt.Sprint([]snapshot.Snapshot{
		{ID: "mounted", Rootfs: filepath.Join(root, "mounted", "rootfs"), Mounted: true, LowerDirs: lowers},
		{ID: "unmounted", Rootfs: unmountedRootfs, Mounted: false, LowerDirs: lowers},
	})
	if got != want {
		t.Fatalf("List:\n got %s\nwant %s", got, want)
	}
	if _, err := s2.Prepare(ctx, "unmounted", lowers, ""); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(unmountedRootfs, "kept")) != "k" {
		t.Error("the container's writes were lost when mounting again")
	}
}

// TestImageThroughOverlay pulls a real image whose top layer deletes and hides lower files, and checks that the
// mounted root filesystem shows what the image means.
func TestImageThroughOverlay(t *testing.T) {
	requireOverlay(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	middle := imagetest.Layer(t,
		imagetest.Dir("srv", 0o755), imagetest.File("srv/old", "old", 0o644), imagetest.Dir("srv/sub", 0o755),
		imagetest.File("srv/sub/deep", "deep", 0o644), imagetest.File("etc/motd", "hello", 0o644))
	top := imagetest.Layer(t,
		imagetest.Whiteout("etc/hostname"), imagetest.Whiteout("etc/motd"),
		imagetest.Opaque("srv"), imagetest.File("srv/new", "new", 0o644))
	img := imagetest.Variant(t, imagetest.Busybox(t), imagetest.Config{Layers: []v1.Layer{middle, top}})
	imagetest.Push(t, host, "wh:1", img)
	s := newSnapshotter(t)
	store, err := image.Open(t.TempDir(), image.Options{LayersInUse: s.LowerDirsInUse})
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Pull(ctx, host+"/wh:1", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, s, "wh")
	rootfs, err := s.Prepare(ctx, "wh", res.Image.LayerDirs, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"etc/hostname", "etc/motd", "srv/old", "srv/sub"} {
		if _, err := os.Lstat(filepath.Join(rootfs, gone)); !os.IsNotExist(err) {
			t.Errorf("%s visible through the overlay: %v", gone, err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(rootfs, "srv"))
	if err != nil || len(entries) != 1 || entries[0].Name() != "new" {
		t.Errorf("srv holds %v (%v), want only new", entries, err)
	}
	for _, present := range []string{"bin/sh", "bin/busybox", "etc/passwd"} {
		if _, err := os.Lstat(filepath.Join(rootfs, present)); err != nil {
			t.Errorf("%s: %v", present, err)
		}
	}
	// The rootfs runs: busybox from the overlay, in a chroot, sees the image's view.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "chroot", rootfs, "/bin/sh", "-c", "ls /srv; cat /etc/hostname 2>&1; id -un").CombinedOutput()
	if got := string(out); !strings.Contains(got, "new\n") || !strings.Contains(got, "No such file") || !strings.HasSuffix(got, "root\n") {
		t.Errorf("chroot %s: %v\n%s", rootfs, err, got)
	}
	// The lower layers themselves are untouched by what the container deletes.
	if err := os.Remove(filepath.Join(rootfs, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(res.Image.LayerDirs[0], "etc/passwd")); err != nil {
		t.Errorf("deleting in the container reached the image layer: %v", err)
	}

	// The store refuses to delete layers a snapshot uses, and deletes them once it is gone.
	if err := store.Remove(ctx, host+"/wh:1"); !errors.Is(err, image.ErrInUse) {
		t.Fatalf("Remove of an image in use: %v, want ErrInUse", err)
	}
	if _, err := store.Get(ctx, host+"/wh:1"); err != nil {
		t.Fatalf("the refused Remove changed the store: %v", err)
	}
	if err := s.Remove(ctx, "wh", ""); err != nil {
		t.Fatal(err)
	}
	if err := store.Remove(ctx, host+"/wh:1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Image.LayerDirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("layer %s left: %v", d, err)
		}
	}
}

// A pod's overlays live in its own mount namespace: invisible in the host's mount table, visible to the
// namespace's processes, and unmounted there by Remove.
func TestPrepareInMountNamespace(t *testing.T) {
	requireOverlay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	holder := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	ns := fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid)
	for i := 0; ; i++ { // unshare has entered its namespace once it differs from ours
		mine, _ := os.Readlink("/proc/self/ns/mnt")
		theirs, _ := os.Readlink(ns)
		if theirs != "" && theirs != mine {
			break
		}
		if i == 200 {
			t.Fatalf("unshare did not enter a new mount namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := newSnapshotter(t)
	lowers := layerDirs(t, 1, func(int) map[string]string { return map[string]string{"hello": "from the layer"} })
	rootfs, err := s.Prepare(ctx, "inns", lowers, ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Remove(context.Background(), "inns", ns) })
	if n := mounts(t, rootfs); n != 0 {
		t.Errorf("%d mounts at %s in the host's mount table, want 0", n, rootfs)
	}
	inNS := fmt.Sprintf("/proc/%d/root%s", holder.Process.Pid, rootfs)
	if got := readFile(t, filepath.Join(inNS, "hello")); got != "from the layer" {
		t.Errorf("hello in the namespace = %q", got)
	}
	again, err := s.Prepare(ctx, "inns", lowers, ns)
	if err != nil || again != rootfs {
		t.Errorf("Prepare again = %q, %v; want %q (the mounted snapshot)", again, err, rootfs)
	}
	mountinfo := func() string {
		return readFile(t, fmt.Sprintf("/proc/%d/mountinfo", holder.Process.Pid))
	}
	if n := strings.Count(mountinfo(), " "+rootfs+" "); n != 1 {
		t.Errorf("%d mounts at %s in the namespace, want 1", n, rootfs)
	}
	if err := s.Remove(ctx, "inns", ns); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mountinfo(), " "+rootfs+" ") {
		t.Errorf("%s still mounted in the namespace after Remove", rootfs)
	}
	if _, err := os.Stat(filepath.Dir(rootfs)); !os.IsNotExist(err) {
		t.Errorf("snapshot directory left: %v", err)
	}
	// A namespace whose process is gone: Remove still deletes the snapshot.
	if _, err := s.Prepare(ctx, "gone", lowers, ns); err != nil {
		t.Fatal(err)
	}
	_ = holder.Process.Kill()
	_ = holder.Wait()
	if err := s.Remove(ctx, "gone", ns); err != nil {
		t.Fatalf("Remove after the namespace went: %v", err)
	}
}

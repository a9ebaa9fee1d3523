// Package snapshot mounts container root filesystems: an overlayfs of read-only image layers under a private
// writable upper directory, one snapshot per container, kept under a root directory so that a restarted agent
// finds them again.
//
// Each snapshot lives in <root>/<id>/ with upper/ (the container's writes), work/ (overlayfs' scratch),
// rootfs/ (the mount point, handed to the OCI runtime) and lower.json (the layers it was prepared with).
package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Snapshotter prepares and removes overlay snapshots under a root directory. It is safe for concurrent use
// within one process; one process at a time should own a root.
type Snapshotter struct {
	root string
	mu   sync.Mutex // serialises Prepare and Remove: each checks the mount state before acting on it
}

// Snapshot is a prepared (or left over) snapshot.
type Snapshot struct {
	ID        string
	Rootfs    string
	Mounted   bool
	LowerDirs []string // bottom first, as given to Prepare
}

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// New returns a Snapshotter keeping snapshots under root, creating it if needed.
func New(root string) (*Snapshotter, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("snapshots %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o711); err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	return &Snapshotter{root: abs}, nil
}

// Root is the directory holding the snapshots.
func (s *Snapshotter) Root() string { return s.root }

func (s *Snapshotter) dir(id string) (string, error) {
	if !validID.MatchString(id) {
		return "", fmt.Errorf("snapshot id %q: want 1-128 of [A-Za-z0-9_.-], not starting with . _ or -", id)
	}
	return filepath.Join(s.root, id), nil
}

// Prepare mounts an overlay of lowerDirs (bottom first, as image.Image.LayerDirs lists them) with a fresh or
// existing upper directory and returns the root filesystem path. Preparing a mounted snapshot again with the
// same layers returns the same path; with other layers it fails. A snapshot left unmounted (after a reboot)
// is mounted again over its existing upper directory, keeping the container's writes.
//
// mountNS is the mount namespace to mount in, as a file such as /proc/<pid>/ns/mnt (a pod's own namespace,
// where the OCI runtime runs), or empty for the caller's. The path is the same in both: a pod's namespace is
// a copy of the host's.
func (s *Snapshotter) Prepare(ctx context.Context, id string, lowerDirs []string, mountNS string) (string, error) {
	dir, err := s.dir(id)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	for _, l := range lowerDirs {
		if !filepath.IsAbs(l) {
			return "", fmt.Errorf("snapshot %s: lower dir %q is not absolute", id, l)
		}
		if st, err := os.Stat(l); err != nil || !st.IsDir() {
			return "", fmt.Errorf("snapshot %s: lower dir %q is not a directory (%v)", id, l, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rootfs := filepath.Join(dir, "rootfs")
	existing := false
	if prev, err := readLower(dir); err == nil {
		if !slices.Equal(prev, lowerDirs) {
			return "", fmt.Errorf("snapshot %s exists with other layers", id)
		}
		existing = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("snapshot %s: %w", id, err)
	}
	dirs := []string{"upper", "work", "rootfs"}
	if len(lowerDirs) == 0 {
		dirs = append(dirs, "empty") // overlayfs needs one lower layer
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", fmt.Errorf("snapshot %s: %w", id, err)
		}
	}
	if !existing {
		if err := writeLower(dir, lowerDirs); err != nil {
			return "", fmt.Errorf("snapshot %s: %w", id, err)
		}
	}
	lowers := make([]string, 0, len(lowerDirs))
	for _, l := range slices.Backward(lowerDirs) { // overlayfs lists the top layer first
		rel, err := filepath.Rel(dir, l)
		if err != nil {
			return "", fmt.Errorf("snapshot %s: %w", id, err)
		}
		lowers = append(lowers, rel)
	}
	if len(lowers) == 0 {
		lowers = []string{"empty"}
	}
	err = inDir(mountNS, dir, func() error {
		if existing {
			if mounted, err := isMountPoint(rootfs); err != nil || mounted {
				return err
			}
		}
		return mountOverlay(lowers, "upper", "work", rootfs)
	})
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", id, err)
	}
	return rootfs, nil
}

// inDir runs fn in mount namespace mountNS (the caller's when empty) with dir as the working directory, on a
// thread of its own. Overlay directories are given relative to the snapshot's directory so that the mount
// table, which shows them as given and which runc reads several times per container, stays short (a 100-pod
// burst spent a fifth of its CPU reading it). The thread, whose file system attributes are its own after
// unshare(CLONE_FS) (setns into a mount namespace requires that too), is never handed back to the Go
// scheduler: it ends with the goroutine.
func inDir(mountNS, dir string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, so the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare the working directory: %w", err)
			return
		}
		if mountNS != "" {
			if err := setMountNS(mountNS); err != nil {
				errc <- err
				return
			}
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// setMountNS moves the calling thread, which must not share its file system attributes, into the mount
// namespace the file ns stands for.
func setMountNS(ns string) error {
	fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open mount namespace: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("enter mount namespace %s: %w", ns, err)
	}
	return nil
}

// mountOverlay mounts (paths relative to the working directory or absolute) with mount(2) when the options fit in the page the kernel copies them into, and otherwise
// with the new mount API, which takes one lower layer per fsconfig call ("lowerdir+", Linux 6.8).
func mountOverlay(lowers []string, upper, work, target string) error {
	for _, p := range append([]string{upper, work}, lowers...) {
		if strings.ContainsAny(p, ",:\\") {
			return fmt.Errorf("overlay path %q contains one of , : \\", p)
		}
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) < os.Getpagesize() {
		if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mounting overlay on %s: %w", target, err)
		}
		return nil
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("%d lower layers need %d bytes of mount options (limit %d) and the new mount API: %w",
			len(lowers), len(opts), os.Getpagesize()-1, err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "source", "overlay"); err != nil {
		return fmt.Errorf("overlay source: %w", err)
	}
	for _, l := range lowers {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			return fmt.Errorf("%d lower layers exceed the mount options page (%d bytes) and the kernel refused "+
				"overlay's lowerdir+ (needs Linux 6.8) for %s: %w", len(lowers), len(opts), l, err)
		}
	}
	if err := unix.FsconfigSetString(fsfd, "upperdir", upper); err != nil {
		return fmt.Errorf("overlay upperdir: %w", err)
	}
	if err := unix.FsconfigSetString(fsfd, "workdir", work); err != nil {
		return fmt.Errorf("overlay workdir: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("creating overlay: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching overlay at %s: %w", target, err)
	}
	return nil
}

// isMountPoint tells a mounted rootfs by its device differing from its parent's; an overlay always has its own.
func isMountPoint(p string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(p), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

func readLower(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "lower.json"))
	if err != nil {
		return nil, err
	}
	var l []string
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("lower.json: %w", err)
	}
	return l, nil
}

func writeLower(dir string, lowers []string) error {
	if lowers == nil {
		lowers = []string{}
	}
	data, err := json.Marshal(lowers)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".lower.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "lower.json"))
}

// Remove unmounts a snapshot, in mount namespace mountNS (as for Prepare) and in the caller's, and deletes it
// with the container's writes. A mountNS whose process is gone is skipped: its mounts went with it. Removing a
// missing snapshot is not an error.
func (s *Snapshotter) Remove(ctx context.Context, id string, mountNS string) error {
	dir, err := s.dir(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	rootfs := filepath.Join(dir, "rootfs")
	if mountNS != "" {
		if _, err := os.Stat(mountNS); err == nil {
			if err := inDir(mountNS, "/", func() error { return unmountAll(ctx, rootfs) }); err != nil &&
				!errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("snapshot %s: %w", id, err)
			}
		}
	}
	if err := unmountAll(ctx, rootfs); err != nil {
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	// Deleting while still mounted would reach into whatever is mounted below; only now is it safe.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	return nil
}

// unmountAll unmounts everything stacked on rootfs in the calling thread's mount namespace (a Prepare raced by
// hand, a bind mount on top: all are peeled).
func unmountAll(ctx context.Context, rootfs string) error {
	for range 16 {
		if err := ctx.Err(); err != nil {
			return err
		}
		mounted, err := isMountPoint(rootfs)
		if err != nil || !mounted {
			return err
		}
		err = unix.Unmount(rootfs, 0)
		if errors.Is(err, unix.EBUSY) {
			// Still in use (a process's cwd, a submount): detach now, the kernel frees it when the last user goes.
			err = unix.Unmount(rootfs, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting: %w", err)
		}
	}
	return fmt.Errorf("still mounted after 16 unmounts")
}

// LowerDirsInUse returns the lower directories of every snapshot under the root, mounted or not (an unmounted
// one is mounted again for its container): the image layers that must not be deleted. It reads no mount table,
// since the overlays live in the pods' own mount namespaces.
func (s *Snapshotter) LowerDirsInUse() (map[string]bool, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	used := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() || !validID.MatchString(e.Name()) {
			continue
		}
		lowers, err := readLower(filepath.Join(s.root, e.Name()))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("snapshot %s: %w", e.Name(), err)
		}
		for _, l := range lowers {
			used[l] = true
		}
	}
	return used, nil
}

// List returns the snapshots under the root, mounted or not, ordered by ID.
func (s *Snapshotter) List(ctx context.Context) ([]Snapshot, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	var out []Snapshot
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !e.IsDir() || !validID.MatchString(e.Name()) {
			continue
		}
		dir := filepath.Join(s.root, e.Name())
		lowers, err := readLower(dir)
		if errors.Is(err, fs.ErrNotExist) {
			lowers = nil // cut short before its layers were recorded: still listed, so it can be removed
		} else if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", e.Name(), err)
		}
		rootfs := filepath.Join(dir, "rootfs")
		mounted, err := isMountPoint(rootfs)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", e.Name(), err)
		}
		out = append(out, Snapshot{ID: e.Name(), Rootfs: rootfs, Mounted: mounted, LowerDirs: lowers})
	}
	return out, nil
}

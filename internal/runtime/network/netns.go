package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// NetNSPath is where NewNetNS puts id's network namespace.
func (n *Network) NetNSPath(id string) string {
	return filepath.Join(n.cfg.NetNSDir, netnsNamePrefix+id)
}

// NewNetNS creates id's network namespace, bind-mounted at NetNSPath(id) so that it outlives this process and
// containers can join it by path. It returns the path; an existing namespace is kept.
func (n *Network) NewNetNS(ctx context.Context, id string) (string, error) {
	if err := validateID(id); err != nil {
		return "", fmt.Errorf("new netns: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("new netns %s: %w", id, err)
	}
	if err := n.ensureNetNSDir(); err != nil {
		return "", fmt.Errorf("new netns %s: %w", id, err)
	}
	path := n.NetNSPath(id)
	if isNetNS(path) {
		return path, nil
	}
	// The mount point; a file left by a crash before the mount is reused.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return "", fmt.Errorf("new netns %s: %w", id, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() { errc <- createNetNS(path) }()
	if err := <-errc; err != nil {
		os.Remove(path)
		return "", fmt.Errorf("new netns %s: %w", id, err)
	}
	return path, nil
}

// createNetNS enters a new network namespace on a locked thread, bind-mounts it at path and goes back. The thread
// is unlocked only once it is back in its original namespace; if it cannot get back it stays locked, and the
// runtime ends it with the goroutine instead of handing it to other goroutines in the wrong namespace.
func createNetNS(path string) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("unshare: %w", err)
	}
	merr := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return errors.Join(merr, fmt.Errorf("return to the original netns: %w", err))
	}
	runtime.UnlockOSThread()
	if merr != nil {
		return fmt.Errorf("bind mount: %w", merr)
	}
	return nil
}

// DeleteNetNS unmounts and removes id's network namespace; the namespace itself goes when its last process
// leaves. A missing namespace is not an error.
func (n *Network) DeleteNetNS(ctx context.Context, id string) error {
	if err := validateID(id); err != nil {
		return fmt.Errorf("delete netns: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete netns %s: %w", id, err)
	}
	path := n.NetNSPath(id)
	// EINVAL: not a mount point (a crash between creating the file and mounting on it).
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete netns %s: unmount: %w", id, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", id, err)
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// ensureNetNSDir makes NetNSDir a shared mount point, as `ip netns` does: a mount namespace created later (a
// container's) then receives the unmount of a deleted namespace instead of keeping the namespace alive.
func (n *Network) ensureNetNSDir() error {
	n.netnsMu.Lock()
	defer n.netnsMu.Unlock()
	if n.netnsDirShared {
		return nil
	}
	dir := n.cfg.NetNSDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		return err
	}
	if !mounted {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s: %w", dir, err)
		}
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	n.netnsDirShared = true
	return nil
}

// isMountPoint reports whether dir is the root of a mount (statx's STATX_ATTR_MOUNT_ROOT, Linux 5.8).
func isMountPoint(dir string) (bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st); err != nil {
		return false, fmt.Errorf("statx %s: %w", dir, err)
	}
	if st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, fmt.Errorf("statx %s: kernel does not report mount roots (Linux 5.8 or later needed)", dir)
	}
	return st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

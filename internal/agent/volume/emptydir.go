package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// emptyDirPerm is the kubelet's mode for an emptyDir on disk: every container user may write to it.
const emptyDirPerm fs.FileMode = 0o777

// SetUpEmptyDir makes dir the emptyDir volume src of pod. On disk (medium "") it is a 0777 directory; with
// medium Memory it is a tmpfs mounted there (mode 1777, the tmpfs default the kubelet keeps), of the size
// MemoryEmptyDirSize gives. Setting up an already set-up directory is a no-op.
func SetUpEmptyDir(dir string, pod *v1.Pod, src *v1.EmptyDirVolumeSource, nodeMemory resource.Quantity) error {
	switch src.Medium {
	case v1.StorageMediumDefault, v1.StorageMediumMemory:
	default:
		return fmt.Errorf("emptyDir medium %q is not supported by peapod yet", src.Medium)
	}
	if err := os.MkdirAll(dir, emptyDirPerm); err != nil {
		return fmt.Errorf("emptyDir %s: %w", dir, err)
	}
	if src.Medium != v1.StorageMediumMemory {
		// MkdirAll's mode went through the umask.
		if err := os.Chmod(dir, emptyDirPerm); err != nil {
			return fmt.Errorf("emptyDir %s: %w", dir, err)
		}
		return nil
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		return fmt.Errorf("emptyDir %s: %w", dir, err)
	}
	if mounted {
		return nil
	}
	var data string
	if size := MemoryEmptyDirSize(pod, src, nodeMemory); size.Value() > 0 {
		data = fmt.Sprintf("size=%d", size.Value())
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, data); err != nil {
		return fmt.Errorf("mount tmpfs on emptyDir %s (%s): %w", dir, data, err)
	}
	return nil
}

// TearDownEmptyDir unmounts dir if something is mounted on it (a memory emptyDir) and removes it.
func TearDownEmptyDir(dir string) error {
	mounted, err := isMountPoint(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tear down emptyDir %s: %w", dir, err)
	}
	if mounted {
		if err := unix.Unmount(dir, 0); err != nil {
			return fmt.Errorf("unmount emptyDir %s: %w", dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove emptyDir %s: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether dir sits on another device than its parent, the kubelet's "likely a mount
// point" test; a fresh tmpfs always has its own device.
func isMountPoint(dir string) (bool, error) {
	var st, parent syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return false, &fs.PathError{Op: "lstat", Path: dir, Err: err}
	}
	parentDir := filepath.Dir(filepath.Clean(dir))
	if err := syscall.Lstat(parentDir, &parent); err != nil {
		return false, &fs.PathError{Op: "lstat", Path: parentDir, Err: err}
	}
	return st.Dev != parent.Dev, nil
}

// MemoryEmptyDirSize is the size of a memory-backed emptyDir, computed as the kubelet does: the node's
// allocatable memory, lowered to the pod's memory limit when every container declares one, lowered to the
// volume's sizeLimit when that is smaller still. Zero means no size option (the kernel's default).
func MemoryEmptyDirSize(pod *v1.Pod, src *v1.EmptyDirVolumeSource, nodeMemory resource.Quantity) resource.Quantity {
	size := nodeMemory.DeepCopy()
	lower := func(q resource.Quantity) {
		if q.Sign() > 0 && (size.IsZero() || q.Cmp(size) <= 0) {
			size = q.DeepCopy()
		}
	}
	if limit, ok := podMemoryLimit(pod); ok {
		lower(limit)
	}
	if src.SizeLimit != nil {
		lower(*src.SizeLimit)
	}
	return size
}

// podMemoryLimit is the pod-level memory limit the kubelet would give the pod's cgroup: set only when every
// container declares one; app containers and sidecars add up, a run-to-completion init container counts
// with the sidecars started before it, the largest of those wins, and the pod overhead is added.
func podMemoryLimit(pod *v1.Pod) (resource.Quantity, bool) {
	var sidecars, peakInit resource.Quantity
	for _, c := range pod.Spec.InitContainers {
		limit, ok := c.Resources.Limits[v1.ResourceMemory]
		if !ok || limit.IsZero() {
			return resource.Quantity{}, false
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			sidecars.Add(limit)
			continue
		}
		running := sidecars.DeepCopy()
		running.Add(limit)
		if running.Cmp(peakInit) > 0 {
			peakInit = running
		}
	}
	total := sidecars.DeepCopy()
	for _, c := range pod.Spec.Containers {
		limit, ok := c.Resources.Limits[v1.ResourceMemory]
		if !ok || limit.IsZero() {
			return resource.Quantity{}, false
		}
		total.Add(limit)
	}
	if peakInit.Cmp(total) > 0 {
		total = peakInit
	}
	if overhead, ok := pod.Spec.Overhead[v1.ResourceMemory]; ok {
		total.Add(overhead)
	}
	return total, true
}

package runc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// PrepareHybridCgroups makes a cgroup v1 + v2 hybrid host acceptable to crun, which refuses the layout
// while a controller is bound to neither hierarchy's mount under cgroupRoot: on Debian 12's hybrid layout
// hugetlb is only in the (empty) cgroup2 hierarchy, so it is mounted as a v1 hierarchy at
// cgroupRoot/hugetlb. It is idempotent and does nothing on a pure cgroup v2 host.
func PrepareHybridCgroups(cgroupRoot string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return fmt.Errorf("prepare cgroups: %w", err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
	target := filepath.Join(cgroupRoot, "hugetlb")
	mounted, err := isMountPoint(target)
	if err != nil || mounted {
		return err
	}
	if _, err := os.Stat("/proc/sys/vm/nr_hugepages"); errors.Is(err, os.ErrNotExist) {
		return nil // no hugetlb in this kernel: nothing for crun to miss
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("prepare cgroups: %w", err)
	}
	if err := unix.Mount("cgroup", target, "cgroup", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "hugetlb"); err != nil {
		return fmt.Errorf("prepare cgroups: mount hugetlb hierarchy at %s: %w", target, err)
	}
	return nil
}

func isMountPoint(path string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && fields[4] == path {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read mounts: %w", err)
	}
	return false, nil
}

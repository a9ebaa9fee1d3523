package shim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memoryCgroupDir finds the memory cgroup of a process (cgroup v1 memory controller, else the v2
// hierarchy), so that the shim can still read its OOM count when the process is gone.
func memoryCgroupDir(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	var unified string
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			if ctrl == "memory" {
				return filepath.Join("/sys/fs/cgroup/memory", parts[2])
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
		}
	}
	if unified == "" {
		return ""
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return filepath.Join("/sys/fs/cgroup", unified)
	}
	return filepath.Join("/sys/fs/cgroup/unified", unified)
}

// oomKilled reports whether the OOM killer has killed a process of the memory cgroup dir: the oom_kill
// counter of memory.oom_control (v1) or memory.events (v2).
func oomKilled(dir string) bool {
	if dir == "" {
		return false
	}
	for _, name := range []string{"memory.oom_control", "memory.events"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
				n, _ := strconv.Atoi(v)
				return n > 0
			}
		}
	}
	return false
}

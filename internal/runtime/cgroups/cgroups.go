// Package cgroups creates a pod's cgroup and writes its limits before any of its containers exists, as the
// kubelet's pod container manager does: cpu shares, a CFS quota, a memory limit and a pids limit, in the
// per-controller hierarchies of cgroup v1 (also on a hybrid host, whose cgroup2 mount holds no
// controllers) or in the single tree of a pure cgroup v2 host, which it detects.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Resources are a cgroup's limits; a zero field leaves the kernel's default (no limit).
type Resources struct {
	// CPUShares is the v1 cpu.shares (2 to 262144); on v2 it becomes cpu.weight.
	CPUShares uint64
	// CPUQuota is the CFS quota in microseconds per CPUPeriod.
	CPUQuota  int64
	CPUPeriod uint64
	// MemoryLimit is in bytes.
	MemoryLimit int64
	// PidsLimit is the most tasks the cgroup may hold.
	PidsLimit int64
}

// Manager writes cgroups under a cgroup file system root (/sys/fs/cgroup).
type Manager struct {
	root    string
	unified bool // a pure cgroup v2 host: one tree at root
}

// New detects the cgroup layout mounted at root.
func New(root string) (*Manager, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return nil, fmt.Errorf("cgroup root %s: %w", root, err)
	}
	return &Manager{root: root, unified: st.Type == unix.CGROUP2_SUPER_MAGIC}, nil
}

// Unified reports whether the host is pure cgroup v2.
func (m *Manager) Unified() bool { return m.unified }

// setting is one file of a controller's cgroup directory.
type setting struct{ file, value string }

// v1Controllers are the hierarchies a pod cgroup is made in on cgroup v1 with the files each gets;
// cpuacct has none but is made so that the pod's usage is accounted at pod level there too.
func v1Controllers(r Resources) map[string][]setting {
	var cpu, memory, pids []setting
	if r.CPUShares > 0 {
		cpu = append(cpu, setting{"cpu.shares", strconv.FormatUint(r.CPUShares, 10)})
	}
	if r.CPUQuota > 0 {
		// The period first: a quota is checked against the period in force.
		cpu = append(cpu, setting{"cpu.cfs_period_us", strconv.FormatUint(r.CPUPeriod, 10)},
			setting{"cpu.cfs_quota_us", strconv.FormatInt(r.CPUQuota, 10)})
	}
	if r.MemoryLimit > 0 {
		memory = append(memory, setting{"memory.limit_in_bytes", strconv.FormatInt(r.MemoryLimit, 10)})
	}
	if r.PidsLimit > 0 {
		pids = append(pids, setting{"pids.max", strconv.FormatInt(r.PidsLimit, 10)})
	}
	return map[string][]setting{"cpu": cpu, "cpuacct": nil, "memory": memory, "pids": pids}
}

// v2Settings are the unified tree's files for r.
func v2Settings(r Resources) []setting {
	var out []setting
	if r.CPUShares > 0 {
		out = append(out, setting{"cpu.weight", strconv.FormatUint(sharesToWeight(r.CPUShares), 10)})
	}
	if r.CPUQuota > 0 {
		out = append(out, setting{"cpu.max", fmt.Sprintf("%d %d", r.CPUQuota, r.CPUPeriod)})
	}
	if r.MemoryLimit > 0 {
		out = append(out, setting{"memory.max", strconv.FormatInt(r.MemoryLimit, 10)})
	}
	if r.PidsLimit > 0 {
		out = append(out, setting{"pids.max", strconv.FormatInt(r.PidsLimit, 10)})
	}
	return out
}

// sharesToWeight maps cpu.shares [2, 262144] onto cpu.weight [1, 10000] linearly, as runc and the
// kubelet do.
func sharesToWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// Apply creates the cgroup path (e.g. /peapod/burstable/pod<uid>) with its parents and writes r into it.
// Writing again is harmless, so a retried sandbox may apply twice.
func (m *Manager) Apply(path string, r Resources) error {
	if m.unified {
		return m.applyV2(path, r)
	}
	var errs []error
	for controller, settings := range v1Controllers(r) {
		hierarchy := filepath.Join(m.root, controller)
		if _, err := os.Stat(hierarchy); err != nil {
			if len(settings) > 0 {
				errs = append(errs, fmt.Errorf("cgroup controller %s: %w", controller, err))
			}
			continue
		}
		errs = append(errs, write(filepath.Join(hierarchy, path), settings))
	}
	return errors.Join(errs...)
}

func (m *Manager) applyV2(path string, r Resources) error {
	// A controller's files exist in a cgroup only when its parent delegates the controller, from the root
	// down: enable in each ancestor's subtree_control those of cpu, memory and pids it has.
	dir := m.root
	for _, part := range strings.Split(strings.Trim(filepath.Clean(path), "/"), "/") {
		if err := delegate(dir); err != nil {
			return err
		}
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
	}
	return write(dir, v2Settings(r))
}

// delegate enables cpu, memory and pids for the children of dir, where dir offers them.
func delegate(dir string) error {
	available, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read controllers of %s: %w", dir, err)
	}
	enabled, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read subtree_control of %s: %w", dir, err)
	}
	var add []string
	for _, c := range []string{"cpu", "memory", "pids"} {
		if hasWord(string(available), c) && !hasWord(string(enabled), c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(add, " ")), 0o644); err != nil {
		return fmt.Errorf("delegate %s in %s: %w", strings.Join(add, " "), dir, err)
	}
	return nil
}

func hasWord(s, word string) bool {
	for _, f := range strings.Fields(s) {
		if f == word {
			return true
		}
	}
	return false
}

// write makes dir and writes each setting; a cgroup file takes one value per write and is never created
// by it.
func write(dir string, settings []setting) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	for _, s := range settings {
		f, err := os.OpenFile(filepath.Join(dir, s.file), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
		_, err = f.WriteString(s.value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s=%s in %s: %w", s.file, s.value, dir, err)
		}
	}
	return nil
}

package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroup makes dir with the given control files, empty, as the kernel does on mkdir.
func fakeCgroup(t *testing.T, dir string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFiles(t *testing.T, dir string, files ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(data)
	}
	return out
}

func TestApplyV1(t *testing.T) {
	const pod = "/peapod/burstable/pod1234"
	cpuFiles := []string{"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"}
	for _, tc := range []struct {
		name    string
		r       Resources
		cpu     map[string]string
		memory  string
		pidsMax string
	}{
		{
			name: "every limit",
			r:    Resources{CPUShares: 307, CPUQuota: 30000, CPUPeriod: 100000, MemoryLimit: 48 << 20, PidsLimit: 64},
			cpu:  map[string]string{"cpu.shares": "307", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "30000"},
			// 48Mi
			memory: "50331648", pidsMax: "64",
		},
		{
			name: "shares only",
			r:    Resources{CPUShares: 2},
			cpu:  map[string]string{"cpu.shares": "2", "cpu.cfs_period_us": "", "cpu.cfs_quota_us": ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			fakeCgroup(t, filepath.Join(root, "cpu", pod), cpuFiles...)
			fakeCgroup(t, filepath.Join(root, "cpuacct"))
			fakeCgroup(t, filepath.Join(root, "memory", pod), "memory.limit_in_bytes")
			fakeCgroup(t, filepath.Join(root, "pids", pod), "pids.max")
			m := &Manager{root: root}
			if err := m.Apply(pod, tc.r); err != nil {
				t.Fatal(err)
			}
			if got := readFiles(t, filepath.Join(root, "cpu", pod), cpuFiles...); fmt.Sprint(got) != fmt.Sprint(tc.cpu) {
				t.Errorf("cpu files %v, want %v", got, tc.cpu)
			}
			if got := readFiles(t, filepath.Join(root, "memory", pod), "memory.limit_in_bytes")["memory.limit_in_bytes"]; got != tc.memory {
				t.Errorf("memory.limit_in_bytes %q, want %q", got, tc.memory)
			}
			if got := readFiles(t, filepath.Join(root, "pids", pod), "pids.max")["pids.max"]; got != tc.pidsMax {
				t.Errorf("pids.max %q, want %q", got, tc.pidsMax)
			}
			if _, err := os.Stat(filepath.Join(root, "cpuacct", pod)); err != nil {
				t.Errorf("no pod cgroup in cpuacct: %v", err)
			}
		})
	}
}

// TestApplyV1MissingController: a limit for a controller the host does not mount is an error naming it;
// a controller with nothing to write is skipped.
func TestApplyV1MissingController(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, filepath.Join(root, "cpu", "/p"), "cpu.shares")
	fakeCgroup(t, filepath.Join(root, "memory", "/p"), "memory.limit_in_bytes")
	m := &Manager{root: root}
	if err := m.Apply("/p", Resources{CPUShares: 2}); err != nil {
		t.Fatalf("no pids limit, no pids hierarchy: %v", err)
	}
	err := m.Apply("/p", Resources{CPUShares: 2, PidsLimit: 10})
	if err == nil || !strings.Contains(err.Error(), "cgroup controller pids") {
		t.Fatalf("pids limit without a pids hierarchy: %v", err)
	}
}

func TestApplyV2(t *testing.T) {
	root := t.TempDir()
	// The root offers io too, which is not peapod's to delegate; /peapod already delegates cpu.
	levels := []struct{ dir, controllers, enabled, want string }{
		{"", "cpuset cpu io memory pids", "", "+cpu +memory +pids"},
		{"peapod", "cpu memory pids", "cpu", "+memory +pids"},
		{"peapod/burstable", "cpu memory pids", "cpu memory pids", ""},
	}
	for _, l := range levels {
		fakeCgroup(t, filepath.Join(root, l.dir), "cgroup.controllers", "cgroup.subtree_control")
		if err := os.WriteFile(filepath.Join(root, l.dir, "cgroup.controllers"), []byte(l.controllers+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, l.dir, "cgroup.subtree_control"), []byte(l.enabled+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pod := filepath.Join(root, "peapod/burstable/pod1")
	fakeCgroup(t, pod, "cpu.weight", "cpu.max", "memory.max", "pids.max")
	m := &Manager{root: root, unified: true}
	if err := m.Apply("/peapod/burstable/pod1", Resources{CPUShares: 307, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 1 << 20, PidsLimit: 5}); err != nil {
		t.Fatal(err)
	}
	for _, l := range levels {
		got := readFiles(t, filepath.Join(root, l.dir), "cgroup.subtree_control")["cgroup.subtree_control"]
		if want := l.enabled + "\n"; l.want != "" {
			want = l.want
			if got != want {
				t.Errorf("%s/cgroup.subtree_control %q, want %q", l.dir, got, want)
			}
		} else if got != want {
			t.Errorf("%s/cgroup.subtree_control rewritten to %q", l.dir, got)
		}
	}
	want := map[string]string{"cpu.weight": "12", "cpu.max": "50000 100000", "memory.max": "1048576", "pids.max": "5"}
	if got := readFiles(t, pod, "cpu.weight", "cpu.max", "memory.max", "pids.max"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pod files %v, want %v", got, want)
	}
}

func TestSharesToWeight(t *testing.T) {
	for _, tc := range []struct{ shares, weight uint64 }{{0, 1}, {2, 1}, {1024, 39}, {262144, 10000}, {1 << 20, 10000}} {
		if got := sharesToWeight(tc.shares); got != tc.weight {
			t.Errorf("sharesToWeight(%d) = %d, want %d", tc.shares, got, tc.weight)
		}
	}
}

// TestApplyHost writes a cgroup on this machine's cgroup file system and reads the kernel's values back.
func TestApplyHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("writing cgroups needs root")
	}
	m, err := New("/sys/fs/cgroup")
	if err != nil {
		t.Skipf("no cgroup file system: %v", err)
	}
	path := fmt.Sprintf("/peapod-cgroups-test-%d/pod1", os.Getpid())
	t.Cleanup(func() {
		for _, dir := range []string{path, filepath.Dir(path)} {
			for _, c := range []string{"", "cpu", "cpuacct", "memory", "pids"} {
				_ = os.Remove(filepath.Join("/sys/fs/cgroup", c, dir))
			}
		}
	})
	r := Resources{CPUShares: 307, CPUQuota: 30000, CPUPeriod: 100000, MemoryLimit: 48 << 20, PidsLimit: 42}
	if err := m.Apply(path, r); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"memory/memory.limit_in_bytes": "50331648", "cpu/cpu.shares": "307", "cpu/cpu.cfs_quota_us": "30000", "pids/pids.max": "42"}
	if m.Unified() {
		want = map[string]string{"memory.max": "50331648", "cpu.weight": "12", "cpu.max": "30000 100000", "pids.max": "42"}
	}
	for file, value := range want {
		controller, name := filepath.Split(file)
		data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, path, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(data)); got != value {
			t.Errorf("%s = %q, want %q", file, got, value)
		}
	}
}

// BenchmarkApplyHost is the cost a pod start pays: one pod cgroup with every limit made on this machine
// (and removed again, which the timing includes).
func BenchmarkApplyHost(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("writing cgroups needs root")
	}
	m, err := New("/sys/fs/cgroup")
	if err != nil {
		b.Skipf("no cgroup file system: %v", err)
	}
	parent := fmt.Sprintf("/peapod-cgroups-bench-%d", os.Getpid())
	controllers := []string{"cpu", "cpuacct", "memory", "pids"}
	if m.Unified() {
		controllers = []string{""}
	}
	b.Cleanup(func() {
		for _, c := range controllers {
			_ = os.Remove(filepath.Join("/sys/fs/cgroup", c, parent))
		}
	})
	r := Resources{CPUShares: 307, CPUQuota: 30000, CPUPeriod: 100000, MemoryLimit: 48 << 20, PidsLimit: 42}
	for i := 0; b.Loop(); i++ {
		path := fmt.Sprintf("%s/pod%d", parent, i)
		if err := m.Apply(path, r); err != nil {
			b.Fatal(err)
		}
		for _, c := range controllers {
			if err := os.Remove(filepath.Join("/sys/fs/cgroup", c, path)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

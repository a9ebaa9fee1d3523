package oci

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func mountAt(s *specs.Spec, dest string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dest {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestSpec(t *testing.T) {
	base := func() ContainerConfig {
		return ContainerConfig{Args: []string{"sh"}, Rootfs: "/rootfs"}
	}
	tests := []struct {
		name   string
		modify func(*ContainerConfig)
		check  func(*testing.T, *specs.Spec)
	}{
		{"defaults", func(*ContainerConfig) {}, func(t *testing.T, s *specs.Spec) {
			if !slices.Equal(s.Process.Capabilities.Bounding, DefaultCapabilities()) {
				t.Errorf("caps = %v", s.Process.Capabilities.Bounding)
			}
			if !slices.Equal(s.Linux.MaskedPaths, DefaultMaskedPaths()) || !slices.Equal(s.Linux.ReadonlyPaths, DefaultReadonlyPaths()) {
				t.Errorf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
			if s.Process.Cwd != "/" || s.Process.Env[0] != defaultPath || s.Root.Readonly {
				t.Errorf("cwd %q env %v readonly %v", s.Process.Cwd, s.Process.Env, s.Root.Readonly)
			}
			if m := mountAt(s, "/sys"); m == nil || !slices.Contains(m.Options, "ro") {
				t.Errorf("/sys mount = %+v, want read-only", m)
			}
			if m := mountAt(s, "/dev/shm"); m == nil || m.Type != "tmpfs" {
				t.Errorf("/dev/shm = %+v, want a private tmpfs", m)
			}
			for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys/fs/cgroup"} {
				if mountAt(s, d) == nil {
					t.Errorf("no %s mount", d)
				}
			}
			if len(s.Linux.Namespaces) != 1 || s.Linux.Namespaces[0].Type != specs.MountNamespace {
				t.Errorf("namespaces = %v, want only a new mount namespace", s.Linux.Namespaces)
			}
			if d := s.Linux.Resources.Devices; len(d) != 1 || d[0].Allow {
				t.Errorf("device rules = %+v, want deny all", d)
			}
			if s.Hostname != "" {
				t.Errorf("hostname %q set: it would rename the whole pod", s.Hostname)
			}
		}},
		{"privileged", func(c *ContainerConfig) { c.Privileged = true }, func(t *testing.T, s *specs.Spec) {
			if len(s.Process.Capabilities.Bounding) < 38 || !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
				t.Errorf("caps = %v, want all", s.Process.Capabilities.Bounding)
			}
			if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
				t.Errorf("masks kept: %v %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
			if m := mountAt(s, "/sys"); m == nil || !slices.Contains(m.Options, "rw") {
				t.Errorf("/sys = %+v, want rw", m)
			}
			if d := s.Linux.Resources.Devices; len(d) != 1 || !d[0].Allow {
				t.Errorf("device rules = %+v, want allow all", d)
			}
			if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/null" }) {
				t.Errorf("host devices missing /dev/null")
			}
		}},
		{"drop all add one", func(c *ContainerConfig) {
			c.CapDrop, c.CapAdd = []string{"ALL"}, []string{"net_bind_service", "CAP_SYS_TIME"}
		}, func(t *testing.T, s *specs.Spec) {
			want := []string{"CAP_NET_BIND_SERVICE", "CAP_SYS_TIME"}
			if got := s.Process.Capabilities.Effective; !slices.Equal(got, want) {
				t.Errorf("caps = %v, want %v", got, want)
			}
		}},
		{"drop one", func(c *ContainerConfig) { c.CapDrop = []string{"NET_RAW"} }, func(t *testing.T, s *specs.Spec) {
			if slices.Contains(s.Process.Capabilities.Bounding, "CAP_NET_RAW") || len(s.Process.Capabilities.Bounding) != len(DefaultCapabilities())-1 {
				t.Errorf("caps = %v", s.Process.Capabilities.Bounding)
			}
		}},
		{"security", func(c *ContainerConfig) {
			c.ReadonlyRootfs, c.NoNewPrivileges, c.Terminal = true, true, true
			c.User = User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10}}
			c.Cwd, c.Env = "/work", []string{"PATH=/bin", "A=b"}
		}, func(t *testing.T, s *specs.Spec) {
			p := s.Process
			if !s.Root.Readonly || !p.NoNewPrivileges || !p.Terminal || p.User.UID != 1000 || p.User.GID != 1000 ||
				!slices.Equal(p.User.AdditionalGids, []uint32{10}) || p.Cwd != "/work" || !slices.Equal(p.Env, []string{"PATH=/bin", "A=b"}) {
				t.Errorf("process = %+v root = %+v", p, s.Root)
			}
		}},
		{"namespaces and shm", func(c *ContainerConfig) {
			c.Namespaces = map[specs.LinuxNamespaceType]string{
				specs.PIDNamespace: "", specs.NetworkNamespace: "/run/netns/a", specs.UTSNamespace: "/pod/ns/uts", specs.IPCNamespace: "/pod/ns/ipc",
			}
			c.ShmPath = "/pod/shm"
		}, func(t *testing.T, s *specs.Spec) {
			want := []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: "/run/netns/a"},
				{Type: specs.UTSNamespace, Path: "/pod/ns/uts"}, {Type: specs.IPCNamespace, Path: "/pod/ns/ipc"}, {Type: specs.PIDNamespace},
			}
			if !slices.Equal(s.Linux.Namespaces, want) {
				t.Errorf("namespaces = %v, want %v", s.Linux.Namespaces, want)
			}
			if m := mountAt(s, "/dev/shm"); m == nil || m.Type != "bind" || m.Source != "/pod/shm" {
				t.Errorf("/dev/shm = %+v, want a bind of the pod's", m)
			}
		}},
		{"mounts", func(c *ContainerConfig) {
			c.Mounts = []Mount{
				{Destination: "/data", Source: "/host/data", Readonly: true, Recursive: true, Propagation: "rslave"},
				{Destination: "/cache", Type: "tmpfs", Options: []string{"size=1m"}},
				{Destination: "/dev/shm", Source: "/other/shm"},
			}
		}, func(t *testing.T, s *specs.Spec) {
			if m := mountAt(s, "/data"); m == nil || !slices.Equal(m.Options, []string{"rbind", "ro", "rslave"}) || m.Source != "/host/data" {
				t.Errorf("/data = %+v", m)
			}
			if m := mountAt(s, "/cache"); m == nil || m.Type != "tmpfs" || !slices.Contains(m.Options, "size=1m") {
				t.Errorf("/cache = %+v", m)
			}
			if m := mountAt(s, "/dev/shm"); m == nil || m.Source != "/other/shm" {
				t.Errorf("/dev/shm = %+v, want replaced", m)
			}
		}},
		{"resources", func(c *ContainerConfig) {
			c.CgroupsPath = "/peapod/pod1/c1"
			c.Resources = Resources{MemoryLimit: 1 << 20, CPUShares: 512, CPUQuota: 50000, PidsLimit: 100}
		}, func(t *testing.T, s *specs.Spec) {
			r := s.Linux.Resources
			if s.Linux.CgroupsPath != "/peapod/pod1/c1" || *r.Memory.Limit != 1<<20 || *r.CPU.Shares != 512 ||
				*r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || r.Pids.Limit != nil && *r.Pids.Limit != 100 {
				t.Errorf("resources = %+v", r)
			}
		}},
		{"rlimits capped", func(c *ContainerConfig) {
			c.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 40, Soft: 1 << 40}}
		}, func(t *testing.T, s *specs.Spec) {
			for _, l := range s.Process.Rlimits {
				if l.Type == "RLIMIT_NOFILE" && l.Hard == 1<<40 {
					t.Errorf("nofile %d not capped at the hard limit", l.Hard)
				}
				if l.Soft > l.Hard {
					t.Errorf("%s soft %d > hard %d", l.Type, l.Soft, l.Hard)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.modify(&c)
			s, err := Spec(&c)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestSpecErrors(t *testing.T) {
	for name, c := range map[string]ContainerConfig{
		"no args":        {Rootfs: "/r"},
		"no rootfs":      {Args: []string{"sh"}},
		"unknown cap":    {Args: []string{"sh"}, Rootfs: "/r", CapAdd: []string{"CAP_FLY"}},
		"unknown rlimit": {Args: []string{"sh"}, Rootfs: "/r", Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_FOO"}}},
		"unknown drop":   {Args: []string{"sh"}, Rootfs: "/r", CapDrop: []string{"bogus"}},
	} {
		if _, err := Spec(&c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWriteSpec(t *testing.T) {
	s, err := Spec(&ContainerConfig{Args: []string{"sh"}, Rootfs: "/r"})
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "b")
	if err := WriteSpec(bundle, s); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(bundle, "config.json")); err != nil || fi.Size() == 0 {
		t.Errorf("config.json: %v", err)
	}
}

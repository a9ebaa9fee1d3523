// Package oci turns a plain container description into an OCI runtime spec (config.json) with containerd's
// defaults for capabilities, mounts, masked and read-only paths, and resolves image USER strings against a
// rootfs. It knows Linux and OCI, not Kubernetes.
package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ContainerConfig is everything the spec of one container depends on. Args are already resolved (image
// entrypoint and command merged by the caller).
type ContainerConfig struct {
	Args []string
	Env  []string
	Cwd  string // "/" when empty
	User User

	// Rootfs is the container's root directory (an overlay mount prepared by the snapshotter).
	Rootfs         string
	ReadonlyRootfs bool

	Terminal bool

	// CapAdd and CapDrop adjust the default set; names with or without the CAP_ prefix, "ALL" allowed.
	CapAdd, CapDrop []string
	// Privileged grants every capability and host device and lifts masks and the read-only /sys.
	Privileged bool
	// NoNewPrivileges is allowPrivilegeEscalation=false.
	NoNewPrivileges bool

	// Namespaces lists the namespaces other than mount that the container does not share with the host:
	// a path joins an existing namespace (the sandbox's), an empty path creates a new one. A type not
	// listed is the host's. A mount namespace is always new.
	Namespaces map[specs.LinuxNamespaceType]string

	// ShmPath is the pod's shared /dev/shm (bind-mounted); empty gives the container its own tmpfs.
	ShmPath string
	// Mounts are added after the defaults; a mount on a default destination replaces it.
	Mounts []Mount

	// CgroupsPath is the container's cgroup (e.g. /peapod/<pod>/<container>); empty lets the runtime choose.
	CgroupsPath string
	Resources   Resources

	// Rlimits override the defaults (NOFILE 20000, NPROC 32768); every limit is capped at this process's
	// hard limit, since the container has no CAP_SYS_RESOURCE to go beyond it anyway.
	Rlimits []specs.POSIXRlimit

	Annotations map[string]string
}

// User is the identity of the container's process.
type User struct {
	UID, GID       uint32
	AdditionalGids []uint32
	Umask          *uint32
}

// Mount is a bind or tmpfs mount into the container.
type Mount struct {
	Destination string
	// Type is "bind" (default) or "tmpfs".
	Type     string
	Source   string
	Readonly bool
	// Recursive makes a bind mount an rbind (submounts included).
	Recursive bool
	// Propagation is "", "private", "rprivate", "slave", "rslave", "shared" or "rshared".
	Propagation string
	// Options are extra mount options (e.g. "size=64m" for tmpfs).
	Options []string
}

// Resources are the cgroup limits of a container; zero values mean unlimited.
type Resources struct {
	MemoryLimit int64 // bytes
	CPUShares   uint64
	CPUQuota    int64  // microseconds per CPUPeriod
	CPUPeriod   uint64 // microseconds; 100000 when a quota is set without a period
	PidsLimit   int64
}

// DefaultCapabilities is containerd's default capability set.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
		"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// DefaultMaskedPaths is containerd's list of paths hidden from unprivileged containers.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths is containerd's list of paths read-only in unprivileged containers.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// specVersion is the runtime-spec version the generated configs comply with; crun 1.8 rejects newer
// ones than it knows, and nothing here needs more than 1.0.2.
const specVersion = "1.0.2"

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Spec builds the OCI runtime spec of c.
func Spec(c *ContainerConfig) (*specs.Spec, error) {
	if len(c.Args) == 0 {
		return nil, fmt.Errorf("oci spec: no command to run")
	}
	if c.Rootfs == "" {
		return nil, fmt.Errorf("oci spec: no rootfs")
	}
	caps, err := capabilities(c)
	if err != nil {
		return nil, fmt.Errorf("oci spec: %w", err)
	}
	rlimits, err := rlimits(c.Rlimits)
	if err != nil {
		return nil, fmt.Errorf("oci spec: %w", err)
	}
	cwd := c.Cwd
	if cwd == "" {
		cwd = "/"
	}
	env := c.Env
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		env = append([]string{defaultPath}, env...)
	}
	s := &specs.Spec{
		Version: specVersion,
		Process: &specs.Process{
			Terminal: c.Terminal,
			User: specs.User{
				UID: c.User.UID, GID: c.User.GID, AdditionalGids: c.User.AdditionalGids, Umask: c.User.Umask,
			},
			Args:            c.Args,
			Env:             env,
			Cwd:             cwd,
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:         rlimits,
			NoNewPrivileges: c.NoNewPrivileges,
		},
		Root:        &specs.Root{Path: c.Rootfs, Readonly: c.ReadonlyRootfs},
		Mounts:      mounts(c),
		Annotations: c.Annotations,
		Linux: &specs.Linux{
			Namespaces:  namespaces(c.Namespaces),
			CgroupsPath: c.CgroupsPath,
			Resources:   resources(c),
		},
	}
	if c.Privileged {
		devs, err := hostDevices()
		if err != nil {
			return nil, fmt.Errorf("oci spec: %w", err)
		}
		s.Linux.Devices = devs
	} else {
		s.Linux.MaskedPaths = DefaultMaskedPaths()
		s.Linux.ReadonlyPaths = DefaultReadonlyPaths()
	}
	return s, nil
}

// WriteSpec writes s as bundle/config.json.
func WriteSpec(bundle string, s *specs.Spec) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("write spec: %w", err)
	}
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return fmt.Errorf("write spec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("write spec: %w", err)
	}
	return nil
}

func namespaces(ns map[specs.LinuxNamespaceType]string) []specs.LinuxNamespace {
	out := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	// A fixed order keeps config.json stable for the same input.
	for _, t := range []specs.LinuxNamespaceType{
		specs.NetworkNamespace, specs.UTSNamespace, specs.IPCNamespace, specs.PIDNamespace,
		specs.CgroupNamespace, specs.UserNamespace, specs.TimeNamespace,
	} {
		if path, ok := ns[t]; ok {
			out = append(out, specs.LinuxNamespace{Type: t, Path: path})
		}
	}
	return out
}

func mounts(c *ContainerConfig) []specs.Mount {
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	cgroupOpts := []string{"nosuid", "noexec", "nodev", "relatime", "ro"}
	if c.Privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev", "rw"}
		cgroupOpts = []string{"nosuid", "noexec", "nodev", "relatime", "rw"}
	}
	shm := specs.Mount{
		Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
		Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"},
	}
	if c.ShmPath != "" {
		shm = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: c.ShmPath, Options: []string{"rbind", "rw"}}
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgroupOpts},
		shm,
	}
	for _, m := range c.Mounts {
		sm := userMount(m)
		if i := slices.IndexFunc(ms, func(d specs.Mount) bool { return d.Destination == sm.Destination }); i >= 0 {
			ms[i] = sm
			continue
		}
		ms = append(ms, sm)
	}
	return ms
}

func userMount(m Mount) specs.Mount {
	mode := "rw"
	if m.Readonly {
		mode = "ro"
	}
	if m.Type == "tmpfs" {
		opts := append([]string{"nosuid", "nodev", mode}, m.Options...)
		return specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts}
	}
	bind := "bind"
	if m.Recursive {
		bind = "rbind"
	}
	opts := []string{bind, mode}
	if m.Propagation != "" {
		opts = append(opts, m.Propagation)
	}
	return specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: append(opts, m.Options...)}
}

func resources(c *ContainerConfig) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if c.Privileged {
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		// runc and crun always add their default devices (null, zero, tty, ...) after these rules.
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	}
	res := c.Resources
	if res.MemoryLimit > 0 {
		r.Memory = &specs.LinuxMemory{Limit: &res.MemoryLimit}
	}
	if res.CPUShares > 0 || res.CPUQuota > 0 {
		r.CPU = &specs.LinuxCPU{}
		if res.CPUShares > 0 {
			r.CPU.Shares = &res.CPUShares
		}
		if res.CPUQuota > 0 {
			period := res.CPUPeriod
			if period == 0 {
				period = 100000
			}
			r.CPU.Quota, r.CPU.Period = &res.CPUQuota, &period
		}
	}
	if res.PidsLimit > 0 {
		r.Pids = &specs.LinuxPids{Limit: &res.PidsLimit}
	}
	return r
}

func rlimits(overrides []specs.POSIXRlimit) ([]specs.POSIXRlimit, error) {
	limits := []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Hard: 20000, Soft: 20000},
		{Type: "RLIMIT_NPROC", Hard: 32768, Soft: 32768},
	}
	for _, o := range overrides {
		if i := slices.IndexFunc(limits, func(l specs.POSIXRlimit) bool { return l.Type == o.Type }); i >= 0 {
			limits[i] = o
		} else {
			limits = append(limits, o)
		}
	}
	for i := range limits {
		res, ok := rlimitResources[limits[i].Type]
		if !ok {
			return nil, fmt.Errorf("unknown rlimit %q", limits[i].Type)
		}
		var cur unix.Rlimit
		if err := unix.Getrlimit(res, &cur); err != nil {
			return nil, fmt.Errorf("getrlimit %s: %w", limits[i].Type, err)
		}
		limits[i].Hard = min(limits[i].Hard, cur.Max)
		limits[i].Soft = min(limits[i].Soft, limits[i].Hard)
	}
	return limits, nil
}

var rlimitResources = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// hostDevices lists the host's /dev character and block devices for a privileged container.
func hostDevices() ([]specs.LinuxDevice, error) {
	var devs []specs.LinuxDevice
	err := filepath.WalkDir("/dev", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // devices come and go while walking
		}
		if d.IsDir() {
			switch path {
			case "/dev/pts", "/dev/shm", "/dev/mqueue":
				return filepath.SkipDir // the container has its own
			}
			return nil
		}
		if path == "/dev/console" {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return nil
		}
		var typ string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			return nil
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		devs = append(devs, specs.LinuxDevice{
			Path: path, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
			FileMode: &mode, UID: &uid, GID: &gid,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list host devices: %w", err)
	}
	return devs, nil
}

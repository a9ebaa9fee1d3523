package oci

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// capabilityNames are the kernel's capabilities by number (linux/capability.h).
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// allCapabilities is every capability this kernel knows (a runtime rejects or warns about the others).
func allCapabilities() []string {
	last := len(capabilityNames) - 1
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n < last {
			last = n
		}
	}
	return slices.Clone(capabilityNames[:last+1])
}

func normalizeCap(name string) (string, error) {
	n := strings.ToUpper(name)
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if !slices.Contains(capabilityNames, n) {
		return "", fmt.Errorf("unknown capability %q", name)
	}
	return n, nil
}

// capabilities is the container's set: every capability when privileged, else the defaults with drops
// applied before adds (as containerd does, so "drop ALL, add NET_BIND_SERVICE" keeps the one).
func capabilities(c *ContainerConfig) ([]string, error) {
	if c.Privileged {
		return allCapabilities(), nil
	}
	set := DefaultCapabilities()
	for _, d := range c.CapDrop {
		n, err := normalizeCap(d)
		if err != nil {
			return nil, err
		}
		if n == "ALL" {
			set = nil
			continue
		}
		set = slices.DeleteFunc(set, func(s string) bool { return s == n })
	}
	for _, a := range c.CapAdd {
		n, err := normalizeCap(a)
		if err != nil {
			return nil, err
		}
		if n == "ALL" {
			return allCapabilities(), nil
		}
		if !slices.Contains(set, n) {
			set = append(set, n)
		}
	}
	return set, nil
}

// Package ocitest holds helpers for tests that run real containers: root checks, a busybox root
// filesystem, the installed OCI runtimes and a throwaway network namespace.
package ocitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (containers, mounts and namespaces)")
	}
}

// Runtime is an installed OCI runtime.
type Runtime struct {
	Name, Binary string
}

// Runtimes returns runc and crun, skipping the test when neither is installed.
func Runtimes(tb testing.TB) []Runtime {
	tb.Helper()
	var rts []Runtime
	for _, name := range []string{"runc", "crun"} {
		if p, err := exec.LookPath(name); err == nil {
			rts = append(rts, Runtime{Name: name, Binary: p})
		}
	}
	if len(rts) == 0 {
		tb.Skip("no OCI runtime (runc or crun) installed")
	}
	return rts
}

// BusyboxRootfs builds a root filesystem of the host's static busybox with its applet links, an
// /etc/passwd and /etc/group, and returns its path (removed with the test).
func BusyboxRootfs(tb testing.TB) string {
	tb.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		tb.Skip("busybox-static is not installed")
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		tb.Fatalf("busybox --list: %v", err)
	}
	root := filepath.Join(tb.TempDir(), "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil && !os.IsExist(err) {
			tb.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nwheel:x:10:root,app\napp:x:1000:\naudio:x:29:app\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return root
}

// NetNS creates a network namespace bound to a file in a temporary directory and returns the file's path;
// it is unmounted with the test.
func NetNS(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "netns")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is left in the new namespace: locked and never unlocked, it ends with the goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		tb.Fatalf("create netns: %v", err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			tb.Errorf("unmount netns: %v", err)
		}
	})
	return path
}

package network

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRuncContainerJoinsByPath runs a real runc container in a pod's namespace, joined by path as the sandbox
// will do, and checks what it sees.
func TestRuncContainerJoinsByPath(t *testing.T) {
	requireRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed")
	}
	n := setUp(t, testConfig(t, 25))
	_, path, att := newPod(t, n, "runc")

	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(runc, "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v\n%s", err, out)
	}
	writeSpec(t, filepath.Join(bundle, "config.json"), path)

	state := t.TempDir()
	id := testID(t, "ctr")
	t.Cleanup(func() { exec.Command(runc, "--root", state, "delete", "--force", id).Run() })
	out, err := exec.Command(runc, "--root", state, "run", "--bundle", bundle, id).CombinedOutput()
	if err != nil {
		t.Fatalf("runc run: %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("inet %s/%d", att.IP, att.PrefixLen),
		"default via " + att.Gateway.String() + " dev eth0",
		"lo: <LOOPBACK,UP",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
}

// writeSpec edits runc's default spec: no terminal, a read-only root, the pod's network namespace by path, and a
// command printing the container's view of the network.
func writeSpec(t *testing.T, file, netnsPath string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	process := spec["process"].(map[string]any)
	process["terminal"] = false
	process["args"] = []string{"/bin/busybox", "sh", "-c",
		"/bin/busybox ip -4 addr show dev eth0 && /bin/busybox ip route && /bin/busybox ip link show lo"}
	linux := spec["linux"].(map[string]any)
	namespaces := linux["namespaces"].([]any)
	for _, ns := range namespaces {
		if m := ns.(map[string]any); m["type"] == "network" {
			m["path"] = netnsPath
		}
	}
	if b, err = json.Marshal(spec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestResourcesPodCgroupsAndReserves runs one agent with a pod pids limit and system and kube reserves:
// the Node's allocatable is its capacity less the reserves; a Burstable pod's cgroup holds the sums of
// its containers' limits and requests, and goes with the pod; a pod forking past --pod-max-pids sees the
// fork fail.
func TestResourcesPodCgroupsAndReserves(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		t.Skip("these checks read cgroup v1 files (memory hierarchy not mounted)")
	}
	c := startAgentCluster(t, "--pod-max-pids", "40",
		"--system-reserved", "cpu=100m,memory=256Mi,pid=1000", "--kube-reserved", "cpu=150m,memory=128Mi,ephemeral-storage=1Gi")
	ctx := context.Background()
	client := c.srv.client(t)

	t.Run("allocatable", func(t *testing.T) {
		node, err := client.CoreV1().Nodes().Get(ctx, "e2e-node", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for name, reserved := range map[corev1.ResourceName]string{
			corev1.ResourceCPU: "250m", corev1.ResourceMemory: "384Mi", corev1.ResourceEphemeralStorage: "1Gi", corev1.ResourcePods: "0",
		} {
			capacity := node.Status.Capacity[name]
			want := capacity.DeepCopy()
			want.Sub(resource.MustParse(reserved))
			if got := node.Status.Allocatable[name]; got.Cmp(want) != 0 {
				t.Errorf("allocatable %s = %s, want capacity %s - %s", name, got.String(), capacity.String(), reserved)
			}
		}
	})

	t.Run("burstable-pod-cgroup", func(t *testing.T) {
		c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: burstable
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: a
    image: IMAGE
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: 100m}
      limits: {memory: 32Mi}
  - name: b
    image: IMAGE
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: 200m}
      limits: {memory: 16Mi}
`)
		c.waitPhase(t, "burstable", "Running")
		if got := c.jsonpath("burstable", "{.status.qosClass}"); got != "Burstable" {
			t.Fatalf("qosClass %q", got)
		}
		cgroup := "peapod/burstable/pod" + c.jsonpath("burstable", "{.metadata.uid}")
		for file, want := range map[string]string{
			"memory/" + cgroup + "/memory.limit_in_bytes": "50331648", // 32Mi + 16Mi
			"cpu/" + cgroup + "/cpu.shares":               "307",      // (100m + 200m) * 1024 / 1000
			"cpu/" + cgroup + "/cpu.cfs_quota_us":         "-1",       // not every container has a cpu limit
			"pids/" + cgroup + "/pids.max":                "40",
			"pids/peapod/pids.max":                        fmt.Sprint(pidMax(t) - 1000),
			"cpu/peapod/burstable/cpu.shares":             "307", // the only Burstable pod's requests
			"cpu/peapod/besteffort/cpu.shares":            "2",
		} {
			data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", file))
			if err != nil {
				t.Error(err)
				continue
			}
			if got := strings.TrimSpace(string(data)); got != want {
				t.Errorf("%s = %s, want %s", file, got, want)
			}
		}
		// The containers' cgroups nest in the pod's.
		if data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", cgroup, "a", "memory.limit_in_bytes")); err != nil || strings.TrimSpace(string(data)) != "33554432" {
			t.Errorf("container a's memory cgroup: %q %v", data, err)
		}
		c.k.ok("delete", "pod", "burstable", "--wait=true", "--timeout=60s")
		for _, controller := range []string{"cpu", "cpuacct", "memory", "pids"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", controller, cgroup)); !os.IsNotExist(err) {
				t.Errorf("%s cgroup of the deleted pod: %v", controller, err)
			}
		}
	})

	t.Run("pod-max-pids", func(t *testing.T) {
		c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: forker
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    command: ["sh", "-c", "i=0; while [ $i -lt 60 ]; do sleep 600 & i=$((i+1)); done; echo all $i started"]
`)
		c.waitPhase(t, "forker", "Failed")
		logs := c.k.ok("logs", "forker")
		if !strings.Contains(logs, "can't fork") || strings.Contains(logs, "all 60 started") {
			t.Errorf("logs of a pod forking past its pids limit:\n%s", logs)
		}
	})
}

func pidMax(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscan(string(data), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestResourcesContainerErrors checks the kubelet's reasons for containers that cannot be made or
// started: a command missing from the image fails the start (RunContainerError, last state StartError
// with exit code 128 as under containerd; terminated StartError under Never), and a subPath that a link
// in the volume leads out of it fails the config (CreateContainerConfigError), each with a Failed event.
func TestResourcesContainerErrors(t *testing.T) {
	c := startAgentCluster(t)
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: nocmd
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    command: ["/no/such/binary"]
---
apiVersion: v1
kind: Pod
metadata:
  name: nocmd-always
spec:
  automountServiceAccountToken: false
  containers:
  - name: main
    image: IMAGE
    command: ["/no/such/binary"]
---
apiVersion: v1
kind: Pod
metadata:
  name: subpath-escape
spec:
  automountServiceAccountToken: false
  initContainers:
  - name: link
    image: IMAGE
    command: ["ln", "-s", "/", "/data/escape"]
    volumeMounts:
    - {name: data, mountPath: /data}
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: data, mountPath: /host, subPath: escape}
  volumes:
  - name: data
    emptyDir: {}
`)
	c.waitPhase(t, "nocmd", "Failed")
	term := "{.status.containerStatuses[0].state.terminated"
	if got := c.jsonpath("nocmd", term+".reason}/"+term+".exitCode}"); got != "StartError/128" {
		t.Errorf("nocmd terminated reason/exitCode %q, want StartError/128", got)
	}
	if got := c.jsonpath("nocmd", term+".message}"); !strings.Contains(got, "/no/such/binary") {
		t.Errorf("nocmd terminated message %q does not name the command", got)
	}

	eventually(t, "nocmd-always RunContainerError with last state StartError", func() (bool, error) {
		got := c.jsonpath("nocmd-always", "{.status.containerStatuses[0].state.waiting.reason}/{.status.containerStatuses[0].lastState.terminated.reason}/{.status.containerStatuses[0].lastState.terminated.exitCode}")
		return got == "RunContainerError/StartError/128", fmt.Errorf("%s", got)
	})
	if got := c.jsonpath("nocmd-always", "{.status.phase}"); got != "Running" {
		t.Errorf("nocmd-always phase %q, want Running (restartPolicy Always)", got)
	}

	subPathMessage := `failed to prepare subPath for volumeMount "data" of container "main"`
	eventually(t, "subpath-escape CreateContainerConfigError", func() (bool, error) {
		got := c.jsonpath("subpath-escape", "{.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}")
		return got == "CreateContainerConfigError: "+subPathMessage, fmt.Errorf("%s", got)
	})

	for pod, message := range map[string]string{"nocmd": "Error: ", "nocmd-always": "Error: ", "subpath-escape": "Error: " + subPathMessage} {
		eventually(t, pod+" Failed event", func() (bool, error) {
			out := c.k.run("get", "events", "--field-selector", "involvedObject.name="+pod+",reason=Failed", "-o", "jsonpath={.items[*].message}")
			return strings.Contains(out.stdout, message), fmt.Errorf("%s", out.stdout)
		})
	}
	if out := c.k.ok("get", "pod", "nocmd-always"); !strings.Contains(out, "RunContainerError") && !strings.Contains(out, "CrashLoopBackOff") {
		t.Errorf("kubectl get pod nocmd-always:\n%s", out)
	}
}

package agent

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod-dev/peapod/internal/runtime/cgroups"
)

// res builds requirements from "cpu"/"memory" request and limit strings; an empty string leaves it unset.
func res(cpuReq, cpuLim, memReq, memLim string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, v := range []struct {
		list  corev1.ResourceList
		name  corev1.ResourceName
		value string
	}{{r.Requests, corev1.ResourceCPU, cpuReq}, {r.Limits, corev1.ResourceCPU, cpuLim}, {r.Requests, corev1.ResourceMemory, memReq}, {r.Limits, corev1.ResourceMemory, memLim}} {
		if v.value != "" {
			v.list[v.name] = resource.MustParse(v.value)
		}
	}
	return r
}

func TestPodCgroupResources(t *testing.T) {
	const mi = 1 << 20
	pod := func(qos corev1.PodQOSClass, inits []corev1.ResourceRequirements, apps ...corev1.ResourceRequirements) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{QOSClass: qos}}
		for _, r := range inits {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Resources: r})
		}
		for _, r := range apps {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Resources: r})
		}
		return p
	}
	withOverhead := pod(corev1.PodQOSBurstable, nil, res("100m", "200m", "", "32Mi"))
	withOverhead.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("8Mi")}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		maxPids int64
		want    cgroups.Resources
	}{
		{"besteffort", pod(corev1.PodQOSBestEffort, nil, res("", "", "", ""), res("", "", "", "")), -1,
			cgroups.Resources{CPUShares: 2}},
		{"besteffort with a pod pids limit", pod(corev1.PodQOSBestEffort, nil, res("", "", "", "")), 100,
			cgroups.Resources{CPUShares: 2, PidsLimit: 100}},
		{"burstable: memory limits summed, no cpu quota without every cpu limit",
			pod(corev1.PodQOSBurstable, nil, res("100m", "", "", "32Mi"), res("200m", "", "", "16Mi")), 0,
			cgroups.Resources{CPUShares: 307, MemoryLimit: 48 * mi}},
		{"burstable: no memory limit when one container has none",
			pod(corev1.PodQOSBurstable, nil, res("100m", "1", "", "32Mi"), res("200m", "500m", "10Mi", "")), 0,
			cgroups.Resources{CPUShares: 307, CPUQuota: 150000, CPUPeriod: 100000}},
		{"burstable: an init container without a limit unsets the pod's",
			pod(corev1.PodQOSBurstable, []corev1.ResourceRequirements{res("10m", "", "", "")}, res("100m", "1", "", "32Mi")), 0,
			cgroups.Resources{CPUShares: 102}},
		{"guaranteed: sums of both containers",
			pod(corev1.PodQOSGuaranteed, nil, res("500m", "500m", "64Mi", "64Mi"), res("250m", "250m", "32Mi", "32Mi")), 0,
			cgroups.Resources{CPUShares: 768, CPUQuota: 75000, CPUPeriod: 100000, MemoryLimit: 96 * mi}},
		{"guaranteed: a larger init container sets the floor",
			pod(corev1.PodQOSGuaranteed, []corev1.ResourceRequirements{res("2", "2", "256Mi", "256Mi")}, res("500m", "500m", "64Mi", "64Mi")), 0,
			cgroups.Resources{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 256 * mi}},
		{"a tiny cpu limit gets the 1 ms minimum quota",
			pod(corev1.PodQOSGuaranteed, nil, res("1m", "1m", "1Mi", "1Mi")), 0,
			cgroups.Resources{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000, MemoryLimit: mi}},
		{"overhead is added to requests and limits", withOverhead, 0,
			cgroups.Resources{CPUShares: 153, CPUQuota: 25000, CPUPeriod: 100000, MemoryLimit: 40 * mi}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podCgroupResources(tc.pod, tc.maxPids); got != tc.want {
				t.Errorf("podCgroupResources = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNodeAllocatable(t *testing.T) {
	const gi = 1 << 30
	facts := nodeFacts{milliCPU: 2000, memoryBytes: 4 * gi, ephemeralBytes: 20 * gi, pidMax: 32768}
	list := func(pairs ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(pairs); i += 2 {
			l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
		}
		return l
	}
	for _, tc := range []struct {
		name                   string
		system, kube           corev1.ResourceList
		cpu, memory, storage   string
		shares                 uint64
		memoryLimit, pidsLimit int64
	}{
		{name: "no reserves: allocatable is capacity", cpu: "2", memory: "4Gi", storage: "20Gi", shares: 2048, memoryLimit: 4 * gi, pidsLimit: 32768},
		{name: "system and kube reserves add up",
			system: list("cpu", "100m", "memory", "256Mi", "pid", "1000", "ephemeral-storage", "1Gi"),
			kube:   list("cpu", "400m", "memory", "256Mi", "pid", "768"),
			cpu:    "1500m", memory: "3584Mi", storage: "19Gi", shares: 1536, memoryLimit: 3584 << 20, pidsLimit: 31000},
		{name: "a reserve larger than capacity leaves zero", system: list("cpu", "3"), cpu: "0", memory: "4Gi", storage: "20Gi", shares: 2, memoryLimit: 4 * gi, pidsLimit: 32768},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{cfg: Config{MaxPods: 110, SystemReserved: tc.system, KubeReserved: tc.kube}, facts: facts}
			node := a.nodeObject(metav1.Now())
			alloc, capacity := node.Status.Allocatable, node.Status.Capacity
			for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: tc.cpu, corev1.ResourceMemory: tc.memory, corev1.ResourceEphemeralStorage: tc.storage, corev1.ResourcePods: "110"} {
				if got := alloc[name]; got.Cmp(resource.MustParse(want)) != 0 {
					t.Errorf("allocatable %s = %s, want %s", name, got.String(), want)
				}
			}
			if got := capacity[corev1.ResourceMemory]; got.Value() != 4*gi {
				t.Errorf("capacity memory = %s, want 4Gi", got.String())
			}
			if _, ok := alloc["pid"]; ok {
				t.Errorf("allocatable lists pid, which the kubelet never shows")
			}
			want := cgroups.Resources{CPUShares: tc.shares, MemoryLimit: tc.memoryLimit, PidsLimit: tc.pidsLimit}
			if got := a.nodeCgroupResources(); got != want {
				t.Errorf("node cgroup %+v, want %+v", got, want)
			}
		})
	}
}

func TestResolveSubPath(t *testing.T) {
	outside := t.TempDir()
	for _, tc := range []struct {
		name, subPath string
		setup         func(t *testing.T, vol string)
		want          string // relative to the volume; "" for an error
	}{
		{name: "existing directory", subPath: "a/b", setup: func(t *testing.T, vol string) { mkdir(t, filepath.Join(vol, "a/b")) }, want: "a/b"},
		{name: "missing: created", subPath: "new/dir", want: "new/dir"},
		{name: "link inside the volume", subPath: "link", setup: func(t *testing.T, vol string) {
			mkdir(t, filepath.Join(vol, "target"))
			symlink(t, "target", filepath.Join(vol, "link"))
		}, want: "target"},
		{name: "absolute link out of the volume", subPath: "escape", setup: func(t *testing.T, vol string) { symlink(t, outside, filepath.Join(vol, "escape")) }},
		{name: "relative link out of the volume", subPath: "x/escape", setup: func(t *testing.T, vol string) {
			mkdir(t, filepath.Join(vol, "x"))
			symlink(t, "../../../../../../..", filepath.Join(vol, "x/escape"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, vol)
			}
			got, err := resolveSubPath(vol, tc.subPath)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("resolved to %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(vol, tc.want); got != want {
				t.Errorf("resolved to %s, want %s", got, want)
			}
		})
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestApplyQoSCgroups(t *testing.T) {
	root := t.TempDir()
	for _, qos := range []string{"burstable", "besteffort"} {
		mkdir(t, filepath.Join(root, "cpu/peapod", qos))
		if err := os.WriteFile(filepath.Join(root, "cpu/peapod", qos, "cpu.shares"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := cgroups.New(root) // a plain directory: the cgroup v1 layout
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	pod := func(qos corev1.PodQOSClass, phase corev1.PodPhase, deleted bool, cpu string) *podWorker {
		p := &corev1.Pod{Status: corev1.PodStatus{QOSClass: qos, Phase: phase}}
		p.Spec.Containers = []corev1.Container{{Resources: res(cpu, "", "", "")}}
		if deleted {
			p.DeletionTimestamp = &now
		}
		return &podWorker{pod: p}
	}
	a := &Agent{workers: map[types.UID]*podWorker{
		"a": pod(corev1.PodQOSBurstable, corev1.PodRunning, false, "100m"),
		"b": pod(corev1.PodQOSBurstable, corev1.PodPending, false, "200m"),
		"c": pod(corev1.PodQOSBurstable, corev1.PodRunning, true, "1"),    // being deleted
		"d": pod(corev1.PodQOSBurstable, corev1.PodSucceeded, false, "1"), // done
		"e": pod(corev1.PodQOSGuaranteed, corev1.PodRunning, false, "2"),  // not burstable
		"f": pod(corev1.PodQOSBestEffort, corev1.PodRunning, false, ""),   // no request
	}}
	if err := a.applyQoSCgroups(m); err != nil {
		t.Fatal(err)
	}
	for qos, want := range map[string]string{"burstable": "307", "besteffort": "2"} {
		data, err := os.ReadFile(filepath.Join(root, "cpu/peapod", qos, "cpu.shares"))
		if err != nil || string(data) != want {
			t.Errorf("%s cpu.shares %q (%v), want %s", qos, data, err, want)
		}
	}
}

// TestStartErrorStatus: a failed start's instance is the last state while the container waits for its
// restart, and the state itself when no restart is wanted.
func TestStartErrorStatus(t *testing.T) {
	ended := &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: "exec failed"}
	for _, tc := range []struct {
		name            string
		waiting         string
		state, previous string
	}{
		{"restart due", "RunContainerError", "waiting RunContainerError", "StartError"},
		{"no restart", "", "terminated StartError", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &containerRecord{id: "c1", terminated: ended, exited: true, waitingReason: tc.waiting}
			st := containerStatus(corev1.Container{Name: "main"}, r, containerIDPrefix)
			state := ""
			switch {
			case st.State.Waiting != nil:
				state = "waiting " + st.State.Waiting.Reason
			case st.State.Terminated != nil:
				state = "terminated " + st.State.Terminated.Reason
			}
			previous := ""
			if st.LastTerminationState.Terminated != nil {
				previous = st.LastTerminationState.Terminated.Reason
			}
			if state != tc.state || previous != tc.previous {
				t.Errorf("state %q, last state %q; want %q, %q", state, previous, tc.state, tc.previous)
			}
		})
	}
}

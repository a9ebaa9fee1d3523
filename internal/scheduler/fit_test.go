package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testNode(name string, labels map[string]string, cpu, memory string, pods int64) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(memory),
			corev1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
		}},
	}
}

func testPod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	for _, m := range mutate {
		m(pod)
	}
	return pod
}

func requesting(cpu, memory string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{}
		if cpu != "" {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if memory != "" {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse(memory)
		}
	}
}

func withHostPort(port int32, ip string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: corev1.ProtocolTCP})
	}
}

func TestPickNode(t *testing.T) {
	ssd := func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disktype": "ssd"} }
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		nodes    []*corev1.Node
		assigned map[string][]*corev1.Pod // node -> pods already there
		want     string
		message  string
	}{{
		name:  "fits the only node",
		pod:   testPod("p"),
		nodes: []*corev1.Node{testNode("n1", nil, "2", "4Gi", 110)},
		want:  "n1",
	}, {
		name:    "no nodes",
		pod:     testPod("p"),
		message: "no nodes available to schedule pods",
	}, {
		name:    "node selector",
		pod:     testPod("p", ssd),
		nodes:   []*corev1.Node{testNode("n1", map[string]string{"disktype": "hdd"}, "2", "4Gi", 110)},
		message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
	}, {
		name:  "node selector matches one of two",
		pod:   testPod("p", ssd),
		nodes: []*corev1.Node{testNode("a", nil, "2", "4Gi", 110), testNode("b", map[string]string{"disktype": "ssd"}, "2", "4Gi", 110)},
		want:  "b",
	}, {
		name: "required node affinity",
		pod: testPod("p", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "gpu", Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}}},
			}}}
		}),
		nodes: []*corev1.Node{testNode("a", map[string]string{"gpu": "false"}, "2", "4Gi", 110), testNode("b", map[string]string{"gpu": "true"}, "2", "4Gi", 110)},
		want:  "b",
	}, {
		name:    "insufficient memory",
		pod:     testPod("p", requesting("", "5Gi")),
		nodes:   []*corev1.Node{testNode("n1", nil, "2", "4Gi", 110)},
		message: "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
	}, {
		name:    "insufficient cpu and memory",
		pod:     testPod("p", requesting("3", "5Gi")),
		nodes:   []*corev1.Node{testNode("n1", nil, "2", "4Gi", 110)},
		message: "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
	}, {
		name:     "requests of pods already there count",
		pod:      testPod("p", requesting("1500m", "")),
		nodes:    []*corev1.Node{testNode("n1", nil, "2", "4Gi", 110)},
		assigned: map[string][]*corev1.Pod{"n1": {testPod("q", requesting("1", ""))}},
		message:  "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
	}, {
		name:     "too many pods",
		pod:      testPod("p"),
		nodes:    []*corev1.Node{testNode("n1", nil, "2", "4Gi", 1)},
		assigned: map[string][]*corev1.Pod{"n1": {testPod("q")}},
		message:  "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
	}, {
		name: "untolerated taint",
		pod:  testPod("p"),
		nodes: []*corev1.Node{func() *corev1.Node {
			n := testNode("n1", nil, "2", "4Gi", 110)
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			return n
		}()},
		message: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
	}, {
		name: "tolerated taint and PreferNoSchedule",
		pod: testPod("p", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}),
		nodes: []*corev1.Node{func() *corev1.Node {
			n := testNode("n1", nil, "2", "4Gi", 110)
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}, {Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}}
			return n
		}()},
		want: "n1",
	}, {
		name: "cordoned",
		pod:  testPod("p"),
		nodes: []*corev1.Node{func() *corev1.Node {
			n := testNode("n1", nil, "2", "4Gi", 110)
			n.Spec.Unschedulable = true
			return n
		}()},
		message: "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
	}, {
		name:     "host port taken",
		pod:      testPod("p", withHostPort(8080, "")),
		nodes:    []*corev1.Node{testNode("n1", nil, "2", "4Gi", 110)},
		assigned: map[string][]*corev1.Pod{"n1": {testPod("q", withHostPort(8080, "127.0.0.1"))}},
		message:  "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
	}, {
		name:     "host port on another address",
		pod:      testPod("p", withHostPort(8080, "127.0.0.2")),
		nodes:    []*corev1.Node{testNode("n1", nil, "2", "4Gi", 110)},
		assigned: map[string][]*corev1.Pod{"n1": {testPod("q", withHostPort(8080, "127.0.0.1"))}},
		want:     "n1",
	}, {
		name: "reasons of several nodes, sorted",
		pod:  testPod("p", ssd, requesting("", "1Gi")),
		nodes: []*corev1.Node{
			testNode("a", nil, "2", "4Gi", 110),
			testNode("b", map[string]string{"disktype": "ssd"}, "2", "512Mi", 110),
			testNode("c", nil, "2", "4Gi", 110),
		},
		message: "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
	}, {
		name:     "least allocated wins",
		pod:      testPod("p", requesting("500m", "1Gi")),
		nodes:    []*corev1.Node{testNode("busy", nil, "2", "4Gi", 110), testNode("idle", nil, "2", "4Gi", 110)},
		assigned: map[string][]*corev1.Pod{"busy": {testPod("q", requesting("1", "2Gi"))}},
		want:     "idle",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var infos []*nodeInfo
			for _, n := range tc.nodes {
				info := newNodeInfo(n)
				for _, p := range tc.assigned[n.Name] {
					info.add(p)
				}
				infos = append(infos, info)
			}
			got, err := pickNode(tc.pod, infos)
			if tc.message != "" {
				if err == nil {
					t.Fatalf("placed on %q, want failure %q", got, tc.message)
				}
				if err.Error() != tc.message {
					t.Errorf("message\n got %q\nwant %q", err.Error(), tc.message)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("pickNode = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// Package scheduler assigns pending pods to nodes as kube-scheduler's default profile does for the features
// peapod serves: it filters nodes (unschedulable, taints and tolerations, nodeSelector and required node
// affinity, host ports, requested resources against allocatable), scores the rest by least allocated
// resources, binds through pods/binding, and reports failures with kube-scheduler's exact FailedScheduling
// message and PodScheduled condition. It talks to the API server only through client-go.
package scheduler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Kubernetes' default requests used for scoring only (never for fitting), so that pods without requests
// still spread: 0.1 core and 200 MB (k8s.io/kubernetes/pkg/scheduler/util's DefaultMilliCPURequest and
// DefaultMemoryRequest).
const (
	defaultMilliCPURequest = 100
	defaultMemoryRequest   = 200 * 1024 * 1024
)

// code is how a node failed a filter; kube-scheduler's preemption treats the two differently.
type code int

const (
	// unschedulable: the node might fit once other pods are gone (resources, ports).
	unschedulable code = iota + 1
	// unresolvable: nothing but a change of the node or the pod helps (labels, taints, cordon).
	unresolvable
)

// status is the verdict of the first filter a node failed, with kube-scheduler's reasons.
type status struct {
	code    code
	reasons []string
}

// nodeInfo is a node and what the pods bound or assumed to it take from it.
type nodeInfo struct {
	node      *corev1.Node
	milliCPU  int64 // requests of its pods
	memory    int64
	ephemeral int64
	pods      int
	// nonZero* add the scoring defaults for containers without requests.
	nonZeroMilliCPU int64
	nonZeroMemory   int64
	usedPorts       map[hostPort]bool
}

type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

func newNodeInfo(node *corev1.Node) *nodeInfo {
	return &nodeInfo{node: node, usedPorts: map[hostPort]bool{}}
}

// add counts pod against the node.
func (n *nodeInfo) add(pod *corev1.Pod) {
	req := podRequests(pod)
	n.milliCPU += req.milliCPU
	n.memory += req.memory
	n.ephemeral += req.ephemeral
	n.nonZeroMilliCPU += req.nonZeroMilliCPU
	n.nonZeroMemory += req.nonZeroMemory
	n.pods++
	for _, p := range podHostPorts(pod) {
		n.usedPorts[p] = true
	}
}

type requests struct {
	milliCPU, memory, ephemeral    int64
	nonZeroMilliCPU, nonZeroMemory int64
}

// podRequests is what the pod asks of a node, computed as the kubelet and scheduler do: the larger of the
// app containers' sum and each init container's (sidecars included), plus overhead.
func podRequests(pod *corev1.Pod) requests {
	list := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	nonZero := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		NonMissingContainerRequests: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(defaultMilliCPURequest, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(defaultMemoryRequest, resource.DecimalSI),
		},
	})
	return requests{
		milliCPU:        list.Cpu().MilliValue(),
		memory:          list.Memory().Value(),
		ephemeral:       list.StorageEphemeral().Value(),
		nonZeroMilliCPU: nonZero.Cpu().MilliValue(),
		nonZeroMemory:   nonZero.Memory().Value(),
	}
}

func podHostPorts(pod *corev1.Pod) []hostPort {
	var ports []hostPort
	for _, containers := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range containers {
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				ip := p.HostIP
				if ip == "" {
					ip = "0.0.0.0"
				}
				protocol := p.Protocol
				if protocol == "" {
					protocol = corev1.ProtocolTCP
				}
				ports = append(ports, hostPort{ip: ip, protocol: protocol, port: p.HostPort})
			}
		}
	}
	return ports
}

// portsConflict reports whether want collides with a port in use: same protocol and port, and the same
// address or either one the wildcard.
func portsConflict(used map[hostPort]bool, want hostPort) bool {
	for p := range used {
		if p.protocol == want.protocol && p.port == want.port &&
			(p.ip == want.ip || p.ip == "0.0.0.0" || want.ip == "0.0.0.0") {
			return true
		}
	}
	return false
}

// filter runs kube-scheduler's filter plugins in their default order and returns the first failure, or nil
// when the pod fits.
func filter(pod *corev1.Pod, n *nodeInfo) *status {
	node := n.node
	// NodeUnschedulable
	if node.Spec.Unschedulable && !corev1helpers.TolerationsTolerateTaint(pod.Spec.Tolerations, &corev1.Taint{
		Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule,
	}) {
		return &status{code: unresolvable, reasons: []string{"node(s) were unschedulable"}}
	}
	// TaintToleration
	if taint, untolerated := corev1helpers.FindMatchingUntoleratedTaint(node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}); untolerated {
		return &status{code: unresolvable, reasons: []string{fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value)}}
	}
	// NodeAffinity: nodeSelector and requiredDuringSchedulingIgnoredDuringExecution.
	if match, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !match {
		return &status{code: unresolvable, reasons: []string{"node(s) didn't match Pod's node affinity/selector"}}
	}
	// NodePorts
	for _, p := range podHostPorts(pod) {
		if portsConflict(n.usedPorts, p) {
			return &status{code: unschedulable, reasons: []string{"node(s) didn't have free ports for the requested pod ports"}}
		}
	}
	// NodeResourcesFit
	var reasons []string
	allocatable := node.Status.Allocatable
	if int64(n.pods+1) > allocatable.Pods().Value() {
		reasons = append(reasons, "Too many pods")
	}
	req := podRequests(pod)
	if req.milliCPU > 0 && req.milliCPU > allocatable.Cpu().MilliValue()-n.milliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if req.memory > 0 && req.memory > allocatable.Memory().Value()-n.memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if req.ephemeral > 0 && req.ephemeral > allocatable.StorageEphemeral().Value()-n.ephemeral {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	if len(reasons) > 0 {
		return &status{code: unschedulable, reasons: reasons}
	}
	return nil
}

// score is kube-scheduler's LeastAllocated: the mean over cpu and memory of the share of allocatable left
// after placing the pod, 0..100, counting the scoring defaults for containers without requests.
func score(pod *corev1.Pod, n *nodeInfo) int64 {
	req := podRequests(pod)
	allocatable := n.node.Status.Allocatable
	least := func(requested, capacity int64) int64 {
		if capacity == 0 || requested > capacity {
			return 0
		}
		return (capacity - requested) * 100 / capacity
	}
	cpu := least(n.nonZeroMilliCPU+req.nonZeroMilliCPU, allocatable.Cpu().MilliValue())
	memory := least(n.nonZeroMemory+req.nonZeroMemory, allocatable.Memory().Value())
	return (cpu + memory) / 2
}

// fitError is why no node fits: kube-scheduler's FitError, whose text is the FailedScheduling message and
// the PodScheduled condition's message.
type fitError struct {
	nodes    int
	statuses map[string]*status // by node name
}

// errNoNodes is kube-scheduler's ErrNoNodesAvailable.
const errNoNodes = "no nodes available to schedule pods"

func (e *fitError) Error() string {
	if e.nodes == 0 {
		return errNoNodes
	}
	filterReasons := map[string]int{}
	preemptionReasons := map[string]int{}
	for _, st := range e.statuses {
		for _, r := range st.reasons {
			filterReasons[r]++
		}
		// Every pod peapod runs has priority 0, so preemption never finds a lower-priority victim: a node
		// that failed on resources or ports reports none found, the others that preemption cannot help.
		if st.code == unresolvable {
			preemptionReasons["Preemption is not helpful for scheduling"]++
		} else {
			preemptionReasons["No preemption victims found for incoming pod"]++
		}
	}
	return fmt.Sprintf("0/%d nodes are available: %s. preemption: 0/%d nodes are available: %s.",
		e.nodes, histogram(filterReasons), e.nodes, histogram(preemptionReasons))
}

// waitsForRoom says whether some node failed on resources or ports, so that a pod leaving may help.
func (e *fitError) waitsForRoom() bool {
	for _, st := range e.statuses {
		if st.code == unschedulable {
			return true
		}
	}
	return false
}

func histogram(counts map[string]int) string {
	parts := make([]string, 0, len(counts))
	for reason, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// pickNode returns the best node for pod, or the reasons none fits. Ties go to the first node by name, so
// that a placement can be reproduced.
func pickNode(pod *corev1.Pod, nodes []*nodeInfo) (string, *fitError) {
	fe := &fitError{nodes: len(nodes), statuses: map[string]*status{}}
	best, bestScore := "", int64(-1)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].node.Name < nodes[j].node.Name })
	for _, n := range nodes {
		if st := filter(pod, n); st != nil {
			fe.statuses[n.node.Name] = st
			continue
		}
		if s := score(pod, n); s > bestScore {
			best, bestScore = n.node.Name, s
		}
	}
	if best == "" {
		return "", fe
	}
	return best, nil
}

package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/internal/runtime/cgroups"
	"github.com/peapod-dev/peapod/internal/version"
)

const (
	// leaseDuration and the renew interval are the kubelet's defaults (--node-lease-duration-seconds and a
	// quarter of it).
	leaseDuration = 40 * time.Second
	leaseRenew    = 10 * time.Second
	// nodeStatusReport is how often the node status is posted when nothing changed (the kubelet's
	// nodeStatusReportFrequency is 5 minutes; one is cheap here and keeps heartbeats fresh).
	nodeStatusReport = time.Minute
	// resourcePID is the kubelet's name for process IDs in reserves (it never shows in the Node).
	resourcePID corev1.ResourceName = "pid"
)

// nodeFacts are what the agent reads of its machine once at start.
type nodeFacts struct {
	milliCPU        int64
	memoryBytes     int64
	ephemeralBytes  int64
	kernel, osImage string
	machineID       string
	bootID          string
	runtimeVersion  string
	pidMax          int64 // the kernel's pid_max: the node's process capacity
}

func readNodeFacts(dataDir, runtimeVersion string) (nodeFacts, error) {
	f := nodeFacts{milliCPU: int64(runtime.NumCPU()) * 1000, runtimeVersion: runtimeVersion}
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return f, fmt.Errorf("read memory size: %w", err)
	}
	for line := range strings.Lines(string(meminfo)) {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return f, fmt.Errorf("parse MemTotal: %w", err)
			}
			f.memoryBytes = kib * 1024
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dataDir, &st); err != nil {
		return f, fmt.Errorf("size of %s: %w", dataDir, err)
	}
	f.ephemeralBytes = int64(st.Blocks) * st.Bsize
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		f.kernel = unix.ByteSliceToString(uts.Release[:])
	}
	f.osImage = osPrettyName()
	if f.pidMax, err = strconv.ParseInt(strings.TrimSpace(readFileOr("/proc/sys/kernel/pid_max", "")), 10, 64); err != nil {
		return f, fmt.Errorf("read pid_max: %w", err)
	}
	f.machineID = strings.TrimSpace(readFileOr("/etc/machine-id", ""))
	f.bootID = strings.TrimSpace(readFileOr("/proc/sys/kernel/random/boot_id", ""))
	return f, nil
}

func readFileOr(path, fallback string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fallback
	}
	return string(data)
}

func osPrettyName() string {
	scanner := bufio.NewScanner(bytes.NewReader([]byte(readFileOr("/etc/os-release", ""))))
	for scanner.Scan() {
		if v, ok := strings.CutPrefix(scanner.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// nodeObject is the Node the agent registers and keeps posting.
func (a *Agent) nodeObject(now metav1.Time) *corev1.Node {
	f := a.facts
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(f.milliCPU, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(f.memoryBytes, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(a.cfg.MaxPods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(f.ephemeralBytes, resource.BinarySI),
		"hugepages-1Gi":                 *resource.NewQuantity(0, resource.BinarySI),
		"hugepages-2Mi":                 *resource.NewQuantity(0, resource.BinarySI),
	}
	allocatable := a.allocatable(capacity)

	condition := func(t corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: status, Reason: reason, Message: message, LastHeartbeatTime: now, LastTransitionTime: a.started}
	}
	addresses := []corev1.NodeAddress{}
	for _, ip := range a.cfg.NodeIPs {
		addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
	}
	addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: a.cfg.NodeName})
	podCIDR := a.cfg.Network.PodCIDR.String()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.cfg.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname:      a.cfg.NodeName,
				corev1.LabelOSStable:      runtime.GOOS,
				corev1.LabelArchStable:    runtime.GOARCH,
				"beta.kubernetes.io/os":   runtime.GOOS,
				"beta.kubernetes.io/arch": runtime.GOARCH,
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: podCIDR, PodCIDRs: []string{podCIDR}},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: allocatable,
			Conditions: []corev1.NodeCondition{
				condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				condition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses:       addresses,
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(a.cfg.Port)}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               f.machineID,
				SystemUUID:              f.machineID,
				BootID:                  f.bootID,
				KernelVersion:           f.kernel,
				OSImage:                 f.osImage,
				ContainerRuntimeVersion: f.runtimeVersion,
				KubeletVersion:          version.Get().GitVersion,
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
			},
		},
	}
}

// allocatable is the kubelet's capacity minus --system-reserved and --kube-reserved. The kubelet also takes
// off its hard eviction thresholds; peapod evicts nothing, so it keeps them.
func (a *Agent) allocatable(capacity corev1.ResourceList) corev1.ResourceList {
	out := capacity.DeepCopy()
	reserved := a.reserved()
	for name, q := range out {
		if r, ok := reserved[name]; ok {
			q.Sub(r)
			if q.Sign() < 0 {
				q = *resource.NewQuantity(0, q.Format)
			}
			out[name] = q
		}
	}
	return out
}

// reserved is --system-reserved plus --kube-reserved.
func (a *Agent) reserved() corev1.ResourceList {
	sum := corev1.ResourceList{}
	for _, list := range []corev1.ResourceList{a.cfg.SystemReserved, a.cfg.KubeReserved} {
		for name, q := range list {
			total := sum[name]
			total.Add(q)
			sum[name] = total
		}
	}
	return sum
}

// nodeCgroupResources are the limits of the cgroup over every pod, as the kubelet's node allocatable
// enforcement (--enforce-node-allocatable=pods, its default) sets kubepods: cpu shares and memory of the
// capacity less the reserves, and the kernel's pid_max less the reserved pids.
func (a *Agent) nodeCgroupResources() cgroups.Resources {
	f := a.facts
	reserved := a.reserved()
	pids := reserved[resourcePID]
	return cgroups.Resources{
		CPUShares:   milliCPUToShares(max(0, f.milliCPU-reserved.Cpu().MilliValue())),
		MemoryLimit: max(1, f.memoryBytes-reserved.Memory().Value()),
		PidsLimit:   max(1, f.pidMax-pids.Value()),
	}
}

// registerNode creates the Node, or takes over an existing one of the same name (a restart), and posts
// its status.
func (a *Agent) registerNode(ctx context.Context) error {
	want := a.nodeObject(metav1.Now())
	nodes := a.client.Nodes()
	existing, err := nodes.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		created, err := nodes.Create(ctx, want, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("register node %s: %w", want.Name, err)
		}
		existing = created
	case err != nil:
		return fmt.Errorf("read node %s: %w", want.Name, err)
	default:
		// Keep what users set (labels they added, taints, unschedulable); refresh the agent's own labels.
		updated := existing.DeepCopy()
		if updated.Labels == nil {
			updated.Labels = map[string]string{}
		}
		for k, v := range want.Labels {
			updated.Labels[k] = v
		}
		updated.Spec.PodCIDR, updated.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
		if existing, err = nodes.Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update node %s: %w", want.Name, err)
		}
	}
	return a.postNodeStatus(ctx, existing)
}

func (a *Agent) postNodeStatus(ctx context.Context, node *corev1.Node) error {
	want := a.nodeObject(metav1.Now())
	updated := node.DeepCopy()
	updated.Status = want.Status
	// A condition keeps its transition time while its status stays.
	for i, c := range updated.Status.Conditions {
		for _, old := range node.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				updated.Status.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	if _, err := a.client.Nodes().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("post status of node %s: %w", node.Name, err)
	}
	return nil
}

// heartbeat renews the node's Lease every leaseRenew and posts the node status every nodeStatusReport,
// until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	renew := time.NewTicker(leaseRenew)
	defer renew.Stop()
	report := time.NewTicker(nodeStatusReport)
	defer report.Stop()
	for {
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.logger.Warn("renew node lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
		case <-report.C:
			node, err := a.client.Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
			if err == nil {
				err = a.postNodeStatus(ctx, node)
			}
			if err != nil && ctx.Err() == nil {
				a.logger.Warn("post node status", "err", err)
			}
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.client.Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err := a.client.Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read node for its lease: %w", err)
		}
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(a.cfg.NodeName),
				LeaseDurationSeconds: ptr.To(int32(leaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	lease.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// defaultNodeIPs is the kubelet's choice without --node-ip: the addresses of the interface carrying the
// default route (here: the first global unicast IPv4 address found).
func defaultNodeIPs() []netip.Addr {
	addrs, err := netInterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if a.Is4() && a.IsGlobalUnicast() {
			return []netip.Addr{a}
		}
	}
	return nil
}

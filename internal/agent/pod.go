package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/internal/runtime/cgroups"
	"github.com/peapod-dev/peapod/internal/runtime/network"
	"github.com/peapod-dev/peapod/internal/runtime/shim"
)

const (
	// resyncEvery is how often a worker syncs without being woken. Exits wake it at once (it waits on each
	// container through the shim), as do pod changes and the end of a back-off; polling the shim every
	// second instead would cost each pod's shim a busier heap.
	resyncEvery = 10 * time.Second
	// retryAfterError is how soon a sync that failed is tried again.
	retryAfterError = time.Second
	// containerIDPrefix is the runtime name in containerStatuses[].containerID.
	containerIDPrefix = "peapod://"
	// cgroupRoot is where the host mounts its cgroup file systems.
	cgroupRoot = "/sys/fs/cgroup"
)

// podWorker owns one pod on this node: it starts the sandbox and the containers, follows them, reports the
// status and tears everything down when the pod is deleted.
type podWorker struct {
	a       *Agent
	updates chan struct{}

	pod     *corev1.Pod // latest seen, guarded by a.mu through update
	removed bool

	// Owned by the run goroutine:
	dir          string // <data-dir>/pods/<uid>
	runDir       string
	shim         *shim.Client
	netnsPath    string
	shimPid      int // the shim, in whose mount namespace the containers' root filesystems are mounted
	podIP        string
	sandboxReady bool
	cgroupReady  bool // the pod cgroup has its limits
	startTime    *metav1.Time
	volumes      map[string]string // volume name -> host path
	init, app    map[string]*containerRecord
	backoffMu    sync.Mutex           // containers are created concurrently
	backoff      map[string]time.Time // container name -> no image pull before
	backoffDelay map[string]time.Duration
	posted       *corev1.PodStatus
	failed       bool        // a Never pod whose init container failed
	failure      *podFailure // the agent failed the pod (activeDeadlineSeconds)
	// saved is the state last written for a restarted agent (see state.go).
	saved []byte
	// released: the pod is terminal and its sandbox is gone.
	released bool
	// synced is closed after the worker's first sync (a restarted agent has then taken the pod over).
	synced chan struct{}
	// views is what the node endpoint reads (guarded by a.mu).
	views map[string]containerView
}

func newPodWorker(a *Agent, pod *corev1.Pod) *podWorker {
	return &podWorker{
		a: a, pod: pod, updates: make(chan struct{}, 1),
		dir:    filepath.Join(a.cfg.DataDir, "pods", string(pod.UID)),
		runDir: filepath.Join(a.cfg.RunDir, "pods", string(pod.UID)),
		init:   map[string]*containerRecord{}, app: map[string]*containerRecord{},
		backoff: map[string]time.Time{}, backoffDelay: map[string]time.Duration{},
		synced: make(chan struct{}),
	}
}

// update records the latest pod (called with a.mu held) and wakes the worker.
func (w *podWorker) update(pod *corev1.Pod, removed bool) {
	w.pod = pod
	w.removed = w.removed || removed
	select {
	case w.updates <- struct{}{}:
	default:
	}
}

func (w *podWorker) current() (*corev1.Pod, bool) {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	return w.pod, w.removed
}

func (w *podWorker) run(ctx context.Context) {
	w.adopt(ctx)
	ticker := time.NewTicker(resyncEvery)
	defer ticker.Stop()
	for {
		pod, removed := w.current()
		if pod.DeletionTimestamp != nil || removed {
			w.terminate(ctx, pod, removed)
			return
		}
		if err := w.sync(ctx, pod); err != nil && ctx.Err() == nil {
			w.a.logger.Warn("pod sync failed", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			w.wakeAt(time.Now().Add(retryAfterError))
		}
		w.markSynced()
		select {
		case <-ctx.Done():
			return
		case <-w.updates:
		case <-ticker.C:
		}
	}
}

// sync moves the pod one step towards its spec and posts its status.
func (w *podWorker) sync(ctx context.Context, pod *corev1.Pod) error {
	if w.startTime == nil {
		now := metav1.Now()
		if pod.Status.StartTime != nil {
			now = *pod.Status.StartTime
		}
		w.startTime = &now
	}
	if w.released {
		return nil
	}
	err := w.advance(ctx, pod)
	w.publishViews(pod)
	if perr := w.postStatus(ctx, pod); perr != nil {
		return errors.Join(err, perr)
	}
	if serr := w.saveState(); serr != nil {
		err = errors.Join(err, serr)
	}
	if phase := w.posted.Phase; phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		if rerr := w.releaseSandbox(ctx, pod); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

func (w *podWorker) advance(ctx context.Context, pod *corev1.Pod) error {
	if w.failed || w.failure != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	// Volumes before the sandbox, as the kubelet mounts them before it creates the sandbox: the shim's mount
	// namespace is a copy of the host's made as it starts, so a tmpfs emptyDir mounted later would not be in it.
	if w.volumes == nil {
		volumes, err := w.setUpVolumes(ctx, pod)
		if err != nil {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "%v", err)
			return err
		}
		w.volumes = volumes
	}
	if w.shim == nil {
		if err := w.startSandbox(ctx, pod); err != nil {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return err
		}
	}
	if !w.cgroupReady {
		if err := w.setUpPodCgroup(pod); err != nil {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodContainer", "unable to ensure pod container exists: %v", err)
			return err
		}
		w.cgroupReady = true
	}
	if err := w.refresh(ctx); err != nil {
		return err
	}
	for _, set := range []struct {
		containers []corev1.Container
		records    map[string]*containerRecord
	}{{pod.Spec.InitContainers, w.init}, {pod.Spec.Containers, w.app}} {
		for _, c := range set.containers {
			w.terminationMessage(ctx, pod, c, w.record(set.records, c.Name))
		}
	}
	if w.deadlineExceeded(pod) {
		w.failForDeadline(ctx, pod)
		return nil
	}
	// Init containers, one at a time, each to success before the next; a failed one is retried with
	// back-off unless the policy is Never, which fails the pod.
	for i := range pod.Spec.InitContainers {
		c := pod.Spec.InitContainers[i]
		r := w.record(w.init, c.Name)
		switch {
		case r.running:
			return nil
		case r.terminated != nil && r.terminated.ExitCode == 0:
			continue
		case r.id != "" && (r.terminated != nil || r.waitingReason == "CrashLoopBackOff"):
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				w.failed = true
				return nil
			}
			if !w.dueForRestart(ctx, pod, c, r) {
				return nil
			}
		}
		w.startContainer(ctx, pod, c, r)
		w.freeEnded(ctx, pod, c, r)
		return nil
	}
	var toStart []corev1.Container
	var records []*containerRecord
	for _, c := range pod.Spec.Containers {
		r := w.record(w.app, c.Name)
		ended := r.terminated != nil || r.waitingReason == "CrashLoopBackOff"
		if r.id != "" && ended {
			exit := int32(0)
			if r.terminated != nil {
				exit = r.terminated.ExitCode
			} else if r.lastTerminated != nil {
				exit = r.lastTerminated.ExitCode
			}
			if !restartWanted(pod.Spec.RestartPolicy, exit) || !w.dueForRestart(ctx, pod, c, r) {
				continue
			}
		}
		if r.id == "" {
			toStart, records = append(toStart, c), append(records, r)
		}
	}
	w.startContainers(ctx, pod, toStart, records)
	for i, c := range toStart {
		w.freeEnded(ctx, pod, c, records[i])
	}
	return nil
}

func (w *podWorker) record(records map[string]*containerRecord, name string) *containerRecord {
	r, ok := records[name]
	if !ok {
		r = &containerRecord{}
		records[name] = r
	}
	return r
}

// startSandbox creates the pod's network namespace and network, its /etc files and the shim with the pause.
func (w *podWorker) startSandbox(ctx context.Context, pod *corev1.Pod) error {
	id := string(pod.UID)
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return fmt.Errorf("pod directory: %w", err)
	}
	hostname, domain := podHostname(pod)
	var hosts []byte
	if pod.Spec.HostNetwork {
		nodeHosts, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return fmt.Errorf("read the node's /etc/hosts: %w", err)
		}
		hosts = hostNetworkHostsFile(nodeHosts, pod.Spec.HostAliases)
		if len(w.a.cfg.NodeIPs) > 0 {
			w.podIP = w.a.cfg.NodeIPs[0].String()
		}
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node hostname: %w", err)
		}
		hostname = host
	} else {
		netns, err := w.a.net.NewNetNS(ctx, id)
		if err != nil {
			return err
		}
		w.netnsPath = netns
		att, err := w.a.net.Attach(ctx, network.AttachRequest{ID: id, NetNSPath: netns, HostPorts: hostPorts(pod)})
		if err != nil {
			return err
		}
		w.podIP = att.IP.String()
		hosts = hostsFile([]string{w.podIP}, hostname, domain, pod.Spec.HostAliases)
	}
	files := map[string][]byte{"etc-hosts": hosts, "etc-hostname": []byte(hostname + "\n")}
	resolv, err := w.resolvConf(pod)
	if err != nil {
		return err
	}
	files["resolv.conf"] = resolv
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(w.dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	client, err := shim.Start(ctx, w.a.shimBin, shim.SandboxConfig{
		ID: id, RunDir: w.runDir, Hostname: hostname, NetNSPath: w.netnsPath,
		HostNetwork: pod.Spec.HostNetwork, HostIPC: pod.Spec.HostIPC, HostPID: pod.Spec.HostPID,
		SharePID:      ptr.Deref(pod.Spec.ShareProcessNamespace, false),
		RuntimeBinary: w.a.runtime, RuntimeRoot: filepath.Join(w.a.cfg.RunDir, "runtime"),
		CgroupParent: podCgroup(pod),
		DetachMountsUnder: []string{filepath.Dir(w.a.net.NetNSPath(id)), filepath.Join(w.a.cfg.DataDir, "pods"),
			w.a.snaps.Root(), filepath.Join(w.a.cfg.RunDir, "pods")},
		KeepMounts: []string{w.dir, w.runDir},
	})
	if err != nil {
		return err
	}
	st, err := shim.ReadState(w.runDir)
	if err != nil {
		_ = client.Shutdown(ctx)
		return err
	}
	w.shim, w.shimPid = client, st.Sandbox.ShimPid
	w.sandboxReady = true
	return nil
}

// setUpPodCgroup makes the pod's cgroup with the pod's limits before its first container, as the kubelet
// does, so that the pod as a whole is held to them (and the containers' cgroups nest in it). The shim
// removes it with the sandbox. A re-adopted pod gets the same values written again.
func (w *podWorker) setUpPodCgroup(pod *corev1.Pod) error {
	m, err := cgroups.New(cgroupRoot)
	if err != nil {
		return err
	}
	// The node's cgroup first: the pod's limits are checked against it. Writing it with every pod needs no
	// start-up step and costs a few writes.
	if err := m.Apply(nodeCgroup, w.a.nodeCgroupResources()); err != nil {
		return err
	}
	if err := w.a.applyQoSCgroups(m); err != nil {
		return err
	}
	return m.Apply(podCgroup(pod), podCgroupResources(pod, w.a.cfg.PodMaxPids))
}

// applyQoSCgroups writes the QoS classes' cpu shares as the kubelet's QoS container manager does:
// besteffort the minimum, burstable the summed cpu requests of the node's live Burstable pods, so that
// under contention the classes share the cpu by what their pods asked for.
func (a *Agent) applyQoSCgroups(m *cgroups.Manager) error {
	opts := resourcehelper.PodResourcesOptions{SkipPodLevelResources: true}
	var burstable int64
	a.mu.Lock()
	for _, w := range a.workers {
		p := w.pod
		live := !w.removed && p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
		if live && p.Status.QOSClass == corev1.PodQOSBurstable {
			requests := resourcehelper.PodRequests(p, opts)
			burstable += requests.Cpu().MilliValue()
		}
	}
	a.mu.Unlock()
	if err := m.Apply(nodeCgroup+"/besteffort", cgroups.Resources{CPUShares: minShares}); err != nil {
		return err
	}
	return m.Apply(nodeCgroup+"/burstable", cgroups.Resources{CPUShares: milliCPUToShares(burstable)})
}

// resolvConf is the pod's /etc/resolv.conf. peapod runs no cluster DNS, so ClusterFirst falls back to the
// node's resolver as the kubelet does without --cluster-dns (and says so in an event).
func (w *podWorker) resolvConf(pod *corev1.Pod) ([]byte, error) {
	if pod.Spec.DNSPolicy == corev1.DNSClusterFirst && !pod.Spec.HostNetwork {
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "MissingClusterDNS",
			"pod: %q. kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.",
			pod.Namespace+"/"+pod.Name, corev1.DNSClusterFirst, corev1.DNSDefault)
	}
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil, fmt.Errorf("read the node's /etc/resolv.conf: %w", err)
	}
	return data, nil
}

func hostPorts(pod *corev1.Pod) []network.PortMapping {
	var out []network.PortMapping
	for _, containers := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range containers {
			for _, p := range c.Ports {
				if p.HostPort == 0 {
					continue
				}
				m := network.PortMapping{
					Protocol: network.Protocol(strings.ToLower(string(p.Protocol))), ContainerPort: uint16(p.ContainerPort), HostPort: uint16(p.HostPort),
				}
				if p.HostIP != "" {
					if ip, err := netip.ParseAddr(p.HostIP); err == nil {
						m.HostIP = ip
					}
				}
				out = append(out, m)
			}
		}
	}
	return out
}

// refresh reads the containers' states from the shim into the records.
func (w *podWorker) refresh(ctx context.Context) error {
	st, err := w.shim.State(ctx)
	if err != nil {
		return fmt.Errorf("read sandbox state: %w", err)
	}
	byID := map[string]shim.ContainerState{}
	for _, c := range st.Containers {
		byID[c.ID] = c
	}
	for _, records := range []map[string]*containerRecord{w.init, w.app} {
		for _, r := range records {
			c, ok := byID[r.id]
			if !ok || r.id == "" {
				continue
			}
			switch c.Status {
			case shim.StatusRunning:
				r.running, r.startedAt, r.waitingReason, r.waitingMessage = true, metav1.NewTime(c.Started), "", ""
			case shim.StatusExited:
				if !r.exited { // once per instance: a restart moves it to the last state
					r.running, r.exited = false, true
					r.terminated = terminatedState(c, r)
				}
			}
		}
	}
	return nil
}

func terminatedState(c shim.ContainerState, r *containerRecord) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode: int32(c.ExitCode), StartedAt: metav1.NewTime(c.Started), FinishedAt: metav1.NewTime(c.Finished),
		ContainerID: containerIDPrefix + r.id, Signal: int32(c.Signal),
	}
	switch {
	case c.OOMKilled:
		t.Reason = "OOMKilled"
	case c.ExitCode == 0:
		t.Reason = "Completed"
	default:
		t.Reason = "Error"
	}
	return t
}

// postStatus writes the pod's status when it changed.
func (w *podWorker) postStatus(ctx context.Context, pod *corev1.Pod) error {
	status := w.status(pod)
	if w.posted != nil && reflect.DeepEqual(*w.posted, status) {
		return nil
	}
	updated := pod.DeepCopy()
	updated.Status = status
	result, err := w.a.client.Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		latest, gerr := w.a.client.Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("post pod status: %w", gerr)
		}
		if latest.UID != pod.UID {
			return fmt.Errorf("post pod status: pod %s/%s was replaced", pod.Namespace, pod.Name)
		}
		updated = latest.DeepCopy()
		updated.Status = w.status(latest)
		result, err = w.a.client.Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("post pod status: %w", err)
	}
	w.posted = &status
	w.a.mu.Lock()
	// Keep the newer of the informer's copy and the answer (resourceVersions are the store's revisions).
	if newer(result.ResourceVersion, w.pod.ResourceVersion) {
		w.pod = result
	}
	w.a.mu.Unlock()
	return nil
}

// status is the pod status the kubelet would report now.
func (w *podWorker) status(pod *corev1.Pod) corev1.PodStatus {
	initStatuses := make([]corev1.ContainerStatus, len(pod.Spec.InitContainers))
	initDone := true
	for i, c := range pod.Spec.InitContainers {
		initStatuses[i] = containerStatus(c, w.record(w.init, c.Name), containerIDPrefix)
		if st := initStatuses[i]; st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			initDone = false
		}
	}
	statuses := make([]corev1.ContainerStatus, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		r := w.record(w.app, c.Name)
		if !initDone && r.id == "" && r.waitingReason == "" {
			r.waitingReason = "PodInitializing"
		}
		statuses[i] = containerStatus(c, r, containerIDPrefix)
		if initDone && r.waitingReason == "PodInitializing" {
			r.waitingReason = ""
		}
	}
	phase := podPhase(&pod.Spec, initStatuses, statuses)
	now := metav1.Now()
	status := corev1.PodStatus{
		Phase:                 phase,
		Conditions:            podConditions(pod, phase, w.sandboxReady, initStatuses, statuses, now),
		InitContainerStatuses: initStatuses,
		ContainerStatuses:     statuses,
		QOSClass:              pod.Status.QOSClass,
		StartTime:             w.startTime,
	}
	if len(w.a.cfg.NodeIPs) > 0 {
		status.HostIP = w.a.cfg.NodeIPs[0].String()
		for _, ip := range w.a.cfg.NodeIPs {
			status.HostIPs = append(status.HostIPs, corev1.HostIP{IP: ip.String()})
		}
	}
	if w.podIP != "" {
		status.PodIP = w.podIP
		status.PodIPs = []corev1.PodIP{{IP: w.podIP}}
	}
	if len(status.InitContainerStatuses) == 0 {
		status.InitContainerStatuses = nil
	}
	if w.failure != nil {
		status.Phase, status.Reason, status.Message = corev1.PodFailed, w.failure.reason, w.failure.message
		status.Conditions = podConditions(pod, corev1.PodFailed, w.sandboxReady, initStatuses, statuses, now)
	}
	return status
}

// terminate stops the containers (SIGTERM, the grace period, SIGKILL), tears the sandbox down and
// confirms the deletion to the API server.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod, removed bool) {
	if w.shim != nil {
		w.stopContainers(ctx, pod, gracePeriod(pod))
		if !removed {
			_ = w.postStatus(ctx, pod)
		}
	}
	if err := w.teardown(ctx, pod); err != nil {
		w.a.logger.Error("pod teardown incomplete", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	if w.cgroupReady {
		// The pod's requests no longer count for its QoS class.
		m, err := cgroups.New(cgroupRoot)
		if err == nil {
			err = w.a.applyQoSCgroups(m)
		}
		if err != nil {
			w.a.logger.Warn("update QoS cgroups", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	}
	if removed {
		return
	}
	err := w.a.client.Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.a.logger.Warn("confirm pod deletion", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

// teardown frees everything the pod holds on the node: the sandbox, the pod directory and its logs.
func (w *podWorker) teardown(ctx context.Context, pod *corev1.Pod) error {
	errs := []error{w.releaseSandbox(ctx, pod)}
	if err := os.RemoveAll(w.dir); err != nil {
		errs = append(errs, err)
	}
	logDirs, _ := filepath.Glob(filepath.Join(w.a.cfg.DataDir, "logs", "*_"+string(pod.UID)))
	for _, dir := range logDirs {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	_ = os.RemoveAll(w.runDir)
	return errors.Join(errs...)
}

// releaseSandbox stops the shim and the pause and frees the containers' root filesystems, the volumes'
// mounts and the pod's network, as the kubelet does once a pod is terminal; status and logs stay.
func (w *podWorker) releaseSandbox(ctx context.Context, pod *corev1.Pod) error {
	var errs []error
	if w.shim == nil {
		if _, err := os.Stat(shim.SocketPath(w.runDir)); err == nil {
			w.shim = shim.NewClient(w.runDir)
		}
	}
	if w.shim != nil {
		if err := w.shim.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop sandbox: %w", err))
		}
		w.shim = nil
	}
	for _, records := range []map[string]*containerRecord{w.init, w.app} {
		for _, r := range records {
			for _, id := range r.ids {
				if err := w.a.snaps.Remove(ctx, id, w.mountNS()); err != nil {
					errs = append(errs, err)
				}
			}
			r.ids = nil
			r.running = false
		}
	}
	if err := w.tearDownVolumes(ctx); err != nil {
		errs = append(errs, err)
	}
	if !pod.Spec.HostNetwork {
		if err := w.a.net.Detach(ctx, string(pod.UID)); err != nil {
			errs = append(errs, err)
		}
		if err := w.a.net.DeleteNetNS(ctx, string(pod.UID)); err != nil {
			errs = append(errs, err)
		}
	}
	w.released = true
	return errors.Join(errs...)
}

// mountNS is the shim's mount namespace as a file, empty before there is a shim. A shim of an earlier peapod,
// which shares the host's, names the host's.
func (w *podWorker) mountNS() string {
	if w.shimPid == 0 {
		return ""
	}
	return fmt.Sprintf("/proc/%d/ns/mnt", w.shimPid)
}

func (w *podWorker) markSynced() {
	select {
	case <-w.synced:
	default:
		close(w.synced)
	}
}

// watchExit wakes the worker when container id exits (or its shim goes away).
func (w *podWorker) watchExit(ctx context.Context, id string) {
	client := w.shim
	go func() {
		_, _ = client.WaitContainer(ctx, id)
		if ctx.Err() == nil {
			w.wake()
		}
	}()
}

// wake makes the worker sync soon.
func (w *podWorker) wake() {
	select {
	case w.updates <- struct{}{}:
	default:
	}
}

// newer reports whether resourceVersion a is later than b.
func newer(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	return errA == nil && (errB != nil || x > y)
}

func newContainerID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

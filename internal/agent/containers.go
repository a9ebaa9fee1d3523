package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/internal/agent/volume"
	"github.com/peapod-dev/peapod/internal/runtime/cgroups"
	"github.com/peapod-dev/peapod/internal/runtime/image"
	"github.com/peapod-dev/peapod/internal/runtime/oci"
	"github.com/peapod-dev/peapod/internal/runtime/shim"
)

// Image pull back-off: the kubelet's 10 s doubling to 300 s. A failed pull shows ErrImagePull until the
// kubelet's next sync of the pod (its worker back-off), then ImagePullBackOff until the retry.
const (
	pullBackoffInitial = 10 * time.Second
	pullBackoffMax     = 300 * time.Second
	errImagePullShown  = 5 * time.Second
)

// startContainer pulls the image, prepares the root filesystem and creates and starts the container,
// recording the kubelet's waiting reasons and events on each failure.
func (w *podWorker) startContainer(ctx context.Context, pod *corev1.Pod, c corev1.Container, r *containerRecord) {
	if w.createContainer(ctx, pod, c, r) {
		w.runContainer(ctx, pod, c, r)
	}
}

// startContainers starts containers in their order: the expensive part (image, root filesystem, the
// runtime's create) runs for all of them at once, then each is started in turn, so that a container's
// process never starts before the one listed before it.
func (w *podWorker) startContainers(ctx context.Context, pod *corev1.Pod, containers []corev1.Container, records []*containerRecord) {
	created := make([]bool, len(containers))
	var wg sync.WaitGroup
	for i := range containers {
		wg.Go(func() { created[i] = w.createContainer(ctx, pod, containers[i], records[i]) })
	}
	wg.Wait()
	for i := range containers {
		if created[i] {
			w.runContainer(ctx, pod, containers[i], records[i])
		}
	}
}

// createContainer readies one container up to the runtime's create; it reports whether the container
// now waits to be started.
func (w *podWorker) createContainer(ctx context.Context, pod *corev1.Pod, c corev1.Container, r *containerRecord) bool {
	if w.inPullBackoff(pod, c, r) {
		return false
	}
	img, ok := w.ensureImage(ctx, pod, c, r)
	if !ok {
		return false
	}
	// Say so rather than pretend: probes and hooks are accepted by the API but not run by this agent yet.
	for field, set := range map[string]bool{
		"livenessProbe": c.LivenessProbe != nil, "readinessProbe": c.ReadinessProbe != nil,
		"startupProbe": c.StartupProbe != nil, "lifecycle": c.Lifecycle != nil,
	} {
		if set && r.restartCount == 0 && r.id == "" {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "NotImplemented", "peapod's node agent does not run %s of container %s yet", field, c.Name)
		}
	}
	id := newContainerID()
	fail := func(reason string, err error) bool {
		r.waitingReason, r.waitingMessage = reason, err.Error()
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return false
	}
	rootfs, err := w.a.snaps.Prepare(ctx, id, img.LayerDirs, w.mountNS())
	if err != nil {
		return fail("CreateContainerError", err)
	}
	r.ids = append(r.ids, id)
	cfg, err := w.containerConfig(ctx, pod, c, img, rootfs, r)
	if err != nil {
		if errors.As(err, new(runtimeSpecError)) {
			return fail("CreateContainerError", err)
		}
		return fail("CreateContainerConfigError", err)
	}
	spec, err := oci.Spec(cfg)
	if err != nil {
		return fail("CreateContainerError", err)
	}
	bundle := filepath.Join(w.runDir, "bundles", id)
	if err := oci.WriteSpec(bundle, spec); err != nil {
		return fail("CreateContainerError", err)
	}
	logPath := w.a.containerLogPath(pod, c.Name, int(r.restartCount))
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fail("CreateContainerError", err)
	}
	r.image, r.imageID = imageName(img, c.Image), imageID(img)
	if err := w.shim.CreateContainer(ctx, id, shim.CreateRequest{Bundle: bundle, LogPath: logPath, Terminal: c.TTY, Stdin: c.Stdin}); err != nil {
		// The OCI runtime's create is where the process is set up (its executable looked up, its mounts
		// made); containerd runs it in the kubelet's StartContainer, so Kubernetes reports its failures as
		// a failed start, not a failed create.
		w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
		w.startFailed(pod, c, r, id, err)
		return false
	}
	r.id, r.exited = id, false
	return true
}

// startFailed records a container whose process could not be started as the kubelet shows one under
// containerd: an instance that terminated with reason StartError and exit code 128, started at the Unix
// epoch (never), reported while a restart is due as waiting RunContainerError with that instance as the
// last state, and a Failed event.
func (w *podWorker) startFailed(pod *corev1.Pod, c corev1.Container, r *containerRecord, id string, err error) {
	w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
	r.id, r.running, r.exited = id, false, true
	r.terminated = &corev1.ContainerStateTerminated{
		ExitCode: startErrorExitCode, Reason: "StartError", Message: err.Error(),
		StartedAt: metav1.NewTime(time.Unix(0, 0)), FinishedAt: metav1.Now(), ContainerID: containerIDPrefix + id,
	}
	r.waitingReason, r.waitingMessage = "", ""
	if restartWanted(pod.Spec.RestartPolicy, startErrorExitCode) {
		r.waitingReason, r.waitingMessage = "RunContainerError", err.Error()
	}
}

// startErrorExitCode is containerd's exit code for a process that failed to start.
const startErrorExitCode = 128

// runContainer starts a created container.
func (w *podWorker) runContainer(ctx context.Context, pod *corev1.Pod, c corev1.Container, r *containerRecord) {
	w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if err := w.shim.StartContainer(ctx, r.id); err != nil {
		w.startFailed(pod, c, r, r.id, err)
		return
	}
	r.waitingReason, r.waitingMessage = "", ""
	r.running, r.startedAt = true, metav1.Now()
	w.watchExit(ctx, r.id)
	w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
}

// inPullBackoff reports whether the container's image pull waits out its back-off, turning ErrImagePull
// into ImagePullBackOff once the kubelet would have shown it.
func (w *podWorker) inPullBackoff(pod *corev1.Pod, c corev1.Container, r *containerRecord) bool {
	w.backoffMu.Lock()
	until, ok := w.backoff[c.Name]
	delay := w.backoffDelay[c.Name]
	w.backoffMu.Unlock()
	if !ok || !time.Now().Before(until) {
		return false
	}
	if r.waitingReason == "ErrImagePull" && time.Since(until.Add(-delay)) >= errImagePullShown {
		r.waitingReason = "ImagePullBackOff"
		r.waitingMessage = fmt.Sprintf("Back-off pulling image %q", c.Image)
		w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
	}
	return true
}

// ensureImage applies the pull policy, with the kubelet's events and waiting reasons.
func (w *podWorker) ensureImage(ctx context.Context, pod *corev1.Pod, c corev1.Container, r *containerRecord) (*image.Image, bool) {
	if _, err := image.ParseReference(c.Image); err != nil {
		r.waitingReason = "InvalidImageName"
		r.waitingMessage = fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: invalid reference format", c.Image, c.Image)
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "InspectFailed", "%s", r.waitingMessage)
		return nil, false
	}
	if c.ImagePullPolicy != corev1.PullAlways {
		img, err := w.a.images.Get(ctx, c.Image)
		if err == nil {
			w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			return img, true
		}
		if !errors.Is(err, image.ErrNotFound) {
			r.waitingReason, r.waitingMessage = "ErrImagePull", err.Error()
			return nil, false
		}
		if c.ImagePullPolicy == corev1.PullNever {
			r.waitingReason = "ErrImageNeverPull"
			r.waitingMessage = fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "ErrImageNeverPull", "%s", r.waitingMessage)
			return nil, false
		}
	}
	w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	secrets, err := w.a.pullSecrets(ctx, pod)
	if err != nil {
		w.a.logger.Warn("read imagePullSecrets", "pod", pod.Name, "err", err)
	}
	result, err := w.a.images.Pull(ctx, c.Image, image.PullOptions{PullSecrets: secrets})
	if err != nil {
		r.waitingReason, r.waitingMessage = "ErrImagePull", err.Error()
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, errors.Unwrap(err))
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		w.nextPullBackoff(c.Name)
		return nil, false
	}
	w.backoffMu.Lock()
	delete(w.backoff, c.Name)
	delete(w.backoffDelay, c.Name)
	w.backoffMu.Unlock()
	w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.",
		c.Image, result.Duration.Round(time.Millisecond), result.Total.Round(time.Millisecond), result.Image.Size)
	return result.Image, true
}

func (w *podWorker) nextPullBackoff(name string) {
	w.backoffMu.Lock()
	defer w.backoffMu.Unlock()
	delay := pullBackoffInitial
	if prev, ok := w.backoffDelay[name]; ok {
		delay = min(2*prev, pullBackoffMax)
	}
	w.backoffDelay[name] = delay
	w.backoff[name] = time.Now().Add(delay)
	w.wakeAt(time.Now().Add(errImagePullShown)) // ErrImagePull turns into ImagePullBackOff
	w.wakeAt(w.backoff[name])                   // the next pull
}

func imageName(img *image.Image, fallback string) string {
	if len(img.RepoTags) > 0 {
		return img.RepoTags[0]
	}
	return fallback
}

func imageID(img *image.Image) string {
	if len(img.RepoDigests) > 0 {
		return img.RepoDigests[0]
	}
	return img.ID
}

// pullSecrets reads the pod's imagePullSecrets payloads.
func (a *Agent) pullSecrets(ctx context.Context, pod *corev1.Pod) ([][]byte, error) {
	var out [][]byte
	var errs []error
	for _, ref := range pod.Spec.ImagePullSecrets {
		secret, err := a.client.Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, key := range []string{corev1.DockerConfigJsonKey, corev1.DockerConfigKey} {
			if data, ok := secret.Data[key]; ok {
				out = append(out, data)
			}
		}
	}
	return out, errors.Join(errs...)
}

// containerLogPath is the kubelet's layout: <logs>/<namespace>_<pod>_<uid>/<container>/<restart>.log.
func (a *Agent) containerLogPath(pod *corev1.Pod, container string, restart int) string {
	return filepath.Join(a.cfg.DataDir, "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), container, strconv.Itoa(restart)+".log")
}

// runtimeSpecError is a container config failure that the kubelet never sees itself but containerd
// meets building the runtime spec in CreateContainer (no command at all, an image user missing from the
// image's passwd), so Kubernetes reports it as CreateContainerError rather than CreateContainerConfigError.
type runtimeSpecError struct{ error }

func (e runtimeSpecError) Unwrap() error { return e.error }

// containerConfig translates a v1.Container into the runtime's container configuration.
func (w *podWorker) containerConfig(ctx context.Context, pod *corev1.Pod, c corev1.Container, img *image.Image, rootfs string, r *containerRecord) (*oci.ContainerConfig, error) {
	env, err := w.containerEnv(ctx, pod, c, img.Config.Env)
	if err != nil {
		return nil, err
	}
	lookup := envLookup(env)
	args := containerArgs(c.Command, c.Args, img.Config.Entrypoint, img.Config.Cmd, lookup)
	if len(args) == 0 {
		return nil, runtimeSpecError{errors.New("no command specified")}
	}
	cwd := c.WorkingDir
	if cwd == "" {
		cwd = img.Config.WorkingDir
	}
	user, err := w.containerUser(pod, c, img, rootfs)
	if err != nil {
		return nil, err
	}
	sc := c.SecurityContext
	cfg := &oci.ContainerConfig{
		Args: args, Env: env, Cwd: cwd, User: user, Rootfs: rootfs, Terminal: c.TTY,
		Namespaces:  map[specs.LinuxNamespaceType]string{},
		CgroupsPath: podCgroup(pod) + "/" + c.Name,
		Annotations: map[string]string{
			"io.kubernetes.pod.name": pod.Name, "io.kubernetes.pod.namespace": pod.Namespace,
			"io.kubernetes.pod.uid": string(pod.UID), "io.kubernetes.container.name": c.Name,
		},
	}
	if sc != nil {
		cfg.Privileged = ptr.Deref(sc.Privileged, false)
		cfg.ReadonlyRootfs = ptr.Deref(sc.ReadOnlyRootFilesystem, false)
		if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			cfg.NoNewPrivileges = true
		}
		if sc.Capabilities != nil {
			for _, cap := range sc.Capabilities.Add {
				cfg.CapAdd = append(cfg.CapAdd, string(cap))
			}
			for _, cap := range sc.Capabilities.Drop {
				cfg.CapDrop = append(cfg.CapDrop, string(cap))
			}
		}
	}
	st, err := w.shim.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sandbox: %w", err)
	}
	for kind, path := range st.Sandbox.Namespaces {
		cfg.Namespaces[specs.LinuxNamespaceType(kind)] = path
	}
	if _, shared := cfg.Namespaces[specs.PIDNamespace]; !shared && !pod.Spec.HostPID {
		cfg.Namespaces[specs.PIDNamespace] = "" // a PID namespace of its own
	}
	if !pod.Spec.HostIPC {
		cfg.ShmPath = st.Sandbox.ShmPath
	}
	cfg.Resources = containerResources(c)
	mounts, err := w.containerMounts(pod, c, r)
	if err != nil {
		return nil, err
	}
	cfg.Mounts = mounts
	return cfg, nil
}

// podCgroup is the pod's cgroup under its QoS class's, as the kubelet lays them out (kubepods/pod<uid>
// for Guaranteed, kubepods/burstable/pod<uid>, kubepods/besteffort/pod<uid>), under peapod's root.
func podCgroup(pod *corev1.Pod) string {
	switch pod.Status.QOSClass {
	case corev1.PodQOSGuaranteed:
		return nodeCgroup + "/pod" + string(pod.UID)
	case corev1.PodQOSBurstable:
		return nodeCgroup + "/burstable/pod" + string(pod.UID)
	default:
		return nodeCgroup + "/besteffort/pod" + string(pod.UID)
	}
}

// nodeCgroup holds every pod's cgroup (the kubelet's kubepods).
const nodeCgroup = "/peapod"

// The kubelet's CFS conversions: 1024 shares per core (2 to 262144), a quota per 100 ms period of at
// least 1 ms.
const (
	minShares      = 2
	maxShares      = 262144
	sharesPerCPU   = 1024
	cfsPeriod      = 100000
	minCFSQuota    = 1000
	milliCPUPerCPU = 1000
)

func milliCPUToShares(milliCPU int64) uint64 {
	return uint64(min(maxShares, max(minShares, milliCPU*sharesPerCPU/milliCPUPerCPU)))
}

func milliCPUToQuota(milliCPU int64) int64 {
	return max(minCFSQuota, milliCPU*cfsPeriod/milliCPUPerCPU)
}

// podCgroupResources are the pod cgroup's limits as the kubelet's ResourceConfigForPod computes them from
// the pod's effective requests and limits (app containers summed, each init container's own value when
// larger, overhead added): cpu shares from the cpu requests (2 for BestEffort); a cpu quota only when
// every container has a cpu limit and a memory limit only when every container has a memory limit
// (always for Guaranteed); and the node's pod pids limit (podMaxPids, none when not positive).
func podCgroupResources(pod *corev1.Pod, podMaxPids int64) cgroups.Resources {
	// Pod-level spec.resources are rejected at admission (the kubelet's PodLevelResources gate is off in 1.33).
	opts := resourcehelper.PodResourcesOptions{SkipPodLevelResources: true}
	requests := resourcehelper.PodRequests(pod, opts)
	cpuLimited, memoryLimited := true, true
	opts.ContainerFn = func(limits corev1.ResourceList, _ resourcehelper.ContainerType) {
		cpuLimited = cpuLimited && !limits.Cpu().IsZero()
		memoryLimited = memoryLimited && !limits.Memory().IsZero()
	}
	limits := resourcehelper.PodLimits(pod, opts)
	r := cgroups.Resources{CPUShares: minShares}
	if podMaxPids > 0 {
		r.PidsLimit = podMaxPids
	}
	qos := pod.Status.QOSClass
	if qos == corev1.PodQOSBestEffort || qos == "" {
		return r
	}
	r.CPUShares = milliCPUToShares(requests.Cpu().MilliValue())
	if cpuLimited || qos == corev1.PodQOSGuaranteed {
		r.CPUQuota, r.CPUPeriod = milliCPUToQuota(limits.Cpu().MilliValue()), cfsPeriod
	}
	if memoryLimited || qos == corev1.PodQOSGuaranteed {
		r.MemoryLimit = limits.Memory().Value()
	}
	return r
}

// containerResources maps requests and limits to cgroup settings as the kubelet does: cpu shares from the
// cpu request (1024 per core, at least 2), a CFS quota over a 100 ms period from the cpu limit, the memory
// limit in bytes.
func containerResources(c corev1.Container) oci.Resources {
	var r oci.Resources
	if cpu, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CPUShares = milliCPUToShares(cpu.MilliValue())
	} else if cpu, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPUShares = milliCPUToShares(cpu.MilliValue()) // the request defaults to the limit
	} else {
		r.CPUShares = minShares
	}
	if cpu, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPUPeriod = cfsPeriod
		r.CPUQuota = milliCPUToQuota(cpu.MilliValue())
	}
	if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimit = mem.Value()
	}
	return r
}

// containerUser is the process identity: runAsUser/runAsGroup (container over pod) over the image's USER,
// plus the pod's supplementalGroups.
func (w *podWorker) containerUser(pod *corev1.Pod, c corev1.Container, img *image.Image, rootfs string) (oci.User, error) {
	// The root filesystem is mounted in the shim's mount namespace only; /proc/<shim>/root reaches into it.
	if w.shimPid != 0 {
		rootfs = fmt.Sprintf("/proc/%d/root%s", w.shimPid, rootfs)
	}
	user, err := oci.ResolveUser(rootfs, img.Config.User)
	if err != nil {
		return oci.User{}, runtimeSpecError{fmt.Errorf("resolve image user %q: %w", img.Config.User, err)}
	}
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if uid := ptr.Deref(sc.RunAsUser, ptr.Deref(psc.RunAsUser, -1)); uid >= 0 {
		byID, err := oci.ResolveUser(rootfs, strconv.FormatInt(uid, 10))
		if err != nil {
			return oci.User{}, err
		}
		user = byID
	}
	if gid := ptr.Deref(sc.RunAsGroup, ptr.Deref(psc.RunAsGroup, -1)); gid >= 0 {
		user.GID = uint32(gid)
	}
	if nonRoot := ptr.Deref(sc.RunAsNonRoot, ptr.Deref(psc.RunAsNonRoot, false)); nonRoot && user.UID == 0 {
		return oci.User{}, fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
	}
	for _, g := range psc.SupplementalGroups {
		user.AdditionalGids = append(user.AdditionalGids, uint32(g))
	}
	return user, nil
}

// containerEnv is the image's environment overridden by envFrom then env, in order, each value expanded
// against the variables defined before it, as the kubelet builds it.
func (w *podWorker) containerEnv(ctx context.Context, pod *corev1.Pod, c corev1.Container, imageEnv []string) ([]string, error) {
	values := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			order = append(order, k)
		}
		values[k] = v
	}
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := w.a.client.ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if ptr.Deref(from.ConfigMapRef.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			data = cm.Data
		case from.SecretRef != nil:
			secret, err := w.a.client.Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if ptr.Deref(from.SecretRef.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			data = map[string]string{}
			for k, v := range secret.Data {
				data[k] = string(v)
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, func(k string) (string, bool) { v, ok := values[k]; return v, ok }))
			continue
		}
		v, err := w.envValueFrom(ctx, pod, c, e.ValueFrom)
		if err != nil {
			return nil, err
		}
		set(e.Name, v)
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+values[k])
	}
	return env, nil
}

func envLookup(env []string) func(string) (string, bool) {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func (w *podWorker) envValueFrom(ctx context.Context, pod *corev1.Pod, c corev1.Container, from *corev1.EnvVarSource) (string, error) {
	switch {
	case from.FieldRef != nil:
		return volume.FieldValue(w.withRuntimeStatus(pod), from.FieldRef.FieldPath)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := w.a.client.ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if ptr.Deref(ref.Optional, false) {
				return "", nil
			}
			return "", fmt.Errorf("configmap %q not found", ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok && !ptr.Deref(ref.Optional, false) {
			return "", fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		secret, err := w.a.client.Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if ptr.Deref(ref.Optional, false) {
				return "", nil
			}
			return "", fmt.Errorf("secret %q not found", ref.Name)
		}
		v, ok := secret.Data[ref.Key]
		if !ok && !ptr.Deref(ref.Optional, false) {
			return "", fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), nil
	case from.ResourceFieldRef != nil:
		containerName := from.ResourceFieldRef.ContainerName
		if containerName == "" {
			containerName = c.Name
		}
		return volume.ResourceValue(pod, from.ResourceFieldRef, containerName, w.a.nodeObject(metav1.Now()).Status.Allocatable)
	}
	return "", fmt.Errorf("env value source not supported")
}

// withRuntimeStatus is pod with the addresses this worker knows before it posts them, for the downward API.
func (w *podWorker) withRuntimeStatus(pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	if w.podIP != "" {
		p.Status.PodIP, p.Status.PodIPs = w.podIP, []corev1.PodIP{{IP: w.podIP}}
	}
	p.Status.HostIP, p.Status.HostIPs = "", nil
	for i, ip := range w.a.cfg.NodeIPs {
		if i == 0 {
			p.Status.HostIP = ip.String()
		}
		p.Status.HostIPs = append(p.Status.HostIPs, corev1.HostIP{IP: ip.String()})
	}
	return p
}

// containerMounts are the pod's /etc files, the termination log and the container's volumeMounts.
func (w *podWorker) containerMounts(pod *corev1.Pod, c corev1.Container, r *containerRecord) ([]oci.Mount, error) {
	mounts := []oci.Mount{
		{Destination: "/etc/hosts", Source: filepath.Join(w.dir, "etc-hosts")},
		{Destination: "/etc/resolv.conf", Source: filepath.Join(w.dir, "resolv.conf")},
	}
	if !pod.Spec.HostNetwork {
		mounts = append(mounts, oci.Mount{Destination: "/etc/hostname", Source: filepath.Join(w.dir, "etc-hostname")})
	}
	if c.TerminationMessagePath != "" {
		dir := filepath.Join(w.dir, "containers", c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		file := filepath.Join(dir, fmt.Sprintf("termination-log-%d", r.restartCount))
		if err := os.WriteFile(file, nil, 0o666); err != nil {
			return nil, err
		}
		r.terminationMessagePath = file
		mounts = append(mounts, oci.Mount{Destination: c.TerminationMessagePath, Source: file})
	}
	for _, vm := range c.VolumeMounts {
		source, ok := w.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		if vm.SubPath != "" {
			sub, err := resolveSubPath(source, vm.SubPath)
			if err != nil {
				// The kubelet's message, which keeps the host's paths from the pod's status.
				w.a.logger.Warn("prepare subPath", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "volumeMount", vm.Name, "err", err)
				return nil, fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", vm.Name, c.Name)
			}
			source = sub
		}
		// A pod's mounts live in its shim's private mount namespace, so nothing the host mounts later could
		// reach the container: say so rather than pretend (peapod's API server refuses the field already).
		if p := vm.MountPropagation; p != nil && *p != corev1.MountPropagationNone {
			return nil, fmt.Errorf("volumeMount %q of container %q: mountPropagation %s is not supported by peapod's node agent (mounts are private)", vm.Name, c.Name, *p)
		}
		mounts = append(mounts, oci.Mount{Destination: vm.MountPath, Source: source, Readonly: vm.ReadOnly, Recursive: true})
	}
	return mounts, nil
}

// resolveSubPath is the host path of subPath inside the volume at dir, made as a directory when missing,
// with every symbolic link resolved inside the volume: a link that leads out of it (a pod can write one
// into an emptyDir) is an error rather than a way to mount any host path into the container.
func resolveSubPath(dir, subPath string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	rel := filepath.Clean(subPath)
	if _, err := root.Lstat(rel); errors.Is(err, os.ErrNotExist) {
		if err := root.MkdirAll(rel, 0o755); err != nil {
			return "", fmt.Errorf("create subPath %s: %w", subPath, err)
		}
	}
	// Not O_PATH, with which the root opens a final link itself instead of following it; O_NONBLOCK so
	// that a FIFO does not block the open.
	f, err := root.OpenFile(rel, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	resolved, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return "", fmt.Errorf("resolve subPath %s: %w", subPath, err)
	}
	return resolved, nil
}

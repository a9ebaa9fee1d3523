// Package agent is peapod's node agent, in the kubelet's role: it registers the Node and renews its
// Lease, runs one worker per pod bound to the node that turns the v1.Pod into a sandbox and containers of
// internal/runtime (image pulls, overlay root filesystems, the pod network, the per-pod shim and the OCI
// runtime), and reports pod status and events with the kubelet's reasons and messages. It talks to the API
// server only through client-go, so it can join any Kubernetes-compatible API server.
package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/peapod-dev/peapod/internal/events"
	"github.com/peapod-dev/peapod/internal/kube"
	"github.com/peapod-dev/peapod/internal/runtime/image"
	"github.com/peapod-dev/peapod/internal/runtime/network"
	"github.com/peapod-dev/peapod/internal/runtime/oci/runc"
	"github.com/peapod-dev/peapod/internal/runtime/shim"
	"github.com/peapod-dev/peapod/internal/runtime/snapshot"
)

// Config is a node agent's configuration.
type Config struct {
	// NodeName is the Node's name (the host name by default).
	NodeName string
	// NodeIPs are the node's addresses (InternalIP), the pods' hostIP.
	NodeIPs []netip.Addr
	// DataDir holds images, snapshots, pod directories and logs (<data-dir>/agent).
	DataDir string
	// RunDir holds the shims' sockets and the runtime's state; its paths must stay short. An empty RunDir on a
	// disk file system gets a tmpfs mounted on it (see ensureTmpfs).
	RunDir string
	// MaxPods is the node's pod capacity.
	MaxPods int
	// PodMaxPids is the most processes a pod's cgroup may hold (the kubelet's --pod-max-pids); zero or
	// negative leaves it unlimited.
	PodMaxPids int64
	// SystemReserved and KubeReserved are taken off the node's capacity to give its allocatable (the
	// kubelet's --system-reserved and --kube-reserved): cpu, memory, ephemeral-storage and pid.
	SystemReserved, KubeReserved corev1.ResourceList
	// Port is the agent's HTTPS port (the kubelet's 10250), published in the Node's daemonEndpoints.
	Port int
	// Runtime is the OCI runtime binary: runc or crun, or a path.
	Runtime string
	// Network configures the pod network.
	Network network.Config
	// InsecureRegistries may be pulled from over plain HTTP.
	InsecureRegistries []string
	// ServingTLS is the node endpoint's TLS (serving certificate, client CA); nil serves no endpoint.
	ServingTLS *tls.Config
	// MaxContainerRestartPeriod caps the CrashLoopBackOff delay, as the kubelet's
	// crashLoopBackOff.maxContainerRestartPeriod does: 1 s to 300 s, 300 s when unset.
	MaxContainerRestartPeriod time.Duration
	Logger                    *slog.Logger
}

// Agent is a running node agent.
type Agent struct {
	cfg      Config
	client   kube.Interface
	logger   *slog.Logger
	facts    nodeFacts
	started  metav1.Time
	images   *image.Store
	snaps    *snapshot.Snapshotter
	net      *network.Network
	shimBin  string
	runtime  string // resolved runtime binary
	recorder record.EventRecorder

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

// WithDefaults fills in what cfg leaves unset: the host name as node name, the first global IPv4 address as
// node IP, 110 pods, runc, port 10250, run directory /run/peapod, a restart back-off capped at 300 s. It
// rejects a back-off cap outside the kubelet's range.
func WithDefaults(cfg Config) (Config, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NodeName == "" {
		host, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("node name: %w", err)
		}
		cfg.NodeName = strings.ToLower(host)
	}
	if len(cfg.NodeIPs) == 0 {
		cfg.NodeIPs = defaultNodeIPs()
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = 110
	}
	if cfg.Runtime == "" {
		cfg.Runtime = "runc"
	}
	if cfg.Port == 0 {
		cfg.Port = 10250
	}
	if cfg.RunDir == "" {
		cfg.RunDir = "/run/peapod"
	}
	if cfg.MaxContainerRestartPeriod == 0 {
		cfg.MaxContainerRestartPeriod = crashBackoffMax
	}
	if cfg.MaxContainerRestartPeriod < time.Second || cfg.MaxContainerRestartPeriod > crashBackoffMax {
		// The kubelet's own validation message, so that a wrong value reads the same on both.
		return cfg, fmt.Errorf("invalid configuration: CrashLoopBackOff.MaxContainerRestartPeriod (got: %v seconds) must be set between 1s and 300s",
			cfg.MaxContainerRestartPeriod.Seconds())
	}
	return cfg, nil
}

// New prepares an agent: it opens the image store, sets up the node network and reads the machine.
func New(ctx context.Context, cfg Config, client kube.Interface) (*Agent, error) {
	cfg, err := WithDefaults(cfg)
	if err != nil {
		return nil, err
	}
	runtimeBin, err := exec.LookPath(cfg.Runtime)
	if err != nil {
		return nil, fmt.Errorf("OCI runtime %q: %w", cfg.Runtime, err)
	}
	if filepath.Base(runtimeBin) == "crun" {
		// crun refuses a hybrid cgroup host until every controller has a hierarchy it can see.
		if err := runc.PrepareHybridCgroups("/sys/fs/cgroup"); err != nil {
			return nil, err
		}
	}
	shimBin, err := shim.FindBinary()
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{cfg.DataDir, cfg.RunDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("agent directory: %w", err)
		}
	}
	mounted, err := ensureTmpfs(cfg.RunDir)
	if err != nil {
		return nil, err
	}
	if mounted {
		cfg.Logger.Info("mounted a tmpfs on the run directory, which was on a disk file system", "dir", cfg.RunDir)
	}
	snaps, err := snapshot.New(filepath.Join(cfg.DataDir, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	images, err := image.Open(filepath.Join(cfg.DataDir, "content"),
		image.Options{InsecureRegistries: cfg.InsecureRegistries, LayersInUse: snaps.LowerDirsInUse})
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if cfg.Network.StateDir == "" {
		cfg.Network.StateDir = filepath.Join(cfg.DataDir, "network")
	}
	if len(cfg.Network.NodeIPs) == 0 {
		cfg.Network.NodeIPs = cfg.NodeIPs
	}
	nw, err := network.New(cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	if err := nw.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	cfg.Network = nw.Config()
	facts, err := readNodeFacts(cfg.DataDir, runtimeVersion(runtimeBin))
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, client: client, logger: cfg.Logger, facts: facts, started: metav1.Now(),
		images: images, snaps: snaps, net: nw, shimBin: shimBin, runtime: runtimeBin,
		workers: map[types.UID]*podWorker{},
	}
	// The air-gapped path: archives dropped into <data-dir>/agent/images are imported at start.
	archives := filepath.Join(cfg.DataDir, "images")
	if err := os.MkdirAll(archives, 0o755); err != nil {
		return nil, fmt.Errorf("image archive folder: %w", err)
	}
	if imported, err := images.ImportDir(ctx, archives); err != nil {
		a.logger.Warn("import image archives", "dir", archives, "err", err)
	} else if len(imported) > 0 {
		a.logger.Info("imported image archives", "dir", archives, "images", len(imported))
	}
	return a, nil
}

// runtimeVersion is the Node's containerRuntimeVersion: "runc://1.1.5".
func runtimeVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	name := filepath.Base(bin)
	if err != nil {
		return name + "://unknown"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	fields := strings.Fields(first)
	return name + "://" + strings.TrimSuffix(fields[len(fields)-1], "+ds1")
}

// Config returns the agent's effective configuration.
func (a *Agent) Config() Config { return a.cfg }

// Run registers the node and runs pods until ctx ends. Pods keep running after Run returns: a restarted
// agent takes them over.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	recorder, stopEvents, err := events.NewRecorder(ctx, a.client, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName}, a.logger)
	if err != nil {
		return err
	}
	defer stopEvents()
	a.recorder = recorder
	go a.heartbeat(ctx)
	if err := a.serveNodeAPI(ctx); err != nil {
		return fmt.Errorf("node endpoint on port %d: %w", a.cfg.Port, err)
	}

	selector := fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
	pods := a.client.Pods("")
	informer := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return pods.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return pods.Watch(ctx, opts)
		},
	}, &corev1.Pod{}, 0, cache.Indexers{})
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.dispatch(ctx, obj, false) },
		UpdateFunc: func(_, obj any) { a.dispatch(ctx, obj, false) },
		DeleteFunc: func(obj any) { a.dispatch(ctx, obj, true) },
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	started := time.Now()
	go informer.RunWithContext(ctx)
	if cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		live := map[types.UID]bool{}
		for _, obj := range informer.GetStore().List() {
			if pod, ok := obj.(*corev1.Pod); ok {
				live[pod.UID] = true
			}
		}
		a.cleanUpOrphans(ctx, live)
		go a.reportTakeover(ctx, started, live)
	}
	<-ctx.Done()
	a.wg.Wait()
	return nil
}

// reportTakeover logs, once every pod the agent found at start has been synced, how long taking them
// over took (for a restarted agent: re-adopting its running pods).
func (a *Agent) reportTakeover(ctx context.Context, started time.Time, pods map[types.UID]bool) {
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	// A pod deleted meanwhile never reports; the log line is then skipped.
	giveUp := time.After(2 * time.Minute)
	for {
		done := 0
		a.mu.Lock()
		for uid := range pods {
			if w, ok := a.workers[uid]; ok {
				select {
				case <-w.synced:
					done++
				default:
				}
			}
		}
		a.mu.Unlock()
		if done == len(pods) {
			a.logger.Info("pods taken over", "pods", len(pods), "took", time.Since(started).Round(time.Millisecond).String())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-giveUp:
			return
		case <-ticker.C:
		}
	}
}

// dispatch hands a pod change to its worker, starting one for a new pod.
func (a *Agent) dispatch(ctx context.Context, obj any, removed bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.workers[pod.UID]
	if !ok {
		if removed {
			return
		}
		w = newPodWorker(a, pod)
		a.workers[pod.UID] = w
		a.wg.Go(func() {
			w.run(ctx)
			a.mu.Lock()
			delete(a.workers, pod.UID)
			a.mu.Unlock()
		})
	}
	w.update(pod, removed)
}

func netInterfaceAddrs() ([]netip.Addr, error) {
	ifaces, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range ifaces {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}

// ensureTmpfs mounts a tmpfs on the run directory dir when it is on a disk file system and empty, and reports
// whether it did. The run directory's state (shims' and runc's state files, rewritten by rename at every
// container change, and bundles) means nothing after a reboot, as /run, a tmpfs on systemd hosts, is
// meant for. On a disk it costs: on ext4 without a journal every new inode skips those freed in the last 30 s,
// a twelfth of a 100-pod burst's CPU. A directory in use (shims of an earlier agent) is left as it is. The
// tmpfs stays when peapod exits, like /run itself.
func ensureTmpfs(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("run directory: %w", err)
	}
	if st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
		return false, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("run directory: %w", err)
	}
	if len(entries) > 0 {
		return false, nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		return false, fmt.Errorf("run directory: mount a tmpfs on %s: %w", dir, err)
	}
	return true, nil
}

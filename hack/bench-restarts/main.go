// Command bench-restarts measures issue 4's restart targets on a real `peapod server` (node agent, runc,
// a local registry) whose back-off is capped at 1 s (--max-container-restart-period 1s):
//
//   - restart latency: a container that exits 1 at once is restarted again and again; for each restart, the
//     time from the back-off's end (the shim's exit time + the back-off) to the new instance's first output,
//     split into the agent's own work and the OCI runtime's create and start;
//   - leaks: pods crash-looping until 1,000 restarts, with the server's goroutines, open files and RSS, the
//     host's processes, mounts and the pods' cgroups, snapshots and bundles sampled after a warm-up, halfway
//     and at the end (growth in both halves is a leak; growth in one is noise), and again once the pods are
//     deleted.
//
// Needs root.
//
//	go run ./hack/bench-restarts -markdown
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/hack/internal/benchnode"
	"github.com/peapod-dev/peapod/internal/runtime/shim"
)

// nodeNetwork is the node network the benchmark's server runs on.
func nodeNetwork() benchnode.Network {
	return benchnode.Network{Bridge: bridge, NFTable: nftTable, ClusterCIDR: clusterCIDR, PodCIDR: podCIDR, RunDir: runDir}
}

// The benchmark's own node network and directories, apart from peapod's defaults, bench-pods' and the e2e tests'.
const (
	bridge      = "ppbrst0"
	nftTable    = "peapod-brst"
	clusterCIDR = "10.244.212.0/22"
	podCIDR     = "10.244.212.0/24"
	runDir      = "/run/pbrst"
	namespace   = "bench"
	// backoffCap is the server's --max-container-restart-period: every restart after the first waits 1 s.
	backoffCap = time.Second
	// crashCommand writes a line when the container starts and one just before it exits 1; the shim stamps
	// each line with its time (nanoseconds, CRI log format) as it reads it.
	crashCommand = "echo start; echo exit; exit 1"
)

type options struct {
	bin, runtime string
	latency      int
	pods         int
	restarts     int
	warmup       int
	loopTimeout  time.Duration
	markdown     bool
	keepLog      string
	heapProfile  string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "peapod", "", "directory with peapod and peapod-shim (default: go build them)")
	flag.StringVar(&o.runtime, "runtime", "runc", "OCI runtime: runc or crun")
	flag.IntVar(&o.latency, "latency-restarts", 25, "restarts of one container timed for the latency figures")
	flag.IntVar(&o.pods, "pods", 10, "pods crash-looping at once for the leak check")
	flag.IntVar(&o.restarts, "restarts", 1000, "restarts (sum over the pods) after the warm-up for the leak check")
	flag.IntVar(&o.warmup, "warmup", 50, "restarts before the first leak sample")
	flag.DurationVar(&o.loopTimeout, "loop-timeout", 10*time.Minute, "fail when the leak check's restarts take longer")
	flag.BoolVar(&o.markdown, "markdown", false, "print Markdown tables")
	flag.StringVar(&o.keepLog, "server-log", "", "copy the server's log to this file at the end")
	flag.StringVar(&o.heapProfile, "heap-profile", "", "write the server's heap profile (after a GC) at the leak check's end to this file")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), o.loopTimeout+10*time.Minute)
	defer cancel()
	err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-restarts:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	if o.latency < 2 || o.pods < 1 || o.restarts < 2 {
		return errors.New("-latency-restarts must be at least 2, -pods and -restarts at least 1 and 2")
	}
	work, err := os.MkdirTemp("", "peapod-bench-restarts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.keepLog != "" {
		defer func() {
			if data, err := os.ReadFile(filepath.Join(work, "server.log")); err == nil {
				_ = os.WriteFile(o.keepLog, data, 0o600)
			}
		}()
	}
	if o.bin == "" {
		o.bin = filepath.Join(work, "bin")
		if err := benchnode.Build(ctx, o.bin); err != nil {
			return err
		}
	}
	ref, stopRegistry, err := benchnode.PushBusybox(ctx)
	if err != nil {
		return err
	}
	defer stopRegistry()

	node, err := benchnode.Start(ctx, o.bin, o.runtime, work, nodeNetwork(), "--max-container-restart-period", backoffCap.String())
	if err != nil {
		return err
	}
	srv := &server{node}
	// Whatever happens: pods gone, server stopped, node network removed, host checked for what is left.
	defer func() {
		if cerr := srv.cleanUp(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if _, err := srv.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}

	idle, err := srv.sampleSteady(ctx)
	if err != nil {
		return err
	}
	immediate, timed, err := srv.latency(ctx, ref, o.latency)
	if err != nil {
		return fmt.Errorf("restart latency: %w", err)
	}
	printLatency(immediate, timed, o)
	leak, err := srv.leakCheck(ctx, ref, o)
	if err != nil {
		return fmt.Errorf("leak check: %w", err)
	}
	leak.idle = idle
	printLeak(leak, o)
	return nil
}

// crashPod is a pod whose one container exits 1 at once, restarted under restartPolicy Always.
func crashPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			RestartPolicy:                 corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name: "crash", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", crashCommand},
			}},
		},
	}
}

// instance is what is known of one run of the container: from the shim (times of its create, start and exit),
// from its bundle (when the agent wrote the spec, just before asking for the create) and from its log.
type instance struct {
	specWritten, created, started, finished time.Time
	firstLine, lastLine                     time.Time
}

// restart is one restart's timeline, each part from the end of the previous one.
type restart struct {
	total      time.Duration // back-off end to the new instance's first output
	agent      time.Duration // back-off end to the spec written: wake-up, new rootfs, spec (the old instance is freed after the start)
	create     time.Duration // spec written to the shim's create done: runc create
	between    time.Duration // create done to start asked: the agent between the two calls
	start      time.Duration // start asked to the first output: runc start and the exec of the command
	exitToSeen time.Duration // the container's last line to the shim's reaping of its exit
}

// latency restarts one crash-looping container until n restarts have waited the back-off, collecting every
// instance from the shim while it waits out its back-off (the agent deletes it only at the next restart),
// then reads the logs. The first restart is immediate and its instance gone from the shim at once: it is
// timed from the logs alone, the first instance's last output to the second's first.
func (s *server) latency(ctx context.Context, image string, n int) (immediate time.Duration, timed []restart, err error) {
	pods := s.Client.CoreV1().Pods(namespace)
	pod, err := pods.Create(ctx, crashPod("latency", image), metav1.CreateOptions{})
	if err != nil {
		return 0, nil, err
	}
	podRun := filepath.Join(runDir, "pods", string(pod.UID))
	client := shim.NewClient(podRun)
	byLog := map[string]instance{} // by log path: one log file per restart
	seen := func(i int) bool {
		in := byLog[logPath(s.DataDir, pod, i)]
		return !in.finished.IsZero() && !in.specWritten.IsZero() && !in.firstLine.IsZero()
	}
	var firstExit time.Time // the first instance's last output
	complete := func() bool {
		if firstExit.IsZero() {
			return false
		}
		for i := 1; i <= n+1; i++ {
			if !seen(i) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(time.Duration(n+5) * 5 * time.Second); !complete(); {
		if time.Now().After(deadline) {
			return 0, nil, fmt.Errorf("%d restarts not seen within %d s", n, (n+5)*5)
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if firstExit.IsZero() {
			// Kept until the second restart removes it (the agent keeps only the previous log).
			if _, last, err := logTimes(logPath(s.DataDir, pod, 0)); err == nil {
				firstExit = last
			}
		}
		st, err := client.State(ctx)
		if err != nil {
			continue // between a sandbox's start and its socket, or a transient error: try again
		}
		for _, c := range st.Containers {
			in := byLog[c.LogPath]
			in.created, in.started, in.finished = c.Created, c.Started, c.Finished
			if fi, err := os.Stat(filepath.Join(podRun, "bundles", c.ID, "config.json")); err == nil {
				in.specWritten = fi.ModTime()
			}
			// Read now: the agent keeps only the previous instance's log.
			if !in.finished.IsZero() && in.firstLine.IsZero() {
				if in.firstLine, in.lastLine, err = logTimes(c.LogPath); err != nil {
					return 0, nil, err
				}
			}
			byLog[c.LogPath] = in
		}
	}
	var prev instance
	for i := 0; i <= n+1; i++ {
		in := byLog[logPath(s.DataDir, pod, i)]
		switch {
		case i == 1:
			immediate = in.firstLine.Sub(firstExit)
		case i >= 2:
			// Every later one waits the capped back-off from the shim's exit time, which the agent counts from.
			timed = append(timed, timeline(prev, in, backoffCap))
		}
		prev = in
	}
	if err := deletePods(ctx, s.Client, []string{"latency"}); err != nil {
		return 0, nil, err
	}
	return immediate, timed, nil
}

// timeline is the restart from instance prev to next after the given back-off.
func timeline(prev, next instance, backoff time.Duration) restart {
	end := prev.finished.Add(backoff)
	return restart{
		total:      next.firstLine.Sub(end),
		agent:      next.specWritten.Sub(end),
		create:     next.created.Sub(next.specWritten),
		between:    next.started.Sub(next.created),
		start:      next.firstLine.Sub(next.started),
		exitToSeen: prev.finished.Sub(prev.lastLine),
	}
}

// logPath is the agent's log file of a container's restart-th instance (the kubelet's layout).
func logPath(dataDir string, pod *corev1.Pod, restart int) string {
	return filepath.Join(dataDir, "agent", "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), "crash", strconv.Itoa(restart)+".log")
}

// logTimes reads the shim's timestamps of the "start" and "exit" lines of a CRI log file.
func logTimes(path string) (first, last time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return first, last, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 4)
		if len(fields) < 4 {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, fields[0])
		if err != nil {
			return first, last, fmt.Errorf("%s: %w", path, err)
		}
		switch fields[3] {
		case "start":
			first = t
		case "exit":
			last = t
		}
	}
	if first.IsZero() || last.IsZero() {
		return first, last, fmt.Errorf("%s: no start and exit lines", path)
	}
	return first, last, sc.Err()
}

func printLatency(immediate time.Duration, rest []restart, o options) {
	part := func(f func(restart) time.Duration) (p50, p99, maxd time.Duration) {
		ds := make([]time.Duration, len(rest))
		for i, r := range rest {
			ds[i] = f(r)
		}
		slices.Sort(ds)
		return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)], ds[len(ds)-1]
	}
	p50, p99, maxd := part(func(r restart) time.Duration { return r.total })
	rows := [][]string{
		{fmt.Sprintf("restart begins after the back-off, p50 (%d restarts, %s, back-off 1 s)", len(rest), o.runtime), ms(p50), "<= 100 ms"},
		{"  p99", ms(p99), "<= 100 ms"},
		{"  max", ms(maxd), "<= 100 ms"},
	}
	for _, p := range []struct {
		what string
		f    func(restart) time.Duration
	}{
		{"agent: wake-up, new root filesystem and spec (±4 ms: file time)", func(r restart) time.Duration { return r.agent }},
		{"runc create (from the spec written to the shim's create done)", func(r restart) time.Duration { return r.create }},
		{"agent between create and start", func(r restart) time.Duration { return r.between }},
		{"runc start to the container's first output", func(r restart) time.Duration { return r.start }},
		{"(before the back-off) container's last output to its exit reaped by the shim", func(r restart) time.Duration { return r.exitToSeen }},
	} {
		a, b, c := part(p.f)
		rows = append(rows, []string{"  of which " + p.what + ", p50 / p99 / max", ms(a) + " / " + ms(b) + " / " + ms(c), ""})
	}
	rows = append(rows, []string{"first restart (immediate, no back-off): last output to the next instance's first", ms(immediate), ""})
	printTable([]string{"Measure", "Result", "Target"}, rows, o.markdown)
}

// leak is the leak check's samples: idle before any pod, after the warm-up, halfway, at the end and once the
// pods are deleted.
type leak struct {
	idle, warm, half, end, deleted sample
	restartsAt                     [3]int
	took                           time.Duration
}

// leakCheck runs o.pods crash-looping pods until o.restarts restarts after the warm-up, sampling on the way.
func (s *server) leakCheck(ctx context.Context, image string, o options) (leak, error) {
	var l leak
	names := make([]string, o.pods)
	for i := range names {
		names[i] = "loop-" + strconv.Itoa(i)
		if _, err := s.Client.CoreV1().Pods(namespace).Create(ctx, crashPod(names[i], image), metav1.CreateOptions{}); err != nil {
			return l, err
		}
	}
	deadline := time.Now().Add(o.loopTimeout)
	var err error
	var start time.Time
	for i, target := range []int{o.warmup, o.warmup + o.restarts/2, o.warmup + o.restarts} {
		if l.restartsAt[i], err = s.waitRestarts(ctx, target, deadline); err != nil {
			return l, err
		}
		smp, err := s.sampleSteady(ctx)
		if err != nil {
			return l, err
		}
		switch i {
		case 0:
			l.warm, start = smp, time.Now()
		case 1:
			l.half = smp
		case 2:
			l.end, l.took = smp, time.Since(start)
		}
	}
	if o.heapProfile != "" {
		body, err := s.Client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").Param("gc", "1").DoRaw(ctx)
		if err == nil {
			err = os.WriteFile(o.heapProfile, body, 0o600)
		}
		if err != nil {
			return l, fmt.Errorf("heap profile: %w", err)
		}
	}
	if err := deletePods(ctx, s.Client, names); err != nil {
		return l, err
	}
	time.Sleep(2 * time.Second) // the workers' last status writes and the shims' exits
	l.deleted, err = s.sampleSteady(ctx)
	return l, err
}

// waitRestarts waits until the pods' restartCounts add up to n, and returns the sum then.
func (s *server) waitRestarts(ctx context.Context, n int, deadline time.Time) (int, error) {
	for {
		list, err := s.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		sum := 0
		for _, p := range list.Items {
			for _, c := range p.Status.ContainerStatuses {
				sum += int(c.RestartCount)
			}
		}
		if sum >= n {
			return sum, nil
		}
		if time.Now().After(deadline) {
			return sum, fmt.Errorf("%d of %d restarts before the deadline", sum, n)
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sample is one look at the server and the host.
type sample struct {
	goroutines, fds, rssKiB, anonKiB, heapKiB    int
	storeKiB                                     int
	podProcs                                     int
	procs, shims, runcs                          int
	mounts, cgroups, snapshots, bundles, zombies int
	logs                                         int
	revision                                     int
}

// metric is one of a sample's figures for the table. noise is the growth taken as chance for pods pods
// crash-looping on hierarchies cgroup hierarchies: each pod may have a restart in flight (its container's
// process, runc, rootfs mount, cgroups, bundle) at any sample. afterDeletion marks figures that must come
// back to idle once the pods are gone (not RSS: the Go runtime keeps freed memory a while).
type metric struct {
	name          string
	get           func(sample) int
	noise         func(pods, hierarchies int) int
	unit          string
	afterDeletion bool
	info          bool // context for the others, not a resource
}

func metrics() []metric {
	fixed := func(n int) func(int, int) int { return func(int, int) int { return n } }
	perPod := func(n int) func(int, int) int { return func(pods, _ int) int { return n * pods } }
	return []metric{
		{"server goroutines (pprof)", func(s sample) int { return s.goroutines }, fixed(10), "", true, false},
		{"server open fds (/proc/PID/fd)", func(s sample) int { return s.fds }, fixed(5), "", true, false},
		{"server RSS", func(s sample) int { return s.rssKiB }, fixed(4096), "KiB", false, false},
		{"  of which anonymous (RssAnon)", func(s sample) int { return s.anonKiB }, fixed(4096), "KiB", false, false},
		{"  of which the data directory's files mapped (the store's bbolt file)", func(s sample) int { return s.storeKiB }, fixed(4096), "KiB", false, false},
		{"server live heap after a GC (pprof heap?gc=1, HeapAlloc)", func(s sample) int { return s.heapKiB }, fixed(1024), "KiB", false, false},
		{"host processes (/proc/[0-9]*, includes other users')", func(s sample) int { return s.procs }, perPod(2), "", false, false},
		{"  processes of the node: server, shims and below", func(s sample) int { return s.podProcs }, perPod(2), "", true, false},
		{"  peapod-shim processes (shims and pauses)", func(s sample) int { return s.shims }, fixed(0), "", true, false},
		{"  runc processes", func(s sample) int { return s.runcs }, perPod(1), "", true, false},
		{"  zombie processes", func(s sample) int { return s.zombies }, fixed(0), "", true, false},
		{"mounts (/proc/self/mountinfo lines)", func(s sample) int { return s.mounts }, perPod(1), "", true, false},
		{"pod cgroup directories (peapod/**/pod<uid>/...)", func(s sample) int { return s.cgroups }, func(pods, h int) int { return pods * h }, "", true, false},
		{"container snapshots (<data>/agent/snapshots)", func(s sample) int { return s.snapshots }, perPod(1), "", true, false},
		{"container bundles (<run>/pods/*/bundles)", func(s sample) int { return s.bundles }, perPod(1), "", true, false},
		{"container log files (<data>/agent/logs)", func(s sample) int { return s.logs }, perPod(1), "", true, false},
		{"store revision (writes so far; the store keeps the last 10,000 events in memory for watches)", func(s sample) int { return s.revision }, fixed(0), "", false, true},
	}
}

// sampleSteady takes five samples 200 ms apart and keeps each figure's smallest: a crash loop always has
// some restart in flight (a runc, a mount, a cgroup), and what a leak adds stays in the minimum.
func (s *server) sampleSteady(ctx context.Context) (sample, error) {
	var best sample
	for i := range 5 {
		if i > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		smp, err := s.sample(ctx)
		if err != nil {
			return best, err
		}
		if i == 0 {
			best = smp
			continue
		}
		best = sample{
			goroutines: min(best.goroutines, smp.goroutines), fds: min(best.fds, smp.fds), rssKiB: min(best.rssKiB, smp.rssKiB),
			anonKiB: min(best.anonKiB, smp.anonKiB), storeKiB: min(best.storeKiB, smp.storeKiB), heapKiB: min(best.heapKiB, smp.heapKiB), podProcs: min(best.podProcs, smp.podProcs),
			procs: min(best.procs, smp.procs), shims: min(best.shims, smp.shims), runcs: min(best.runcs, smp.runcs),
			mounts: min(best.mounts, smp.mounts), cgroups: min(best.cgroups, smp.cgroups),
			snapshots: min(best.snapshots, smp.snapshots), bundles: min(best.bundles, smp.bundles), zombies: min(best.zombies, smp.zombies),
			logs: min(best.logs, smp.logs), revision: max(best.revision, smp.revision),
		}
	}
	return best, nil
}

func (s *server) sample(ctx context.Context) (sample, error) {
	var smp sample
	var err error
	if smp.goroutines, err = s.goroutines(ctx); err != nil {
		return smp, err
	}
	pid := s.Cmd.Process.Pid
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return smp, err
	}
	smp.fds = len(fds)
	if smp.rssKiB, smp.anonKiB, err = benchnode.RSS(pid); err != nil {
		return smp, err
	}
	if smp.storeKiB, err = mappedKiB(pid, s.DataDir); err != nil {
		return smp, err
	}
	if smp.heapKiB, err = s.liveHeap(ctx); err != nil {
		return smp, err
	}
	if err := countProcesses(&smp, pid); err != nil {
		return smp, err
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return smp, err
	}
	smp.mounts = strings.Count(string(mountinfo), "\n")
	smp.cgroups = countCgroups()
	snaps, _ := os.ReadDir(filepath.Join(s.DataDir, "agent", "snapshots"))
	smp.snapshots = len(snaps)
	bundles, _ := filepath.Glob(filepath.Join(runDir, "pods", "*", "bundles", "*"))
	smp.bundles = len(bundles)
	logs, _ := filepath.Glob(filepath.Join(s.DataDir, "agent", "logs", "*", "*", "*.log"))
	smp.logs = len(logs)
	// A list's resourceVersion is the store's current revision.
	list, err := s.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return smp, err
	}
	smp.revision, _ = strconv.Atoi(list.ResourceVersion)
	return smp, nil
}

// goroutines reads the server's goroutine count from its pprof endpoint (first line: "goroutine profile: total N").
func (s *server) goroutines(ctx context.Context) (int, error) {
	body, err := s.Client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/goroutine").Param("debug", "1").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("pprof: %w", err)
	}
	first, _, _ := strings.Cut(string(body), "\n")
	n, err := strconv.Atoi(strings.TrimPrefix(first, "goroutine profile: total "))
	if err != nil {
		return 0, fmt.Errorf("pprof: first line %q: %w", first, err)
	}
	return n, nil
}

// liveHeap is the server's HeapAlloc right after a garbage collection, from its heap profile's statistics.
func (s *server) liveHeap(ctx context.Context) (int, error) {
	body, err := s.Client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").Param("debug", "1").Param("gc", "1").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("pprof heap: %w", err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n / 1024, err
		}
	}
	return 0, errors.New("pprof heap: no HeapAlloc")
}

// countProcesses counts the host's processes, and among them the node's (the server and every process
// below it or below a peapod-shim, which detach from the server), peapod-shim's, runc's and zombies.
func countProcesses(smp *sample, server int) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	parent := map[int]int{}
	node := map[int]bool{server: true}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		smp.procs++
		// pid (comm) state ...: comm may hold spaces, so cut at the last parenthesis.
		open, closing := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
		if open < 0 || closing < open || closing+2 >= len(stat) {
			continue
		}
		comm := string(stat[open+1 : closing])
		pid, _ := strconv.Atoi(e.Name())
		if rest := strings.Fields(string(stat[closing+2:])); len(rest) > 1 {
			parent[pid], _ = strconv.Atoi(rest[1])
		}
		switch {
		case comm == "peapod-shim":
			smp.shims++
			node[pid] = true
		case strings.HasPrefix(comm, "runc"):
			smp.runcs++
		}
		if stat[closing+2] == 'Z' {
			smp.zombies++
		}
	}
	for pid := range parent {
		// Walk up at most 64 levels: a process ends up under the server, a shim or init.
		for p, i := pid, 0; p > 1 && i < 64; p, i = parent[p], i+1 {
			if node[p] {
				smp.podProcs++
				break
			}
		}
	}
	return nil
}

// countCgroups counts the pods' cgroup directories (pod<uid> and below) under peapod's root of every
// hierarchy; the QoS parents (burstable, besteffort) stay once made, as the kubelet's do.
func countCgroups() int {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/peapod")
	n := 0
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.Contains(path[len(root):], "/pod") {
				n++
			}
			return nil
		})
	}
	return n
}

func printLeak(l leak, o options) {
	fmt.Printf("\nLeak check: %d pods crash-looping, back-off 1 s; %d restarts after a warm-up of %d took %s (%.1f restarts/s)\n\n",
		o.pods, l.restartsAt[2]-l.restartsAt[0], l.restartsAt[0], l.took.Round(time.Second), float64(l.restartsAt[2]-l.restartsAt[0])/l.took.Seconds())
	head := []string{"Resource", "idle, no pods", fmt.Sprintf("warm-up (%d restarts)", l.restartsAt[0]),
		fmt.Sprintf("+%d restarts", l.restartsAt[1]-l.restartsAt[0]), fmt.Sprintf("+%d restarts", l.restartsAt[2]-l.restartsAt[0]),
		"growth 1st half / 2nd half", "pods deleted (vs idle)", "verdict"}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/peapod")
	var rows [][]string
	for _, m := range metrics() {
		idle, warm, half, end, del := m.get(l.idle), m.get(l.warm), m.get(l.half), m.get(l.end), m.get(l.deleted)
		noise := m.noise(o.pods, len(hierarchies))
		verdict := "flat"
		switch {
		case m.info:
			verdict = "(context)"
		case half-warm > noise && end-half > noise:
			verdict = "GROWS with restarts"
		case m.afterDeletion && del-idle > m.noise(0, 0):
			verdict = "LEFT after deletion"
		}
		rows = append(rows, []string{m.name, fmtVal(idle, m.unit), fmtVal(warm, m.unit), fmtVal(half, m.unit), fmtVal(end, m.unit),
			fmt.Sprintf("%+d / %+d", half-warm, end-half), fmt.Sprintf("%s (%+d)", fmtVal(del, m.unit), del-idle), verdict})
	}
	printTable(head, rows, o.markdown)
}

func fmtVal(v int, unit string) string {
	if unit == "KiB" {
		return fmt.Sprintf("%.1f MB", float64(v)/1024)
	}
	return strconv.Itoa(v)
}

func printTable(head []string, rows [][]string, markdown bool) {
	if markdown {
		fmt.Println("| " + strings.Join(head, " | ") + " |")
		fmt.Println("|" + strings.Repeat("---|", len(head)))
		for _, r := range rows {
			fmt.Println("| " + strings.Join(r, " | ") + " |")
		}
		return
	}
	fmt.Println(strings.Join(head, "\t"))
	for _, r := range rows {
		fmt.Println(strings.Join(r, "\t"))
	}
}

// deletePods deletes the pods and waits until they are gone (at most 60 s).
func deletePods(ctx context.Context, client kubernetes.Interface, names []string) error {
	pods := client.CoreV1().Pods(namespace)
	for _, n := range names {
		if err := pods.Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		left := 0
		for _, p := range list.Items {
			if slices.Contains(names, p.Name) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pods still there 60 s after deletion", left, len(names))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// server is the benchmark's peapod server, with the measurements made on it.
type server struct{ *benchnode.Server }

// cleanUp deletes every pod left, stops the server, removes its node network and run directory, and then
// reports what is still on the host: shims of its run directory, mounts under its directories, pod cgroups.
func (s *server) cleanUp(ctx context.Context) error {
	var errs []error
	if list, err := s.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{}); err == nil && len(list.Items) > 0 {
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		if err := deletePods(ctx, s.Client, names); err != nil {
			errs = append(errs, err)
		}
	}
	s.Stop()
	nodeNetwork().Remove()
	if left := leftovers(s.DataDir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left on the host: %s", strings.Join(left, "; ")))
	}
	nodeNetwork().RemoveRunDir()
	return errors.Join(errs...)
}

// leftovers lists what the benchmark's pods left behind: their processes, mounts, cgroups and the bridge.
func leftovers(dataDir string) []string {
	var left []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), runDir) {
			left = append(left, "process "+e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	if mountinfo, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mountinfo), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == runDir {
				continue // the node's run directory itself (a tmpfs the agent mounts where /run is not one)
			}
			if strings.Contains(line, dataDir) || strings.Contains(line, runDir) {
				left = append(left, "mount "+line)
			}
		}
	}
	pods, _ := filepath.Glob("/sys/fs/cgroup/*/peapod/*pod*")
	more, _ := filepath.Glob("/sys/fs/cgroup/*/peapod/*/pod*")
	for _, p := range append(pods, more...) {
		left = append(left, "cgroup "+p)
	}
	if exec.Command("ip", "link", "show", bridge).Run() == nil {
		left = append(left, "link "+bridge)
	}
	return left
}

// mappedKiB sums the resident pages of a process's mappings of files under dir.
func mappedKiB(pid int, dir string) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, err
	}
	total, inDir := 0, false
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"):
			// A mapping's header: address perms offset dev inode [path].
			inDir = len(fields) >= 6 && strings.HasPrefix(fields[5], dir+"/")
		case inDir && len(fields) == 3 && fields[0] == "Rss:":
			kib, _ := strconv.Atoi(fields[1])
			total += kib
		}
	}
	return total, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// Command bench-pods measures issue 3's node agent targets on this machine against a real `peapod server`
// with its node agent, runc (or crun) and a local registry: pod start latency (create to Running seen
// through a watch) of a two-container busybox pod whose image is present, 100 pods created at once until
// all run and until all are gone after deletion, the server's RSS with 100 running pods and the per-pod
// cost of pause + shim (PSS). It runs `podman kube play` of the same pod for comparison when podman is
// installed. Needs root.
//
//	go run ./hack/bench-pods -markdown
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/hack/internal/benchnode"
	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

type options struct {
	bin, runtime string
	starts       int
	burst        int
	markdown     bool
	podman       bool
	keepLog      string
	perfData     string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "peapod", "", "directory with peapod and peapod-shim (default: go build them)")
	flag.StringVar(&o.runtime, "runtime", "runc", "OCI runtime: runc or crun")
	flag.IntVar(&o.starts, "starts", 20, "pods started one at a time for the latency figures")
	flag.IntVar(&o.burst, "burst", 100, "pods created at once")
	flag.BoolVar(&o.markdown, "markdown", false, "print a Markdown table")
	flag.BoolVar(&o.podman, "podman", true, "also time podman kube play of the same pod")
	flag.StringVar(&o.keepLog, "server-log", "", "copy the server's log to this file at the end")
	flag.StringVar(&o.perfData, "perf", "", "record the burst with `perf record -a -g` into this file")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rows, err := run(ctx, o)
	print(rows, o.markdown)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-pods:", err)
		os.Exit(1)
	}
}

type row struct{ measure, result, target string }

func print(rows []row, markdown bool) {
	if markdown {
		fmt.Println("| Measure | Result | Target |\n|---|---|---|")
		for _, r := range rows {
			fmt.Printf("| %s | %s | %s |\n", r.measure, r.result, r.target)
		}
		return
	}
	for _, r := range rows {
		fmt.Printf("%-70s %14s  %s\n", r.measure, r.result, r.target)
	}
}

func run(ctx context.Context, o options) ([]row, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("needs root")
	}
	work, err := os.MkdirTemp("", "peapod-bench-pods-")
	if err != nil {
		return nil, err
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
			return nil, err
		}
	}
	ref, stopRegistry, err := benchnode.PushBusybox(ctx)
	if err != nil {
		return nil, err
	}
	defer stopRegistry()

	// The benchmark's node network, apart from the host's and the e2e tests'.
	network := benchnode.Network{Bridge: "ppbench0", NFTable: "peapod-bench", ClusterCIDR: "10.244.208.0/22",
		PodCIDR: "10.244.208.0/24", RunDir: "/run/ppbench"}
	srv, err := benchnode.Start(ctx, o.bin, o.runtime, work, network, "--max-pods", "250")
	if err != nil {
		return nil, err
	}
	defer func() {
		srv.Stop()
		network.Remove()
		network.RemoveRunDir()
	}()
	client := srv.Client
	ns := "bench"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	// Warm up: pull the image once, so every measured pod finds it present.
	if _, err := startAndWait(ctx, client, ns, benchPod("warm", ref)); err != nil {
		return nil, fmt.Errorf("warm-up pod: %w", err)
	}
	if err := deleteAndWait(ctx, client, ns, []string{"warm"}); err != nil {
		return nil, err
	}

	var rows []row
	var lat []time.Duration
	for i := range o.starts {
		name := "start-" + strconv.Itoa(i)
		d, err := startAndWait(ctx, client, ns, benchPod(name, ref))
		if err != nil {
			return rows, err
		}
		lat = append(lat, d)
		if err := deleteAndWait(ctx, client, ns, []string{name}); err != nil {
			return rows, err
		}
	}
	slices.Sort(lat)
	target := "<= 150 ms"
	if o.runtime == "crun" {
		target = "<= 80 ms"
	}
	p50 := lat[len(lat)/2]
	rows = append(rows,
		row{fmt.Sprintf("pod start, create to Running via watch, p50 (%d pods, %s)", o.starts, o.runtime), ms(p50), target},
		row{"pod start p90", ms(lat[len(lat)*9/10]), ""},
		row{"pod start max", ms(lat[len(lat)-1]), ""})

	// A burst of pods at once.
	names := make([]string, o.burst)
	stopPerf, err := startPerf(o.perfData)
	if err != nil {
		return rows, err
	}
	cpuBefore, _ := readCPUTimes()
	start := time.Now()
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return rows, err
	}
	// "At once": the creates are sent together (16 at a time), not one after another.
	createErrs := make(chan error, o.burst)
	slots := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range o.burst {
		names[i] = "burst-" + strconv.Itoa(i)
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if _, err := client.CoreV1().Pods(ns).Create(ctx, benchPod(names[i], ref), metav1.CreateOptions{}); err != nil {
				createErrs <- err
			}
		})
	}
	wg.Wait()
	close(createErrs)
	if err := <-createErrs; err != nil {
		w.Stop()
		return rows, err
	}
	created := time.Since(start)
	var scheduled, running []time.Duration
	seen := map[string]bool{}
	if err := waitAll(ctx, w, o.burst, func(p *corev1.Pod) bool {
		if p.Spec.NodeName != "" && !seen["s/"+p.Name] {
			seen["s/"+p.Name] = true
			scheduled = append(scheduled, time.Since(start))
		}
		if p.Status.Phase == corev1.PodRunning && !seen["r/"+p.Name] {
			seen["r/"+p.Name] = true
			running = append(running, time.Since(start))
		}
		return p.Status.Phase == corev1.PodRunning
	}); err != nil {
		return rows, fmt.Errorf("burst: %w", err)
	}
	allRunning := time.Since(start)
	cpuAfter, _ := readCPUTimes()
	stopPerf()
	slices.Sort(scheduled)
	rows = append(rows,
		row{fmt.Sprintf("%d pods created at once, all Running", o.burst), ms(allRunning), "<= 10 s"},
		row{"  half of them Running after", ms(running[len(running)/2]), ""},
		row{"  all created after", ms(created), ""},
		row{"  all bound to the node after", ms(scheduled[len(scheduled)-1]), ""},
		// The wall time moves with the other guests of the VM's host; the CPU time the burst took does not.
		row{"  CPU time the machine spent meanwhile (all processes) / taken by the VM's host (steal)",
			fmt.Sprintf("%.1f s / %.1f s", cpuAfter.busy-cpuBefore.busy, cpuAfter.steal-cpuBefore.steal), ""})

	// Memory at steady state: after the agent's resyncs, not right after start-up.
	time.Sleep(25 * time.Second)
	rss, _, err := benchnode.RSS(srv.Cmd.Process.Pid)
	if err != nil {
		return rows, err
	}
	shims, pause, threads, err := perPodPSS()
	if err != nil {
		return rows, err
	}
	rows = append(rows,
		row{fmt.Sprintf("server + agent RSS with %d running pods", o.burst), mib(rss), "<= 100 MB"},
		row{"per pod: shim + pause PSS (mean)", mib((shims + pause) / max(1, o.burst)), "<= 2 MB"},
		row{"  of which shim (mean PSS)", mib(shims / max(1, o.burst)), ""},
		row{"  of which pause (mean PSS)", mib(pause / max(1, o.burst)), ""},
		row{"  threads per shim (mean)", fmt.Sprintf("%.1f", float64(threads)/float64(max(1, o.burst))), ""})
	// Every runc invocation reads the mount table, more than once: its size is a cost per container start.
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		rows = append(rows, row{fmt.Sprintf("host mount table with %d running pods", o.burst),
			fmt.Sprintf("%d mounts, %d KiB", bytes.Count(mounts, []byte("\n")), len(mounts)/1024), ""})
	}

	took, pods, err := killAndTakeOver(ctx, srv)
	if err != nil {
		return rows, fmt.Errorf("restart: %w", err)
	}
	stillRunning := 0
	if list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.ContainerStatuses[0].RestartCount == 0 {
				stillRunning++
			}
		}
	}
	rows = append(rows,
		row{fmt.Sprintf("kill -9 and restart with %d running pods: agent took them over after", o.burst), ms(took), "<= 2 s"},
		row{"  pods it reported taken over / still Running with restartCount 0", fmt.Sprintf("%d / %d", pods, stillRunning), ""})

	start = time.Now()
	if err := deleteAndWait(ctx, client, ns, names); err != nil {
		return rows, err
	}
	rows = append(rows, row{fmt.Sprintf("%d pods deleted at once, all gone", o.burst), ms(time.Since(start)), "<= 10 s"})

	if o.podman {
		if d, err := podmanKubePlay(ctx, work); err != nil {
			rows = append(rows, row{"podman kube play of the same pod", "failed: " + err.Error(), ""})
		} else {
			rows = append(rows,
				row{"podman kube play of the same pod (median of 5)", ms(d), ""},
				row{"podman / peapod pod start p50", fmt.Sprintf("%.1fx", float64(d)/float64(p50)), ""})
		}
	}
	return rows, nil
}

// benchPod is the two-container busybox pod the targets name, restartPolicy Never and a token-less pod so
// that only the runtime path is timed.
func benchPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{
				{Name: "one", Image: image, Command: []string{"sleep", "3600"}, ImagePullPolicy: corev1.PullIfNotPresent},
				{Name: "two", Image: image, Command: []string{"sleep", "3600"}, ImagePullPolicy: corev1.PullIfNotPresent},
			},
		},
	}
}

func startAndWait(ctx context.Context, client kubernetes.Interface, ns string, pod *corev1.Pod) (time.Duration, error) {
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		w.Stop()
		return 0, err
	}
	if err := waitAll(ctx, w, 1, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }); err != nil {
		return 0, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	return time.Since(start), nil
}

// waitAll consumes w until n distinct pods satisfied done, then stops it.
func waitAll(ctx context.Context, w watch.Interface, n int, done func(*corev1.Pod) bool) error {
	defer w.Stop()
	ok := map[string]bool{}
	timeout := time.After(60 * time.Second)
	for len(ok) < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return fmt.Errorf("%d of %d pods after 60s", len(ok), n)
		case ev, open := <-w.ResultChan():
			if !open {
				return fmt.Errorf("watch closed")
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && done(p) {
				ok[p.Name] = true
			}
		}
	}
	return nil
}

func deleteAndWait(ctx context.Context, client kubernetes.Interface, ns string, names []string) error {
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := client.CoreV1().Pods(ns).Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			w.Stop()
			return err
		}
	}
	gone := map[string]bool{}
	defer w.Stop()
	timeout := time.After(60 * time.Second)
	for len(gone) < len(names) {
		select {
		case <-timeout:
			return fmt.Errorf("%d of %d pods gone after 60s", len(gone), len(names))
		case ev, open := <-w.ResultChan():
			if !open {
				return fmt.Errorf("watch closed")
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type == watch.Deleted {
				gone[p.Name] = true
			}
		}
	}
	return nil
}

// killAndTakeOver kills the server (-9) with its pods running, starts it again on the same data and
// reports how long its agent took to take the running pods over, from its own log line.
func killAndTakeOver(ctx context.Context, s *benchnode.Server) (time.Duration, int, error) {
	info, err := os.Stat(s.LogPath)
	if err != nil {
		return 0, 0, err
	}
	if err := s.Kill9AndRestart(); err != nil {
		return 0, 0, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		data, _ := os.ReadFile(s.LogPath)
		if int64(len(data)) > info.Size() {
			for _, line := range strings.Split(string(data[info.Size():]), "\n") {
				if !strings.Contains(line, "pods taken over") {
					continue
				}
				var took time.Duration
				var pods int
				for _, field := range strings.Fields(line) {
					if v, ok := strings.CutPrefix(field, "took="); ok {
						took, _ = time.ParseDuration(v)
					}
					if v, ok := strings.CutPrefix(field, "pods="); ok {
						pods, _ = strconv.Atoi(v)
					}
				}
				return took, pods, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("no takeover reported within 60s")
}

// perPodPSS sums the PSS (KiB) of every peapod-shim serve and pause process.
func perPodPSS() (shims, pauses, shimThreads int, err error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmdline), "\x00")
		if err != nil || len(args) < 2 || filepath.Base(args[0]) != "peapod-shim" {
			continue
		}
		rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue
		}
		pss := 0
		for _, line := range strings.Split(string(rollup), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				pss, _ = strconv.Atoi(strings.Fields(v)[0])
			}
		}
		if args[1] == "pause" {
			pauses += pss
			continue
		}
		shims += pss
		if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			if _, rest, ok := strings.Cut(string(status), "\nThreads:"); ok {
				n, _ := strconv.Atoi(strings.Fields(rest)[0])
				shimThreads += n
			}
		}
	}
	return shims, pauses, shimThreads, nil
}

// podmanKubePlay times `podman kube play` of the same two-container pod, from a local image archive.
func podmanKubePlay(ctx context.Context, work string) (time.Duration, error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return 0, fmt.Errorf("podman not installed")
	}
	// This host has no CAP_SYS_RESOURCE and no systemd: podman's default ulimits (nofile 1048576) and
	// systemd cgroup manager would fail, so it gets the same limits peapod uses.
	conf := filepath.Join(work, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n"+
		"[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"runc\"\n"), 0o600); err != nil {
		return 0, err
	}
	podman := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "podman", args...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
		return cmd
	}
	archive := filepath.Join(work, "busybox.tar")
	img, err := imagetest.BusyboxImage()
	if err != nil {
		return 0, err
	}
	if err := writeArchive(archive, img); err != nil {
		return 0, err
	}
	if out, err := podman("load", "-i", archive).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("podman load: %v: %s", err, out)
	}
	manifest := filepath.Join(work, "pod.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: Pod
metadata:
  name: peapod-bench-podman
spec:
  containers:
  - name: one
    image: docker.io/library/busybox:latest
    command: ["sleep", "3600"]
  - name: two
    image: docker.io/library/busybox:latest
    command: ["sleep", "3600"]
`), 0o600); err != nil {
		return 0, err
	}
	var runs []time.Duration
	for range 5 {
		start := time.Now()
		out, err := podman("kube", "play", manifest).CombinedOutput()
		d := time.Since(start)
		_ = podman("kube", "down", manifest).Run()
		if err != nil {
			return 0, fmt.Errorf("podman kube play: %v: %s", err, out)
		}
		runs = append(runs, d)
	}
	_ = podman("rmi", "-f", "docker.io/library/busybox:latest").Run()
	slices.Sort(runs)
	return runs[len(runs)/2], nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func mib(kib int) string        { return fmt.Sprintf("%.2f MB", float64(kib)/1024) }

// cpuTimes are the machine's CPU seconds so far, summed over its CPUs (/proc/stat).
type cpuTimes struct{ busy, steal float64 }

func readCPUTimes() (cpuTimes, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	ticks := func(i int) float64 { v, _ := strconv.ParseFloat(fields[i], 64); return v / 100 } // USER_HZ
	return cpuTimes{busy: ticks(1) + ticks(2) + ticks(3) + ticks(6) + ticks(7), steal: ticks(8)}, nil
}

// startPerf starts a system-wide `perf record` into file (nothing when file is empty); the returned
// function stops it and waits until the data is written.
func startPerf(file string) (func(), error) {
	if file == "" {
		return func() {}, nil
	}
	cmd := exec.Command("perf", "record", "-a", "-g", "-F", "499", "-o", file)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // perf's own start-up is not the burst's
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}, nil
}

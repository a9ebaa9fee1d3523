// Command bench measures issue 2's performance targets against a real `peapod server` process: start to
// /readyz, idle RSS, pod create latency at a fixed open-loop rate, listing 10,000 pods as a Table, and the delay
// for one change to reach 100 watchers. It prints a table (Markdown with -markdown) for docs/performance.md.
//
//	go run ./hack/bench                 # builds ./cmd/peapod first
//	go run ./hack/bench -peapod bin/peapod -markdown
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// tableAccept is what kubectl get sends.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

type options struct {
	peapod       string
	starts       int
	creates      int
	rate         float64
	listPods     int
	listRuns     int
	watchers     int
	changes      int
	settle       time.Duration
	idleRuns     int
	markdown     bool
	createWorker int
}

func main() {
	var o options
	flag.StringVar(&o.peapod, "peapod", "", "peapod binary (default: go build ./cmd/peapod into a temp dir)")
	flag.IntVar(&o.starts, "starts", 5, "server starts to time (median reported)")
	flag.IntVar(&o.creates, "creates", 2000, "pod creates in the paced create run")
	flag.Float64Var(&o.rate, "rate", 200, "creates per second (open loop)")
	flag.IntVar(&o.listPods, "list-pods", 10000, "pods to list as a Table")
	flag.IntVar(&o.listRuns, "list-runs", 10, "timed list requests")
	flag.IntVar(&o.watchers, "watchers", 100, "concurrent watchers")
	flag.IntVar(&o.changes, "changes", 50, "changes sent to the watchers")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "wait after start before reading idle RSS")
	flag.IntVar(&o.idleRuns, "idle-runs", 1, "servers on new data dirs to read idle RSS from (median reported, range shown)")
	flag.IntVar(&o.createWorker, "fill-workers", 16, "concurrent clients filling the list namespace")
	flag.BoolVar(&o.markdown, "markdown", false, "print a Markdown table")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := run(ctx, o)
	printRows(os.Stdout, rows, o.markdown)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// row is one measured figure and the target for it.
type row struct {
	metric, value, target string
}

func run(ctx context.Context, o options) ([]row, error) {
	work, err := os.MkdirTemp("", "peapod-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if o.peapod == "" {
		o.peapod = filepath.Join(work, "peapod")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.peapod, "./cmd/peapod")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/peapod (run from the repository root): %w", err)
		}
	}

	var rows []row
	fresh, warm, err := measureStarts(ctx, o, work)
	if err != nil {
		return rows, fmt.Errorf("start to /readyz: %w", err)
	}
	rows = append(rows,
		row{"start to /readyz OK, new data dir (median of " + strconv.Itoa(o.starts) + ")", ms(fresh), "< 300 ms"},
		row{"start to /readyz OK, existing data dir (median of " + strconv.Itoa(o.starts) + ")", ms(warm), "< 300 ms"})

	// Idle RSS varies by a few MB from one start to the next (what the first requests touch, when the GC
	// last ran), so with -idle-runs it is read from several servers; the last one then takes the load.
	var rssRuns, anonRuns, fileRuns []int
	for i := 1; i < o.idleRuns; i++ {
		s, err := startServer(ctx, o.peapod, filepath.Join(work, "idle-"+strconv.Itoa(i)))
		if err != nil {
			return rows, err
		}
		time.Sleep(o.settle)
		rss, anon, file, err := s.memory()
		s.stop()
		if err != nil {
			return rows, err
		}
		rssRuns, anonRuns, fileRuns = append(rssRuns, rss), append(anonRuns, anon), append(fileRuns, file)
	}
	srv, err := startServer(ctx, o.peapod, filepath.Join(work, "main"))
	if err != nil {
		return rows, err
	}
	defer srv.stop()
	time.Sleep(o.settle)
	rss, anon, file, err := srv.memory()
	if err != nil {
		return rows, err
	}
	rssRuns, anonRuns, fileRuns = append(rssRuns, rss), append(anonRuns, anon), append(fileRuns, file)
	rows = append(rows,
		row{"idle RSS (VmRSS) after start + " + o.settle.String(), mibRuns(rssRuns), "< 40 MB"},
		row{"  of which anonymous (RssAnon: heap, stacks)", mibRuns(anonRuns), ""},
		row{"  of which file-backed (RssFile: executable pages, store mmap)", mibRuns(fileRuns), ""})

	client, cfg, err := srv.client()
	if err != nil {
		return rows, err
	}

	p50, p99, maxLat, sentP50, sentP99, err := benchCreates(ctx, client, o)
	if err != nil {
		return rows, fmt.Errorf("creates: %w", err)
	}
	rows = append(rows,
		row{fmt.Sprintf("pod create p50 at %.0f/s (%d creates, open loop)", o.rate, o.creates), ms(p50), "< 2 ms"},
		row{fmt.Sprintf("pod create p99 at %.0f/s", o.rate), ms(p99), "< 10 ms"},
		row{fmt.Sprintf("pod create max at %.0f/s", o.rate), ms(maxLat), ""},
		row{fmt.Sprintf("pod create p50 at %.0f/s, from the moment the request was sent", o.rate), ms(sentP50), ""},
		row{fmt.Sprintf("pod create p99 at %.0f/s, from the moment the request was sent", o.rate), ms(sentP99), ""})

	fromAck, fromSend, err := benchWatchers(ctx, client, cfg, o)
	if err != nil {
		return rows, fmt.Errorf("watchers: %w", err)
	}
	rows = append(rows,
		row{fmt.Sprintf("change to %d watchers, from the write's acknowledgement, p99 (%d changes)", o.watchers, o.changes), ms(percentile(fromAck, 0.99)), "< 50 ms"},
		row{fmt.Sprintf("change to %d watchers, from the write's acknowledgement, max", o.watchers), ms(slices.Max(fromAck)), ""},
		row{fmt.Sprintf("change to %d watchers, from sending the write, p50", o.watchers), ms(percentile(fromSend, 0.5)), ""},
		row{fmt.Sprintf("change to %d watchers, from sending the write, p99", o.watchers), ms(percentile(fromSend, 0.99)), ""})

	fillRate, err := fill(ctx, client, "bench-list", o.listPods, o.createWorker)
	if err != nil {
		return rows, fmt.Errorf("fill: %w", err)
	}
	rows = append(rows, row{fmt.Sprintf("create throughput, %d clients", o.createWorker), fmt.Sprintf("%.0f pods/s", fillRate), ""})
	listMed, listMax, size, err := benchList(ctx, cfg, "bench-list", o, 0)
	if err != nil {
		return rows, fmt.Errorf("list: %w", err)
	}
	rows = append(rows,
		row{fmt.Sprintf("list %d pods as Table, one request (median of %d; %s)", o.listPods, o.listRuns, mib(size/1024)), ms(listMed), "< 300 ms"},
		row{fmt.Sprintf("list %d pods as Table, one request, max", o.listPods), ms(listMax), ""})
	pagedMed, _, _, err := benchList(ctx, cfg, "bench-list", o, 500)
	if err != nil {
		return rows, fmt.Errorf("paged list: %w", err)
	}
	rows = append(rows, row{fmt.Sprintf("list %d pods as Table in pages of 500 like kubectl (median)", o.listPods), ms(pagedMed), ""})

	if rss, _, _, err := srv.memory(); err == nil {
		rows = append(rows, row{fmt.Sprintf("RSS after the runs (%d pods stored)", o.listPods+o.creates+o.changes), mib(rss), ""})
	}
	return rows, nil
}

// server is one peapod process.
type server struct {
	cmd     *exec.Cmd
	dataDir string
	addr    string
	exited  chan struct{}
}

func startServer(ctx context.Context, bin, dataDir string) (*server, error) {
	s, err := launch(bin, dataDir)
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, 20*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func launch(bin, dataDir string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// Issue 2 measures the API server, store and controllers: no node agent, no scheduler.
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--listen", addr, "--disable-agent", "--disable-scheduler")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start peapod: %w", err)
	}
	s := &server{cmd: cmd, dataDir: dataDir, addr: addr, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	return s, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("peapod exited before ready: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get("https://" + s.addr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("peapod not ready after %v", timeout)
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// memory reads the resident set of the process from /proc/PID/status: total, anonymous and file-backed (the
// executable's pages and the store's mmap) in KiB.
func (s *server) memory() (rss, anon, file int, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, 0, err
	}
	fields := map[string]*int{"VmRSS:": &rss, "RssAnon:": &anon, "RssFile:": &file}
	found := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		for prefix, dst := range fields {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				if *dst, err = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB")); err != nil {
					return 0, 0, 0, fmt.Errorf("%s %w", prefix, err)
				}
				found++
			}
		}
	}
	if found != len(fields) {
		return 0, 0, 0, errors.New("VmRSS, RssAnon or RssFile missing from /proc/PID/status")
	}
	return rss, anon, file, nil
}

func (s *server) client() (kubernetes.Interface, *rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(s.dataDir, "kubeconfig.yaml"))
	if err != nil {
		return nil, nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	c, err := kubernetes.NewForConfig(cfg)
	return c, cfg, err
}

// measureStarts times process start to /readyz OK, first on new data dirs (certificates generated), then on
// one existing data dir.
func measureStarts(ctx context.Context, o options, work string) (fresh, warm time.Duration, err error) {
	timeStart := func(dataDir string) (time.Duration, error) {
		begin := time.Now()
		s, err := launch(o.peapod, dataDir)
		if err != nil {
			return 0, err
		}
		defer s.stop()
		if err := s.waitReady(ctx, 20*time.Second); err != nil {
			return 0, err
		}
		return time.Since(begin), nil
	}
	var freshRuns, warmRuns []time.Duration
	for i := range o.starts {
		d, err := timeStart(filepath.Join(work, fmt.Sprintf("start-%d", i)))
		if err != nil {
			return 0, 0, err
		}
		freshRuns = append(freshRuns, d)
	}
	for range o.starts {
		d, err := timeStart(filepath.Join(work, "start-0"))
		if err != nil {
			return 0, 0, err
		}
		warmRuns = append(warmRuns, d)
	}
	return percentile(freshRuns, 0.5), percentile(warmRuns, 0.5), nil
}

func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}
}

func createNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return err
}

// benchCreates sends creates at a fixed rate whatever the answers do (open loop) and measures each from its
// scheduled send time, so a slow answer cannot hide the queueing it causes.
func benchCreates(ctx context.Context, client kubernetes.Interface, o options) (p50, p99, maxLat, sentP50, sentP99 time.Duration, err error) {
	const ns = "bench-create"
	if err := createNamespace(ctx, client, ns); err != nil {
		return 0, 0, 0, 0, 0, err
	}
	// Warm the connection and the server's paths.
	for i := range 20 {
		if _, err := client.CoreV1().Pods(ns).Create(ctx, benchPod(fmt.Sprintf("warm-%d", i)), metav1.CreateOptions{}); err != nil {
			return 0, 0, 0, 0, 0, err
		}
	}
	interval := time.Duration(float64(time.Second) / o.rate)
	latencies := make([]time.Duration, o.creates)
	// fromSend leaves out how late the generator sent (it is in latencies): the server's part.
	fromSend := make([]time.Duration, o.creates)
	errs := make(chan error, o.creates)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range o.creates {
		due := begin.Add(time.Duration(i) * interval)
		// Go's timers fire up to a millisecond late here (the runtime waits in epoll with a millisecond
		// timeout), which would count the generator's lateness as the server's: wake coarsely well before the
		// due time, and let the request's own goroutine meet it precisely.
		time.Sleep(time.Until(due) - coarseWakeMargin)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sleepUntil(due)
			sent := time.Now()
			if _, err := client.CoreV1().Pods(ns).Create(ctx, benchPod(fmt.Sprintf("c-%d", i)), metav1.CreateOptions{}); err != nil {
				errs <- err
				return
			}
			latencies[i] = time.Since(due)
			fromSend[i] = time.Since(sent)
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, 0, 0, 0, err
	}
	return percentile(latencies, 0.5), percentile(latencies, 0.99), slices.Max(latencies), percentile(fromSend, 0.5), percentile(fromSend, 0.99), nil
}

// coarseWakeMargin is how early the create loop wakes from time.Sleep: more than Go's timer lateness on this VM
// (p99 1.1 ms).
const coarseWakeMargin = 2 * time.Millisecond

// spinWindow is the last stretch before a due time that sleepUntil spins through instead of sleeping, as waking a
// thread from nanosleep takes 130-200 µs on this VM.
const spinWindow = 250 * time.Microsecond

// sleepUntil returns at due within a few microseconds: a nanosleep (high-resolution, unlike Go's timers) to
// spinWindow before it, then a spin. The spin costs about 5 % of a core at 200 sends/s.
func sleepUntil(due time.Time) {
	if d := time.Until(due) - spinWindow; d > 0 {
		ts := unix.NsecToTimespec(int64(d))
		for unix.Nanosleep(&ts, &ts) == unix.EINTR {
		}
	}
	for time.Now().Before(due) {
	}
}

// benchWatchers opens o.watchers watches, each on its own connection, then makes o.changes changes one at a time
// and measures, for every watcher and change, the time from the write's acknowledgement to the event's arrival
// (0 when the event arrives first), and from the moment the write was sent.
func benchWatchers(ctx context.Context, client kubernetes.Interface, cfg *rest.Config, o options) (fromAck, fromSend []time.Duration, err error) {
	const ns = "bench-watch"
	if err := createNamespace(ctx, client, ns); err != nil {
		return nil, nil, err
	}
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	type arrival struct {
		name string
		at   time.Time
	}
	arrivals := make(chan arrival, o.watchers*o.changes)
	url := fmt.Sprintf("%s/api/v1/namespaces/%s/pods?watch=true&resourceVersion=%s", cfg.Host, ns, list.ResourceVersion)
	var opened sync.WaitGroup
	openErrs := make(chan error, o.watchers)
	var readers sync.WaitGroup
	for range o.watchers {
		opened.Add(1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			body, err := openWatch(watchCtx, cfg, url)
			opened.Done()
			if err != nil {
				openErrs <- err
				return
			}
			defer body.Close()
			dec := json.NewDecoder(bufio.NewReader(body))
			for {
				var ev struct {
					Type   string
					Object struct {
						Metadata struct{ Name string }
					}
				}
				if err := dec.Decode(&ev); err != nil {
					return
				}
				if ev.Type == "ADDED" {
					arrivals <- arrival{ev.Object.Metadata.Name, time.Now()}
				}
			}
		}()
	}
	opened.Wait()
	select {
	case err := <-openErrs:
		return nil, nil, fmt.Errorf("open watch: %w", err)
	default:
	}

	sent, acked := map[string]time.Time{}, map[string]time.Time{}
	for i := range o.changes {
		name := fmt.Sprintf("w-%d", i)
		sent[name] = time.Now()
		if _, err := client.CoreV1().Pods(ns).Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
			return nil, nil, err
		}
		acked[name] = time.Now()
		time.Sleep(20 * time.Millisecond)
	}
	timeout := time.After(30 * time.Second)
	for len(fromAck) < o.watchers*o.changes {
		select {
		case a := <-arrivals:
			// A watcher may decode the event before the writer has read its own answer: that is no delay.
			fromAck = append(fromAck, max(a.at.Sub(acked[a.name]), 0))
			fromSend = append(fromSend, a.at.Sub(sent[a.name]))
		case <-timeout:
			return nil, nil, fmt.Errorf("only %d of %d events arrived within 30s", len(fromAck), o.watchers*o.changes)
		}
	}
	cancel()
	readers.Wait()
	return fromAck, fromSend, nil
}

// openWatch starts one watch on a connection of its own (HTTP/1.1, as separate clients would have).
func openWatch(ctx context.Context, cfg *rest.Config, url string) (io.ReadCloser, error) {
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{TLSClientConfig: tlsCfg, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.BearerToken)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("watch: %s", resp.Status)
	}
	return resp.Body, nil
}

// fill creates n pods in ns with several concurrent clients and returns the rate achieved.
func fill(ctx context.Context, client kubernetes.Interface, ns string, n, workers int) (float64, error) {
	if err := createNamespace(ctx, client, ns); err != nil {
		return 0, err
	}
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	begin := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := client.CoreV1().Pods(ns).Create(ctx, benchPod(fmt.Sprintf("l-%05d", i)), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var sendErr error
send:
	for i := range n {
		select {
		case next <- i:
		case sendErr = <-errs:
			break send
		}
	}
	close(next)
	wg.Wait()
	if sendErr != nil {
		return 0, sendErr
	}
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(n) / time.Since(begin).Seconds(), nil
}

// benchList times GET .../pods as kubectl get sends it (Table Accept header), reading the whole body; with
// pageSize > 0 it follows continue tokens as kubectl does. It returns the median, the max and the bytes read.
func benchList(ctx context.Context, cfg *rest.Config, ns string, o options, pageSize int) (median, maxDur time.Duration, size int, err error) {
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return 0, 0, 0, err
	}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}}
	defer httpClient.CloseIdleConnections()
	get := func(cont string) (string, int, int, error) {
		url := fmt.Sprintf("%s/api/v1/namespaces/%s/pods", cfg.Host, ns)
		if pageSize > 0 {
			url += fmt.Sprintf("?limit=%d&continue=%s", pageSize, cont)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", 0, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+cfg.BearerToken)
		req.Header.Set("Accept", tableAccept)
		resp, err := httpClient.Do(req)
		if err != nil {
			return "", 0, 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", 0, 0, fmt.Errorf("list: %s", resp.Status)
		}
		var table struct {
			Kind     string
			Metadata struct{ Continue string }
			Rows     []json.RawMessage
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", 0, 0, err
		}
		if err := json.Unmarshal(body, &table); err != nil {
			return "", 0, 0, err
		}
		if table.Kind != "Table" {
			return "", 0, 0, fmt.Errorf("list answered kind %q, want Table", table.Kind)
		}
		return table.Metadata.Continue, len(table.Rows), len(body), nil
	}
	var runs []time.Duration
	for range o.listRuns + 1 {
		begin := time.Now()
		rows, bytes, cont := 0, 0, ""
		for {
			next, n, b, err := get(cont)
			if err != nil {
				return 0, 0, 0, err
			}
			rows, bytes, cont = rows+n, bytes+b, next
			if cont == "" {
				break
			}
		}
		runs = append(runs, time.Since(begin))
		if rows != o.listPods {
			return 0, 0, 0, fmt.Errorf("list returned %d rows, want %d", rows, o.listPods)
		}
		size = bytes
	}
	runs = runs[1:] // the first run warms the connection
	return percentile(runs, 0.5), slices.Max(runs), size, nil
}

// percentile returns the q-quantile (nearest rank) of ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(rank, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func mib(kib int) string { return fmt.Sprintf("%.1f MB", float64(kib)/1024) }

// mibRuns is the median of several readings, with their range when there are more than one.
func mibRuns(kibs []int) string {
	sorted := slices.Sorted(slices.Values(kibs))
	if len(sorted) == 1 {
		return mib(sorted[0])
	}
	return fmt.Sprintf("%s (%.1f–%.1f, %d runs)", mib(sorted[len(sorted)/2]),
		float64(sorted[0])/1024, float64(sorted[len(sorted)-1])/1024, len(sorted))
}

func printRows(w io.Writer, rows []row, markdown bool) {
	if markdown {
		fmt.Fprintln(w, "| Measure | Result | Target |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, r := range rows {
			fmt.Fprintf(w, "| %s | %s | %s |\n", r.metric, r.value, r.target)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\tRESULT\tTARGET")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.metric, r.value, r.target)
	}
	tw.Flush()
}

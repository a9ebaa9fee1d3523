// Package e2e runs a real `peapod server` process and drives it with the stock kubectl binaries (the oldest
// and newest supported minors) and with client-go, asserting Kubernetes' own output shapes.
//
// The tests need only the peapod binary (built once by TestMain) and the versioned kubectl binaries that live
// next to the `kubectl` dispatcher (or in $PEAPOD_KUBECTL_DIR). They skip with a message when kubectl is absent.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubectlVersions are the client minors every kubectl test runs with: the oldest and newest supported.
var kubectlVersions = []string{"1.27", "1.33"}

const (
	readyTimeout    = 20 * time.Second // process start to /readyz OK, generous for a loaded 2-core machine
	stopTimeout     = 10 * time.Second // SIGTERM to exit before SIGKILL
	kubectlTimeout  = 60 * time.Second // any single kubectl invocation
	eventualTimeout = 30 * time.Second // polling for an eventually consistent state
)

// peapodBin is the binary TestMain built (or $PEAPOD_BIN); it is set once before any test runs.
var peapodBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if bin := os.Getenv("PEAPOD_BIN"); bin != "" {
		peapodBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "peapod-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	peapodBin = filepath.Join(dir, "peapod")
	// peapod finds its per-pod shim next to itself.
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/peapod", "./cmd/peapod-shim")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/peapod ./cmd/peapod-shim: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// server is one `peapod server` process with its own data directory and port; it can be stopped, killed and
// started again on the same directory and port.
type server struct {
	// args are the flags after --data-dir and --listen.
	args    []string
	dataDir string
	addr    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
}

// startServer starts peapod on a free loopback port with a fresh data directory, waits until it is ready, and
// stops it when the test ends (printing its log if the test failed).
func startServer(t *testing.T) *server {
	t.Helper()
	// The API server alone: these tests bind pods themselves and count every write.
	return startServerWith(t, "--disable-agent", "--disable-scheduler")
}

// startServerWith starts peapod with extra flags (no --disable-agent unless given).
func startServerWith(t *testing.T, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{
		args:    args,
		dataDir: filepath.Join(dir, "data"),
		addr:    freeAddr(t),
		logPath: filepath.Join(dir, "server.log"),
	}
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			logTail(t, s.logPath)
		}
	})
	s.start(t)
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start launches the process (appending to the log) and waits for /readyz.
func (s *server) start(t *testing.T) {
	t.Helper()
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("open server log: %v", err)
	}
	defer logFile.Close()
	cmd := exec.Command(peapodBin, append([]string{"server", "--data-dir", s.dataDir, "--listen", s.addr}, s.args...)...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// A server must not outlive a test binary that was killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start peapod: %v", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(readyTimeout); err != nil {
		t.Fatalf("peapod server on %s: %v", s.addr, err)
	}
}

// waitReady polls /readyz until it answers 200 "ok", the process exits, or the timeout passes.
func (s *server) waitReady(timeout time.Duration) error {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // health probe only
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("process exited before ready: %v", s.cmd.ProcessState)
		default:
		}
		resp, err := client.Get("https://" + s.addr + "/readyz")
		if err == nil {
			body := new(bytes.Buffer)
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s %q", resp.Status, body.String())
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", timeout, last)
}

// stop sends SIGTERM and waits; after stopTimeout it kills. Stopping a stopped server does nothing.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		t.Errorf("peapod did not exit within %v of SIGTERM; killing it", stopTimeout)
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// kill sends SIGKILL, as a power cut would, and waits for the process to be gone.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) kubeconfig() string { return filepath.Join(s.dataDir, "kubeconfig.yaml") }

func (s *server) restConfig(t *testing.T) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig())
	if err != nil {
		t.Fatalf("load %s: %v", s.kubeconfig(), err)
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling in tests
	return cfg
}

func (s *server) client(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(s.restConfig(t))
	if err != nil {
		t.Fatalf("client-go: %v", err)
	}
	return c
}

// namespace creates a uniquely named namespace for one test and deletes it afterwards.
func (s *server) namespace(t *testing.T, prefix string) string {
	t.Helper()
	name := prefix + "-" + rand.String(5)
	c := s.client(t)
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = c.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	return name
}

func logTail(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("server log: %v", err)
		return
	}
	const max = 8 << 10
	if len(data) > max {
		data = data[len(data)-max:]
	}
	t.Logf("server log (tail):\n%s", data)
}

// kubectlDir is the folder holding kubectl.1.27 ... kubectl.1.33.
func kubectlDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("PEAPOD_KUBECTL_DIR"); dir != "" {
		return dir
	}
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH (set PEAPOD_KUBECTL_DIR to the folder holding kubectl.1.27 and kubectl.1.33)")
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Skipf("resolve %s: %v", path, err)
	}
	return filepath.Dir(real)
}

// kubectl runs one versioned kubectl against one server, in one namespace, with its own discovery cache.
type kubectl struct {
	t        *testing.T
	bin      string
	version  string
	srv      *server
	ns       string
	cacheDir string
}

type result struct {
	stdout, stderr string
	code           int
}

// forEachKubectl runs body once per supported kubectl minor as a subtest, each with a fresh namespace.
func forEachKubectl(t *testing.T, srv *server, body func(t *testing.T, k *kubectl)) {
	t.Helper()
	dir := kubectlDir(t)
	for _, v := range kubectlVersions {
		t.Run("kubectl-"+v, func(t *testing.T) {
			bin := filepath.Join(dir, "kubectl."+v)
			if _, err := os.Stat(bin); err != nil {
				t.Skipf("kubectl %s not found: %v", v, err)
			}
			k := &kubectl{t: t, bin: bin, version: v, srv: srv, cacheDir: t.TempDir()}
			k.ns = srv.namespace(t, "e2e-"+strings.ReplaceAll(v, ".", ""))
			body(t, k)
		})
	}
}

// withT returns a copy bound to a subtest, so failures are reported where they happen.
func (k *kubectl) withT(t *testing.T) *kubectl {
	c := *k
	c.t = t
	return &c
}

// run runs kubectl with the given arguments (namespace and kubeconfig added) and returns what it printed.
func (k *kubectl) run(args ...string) result {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	return k.runContext(ctx, args...)
}

func (k *kubectl) runContext(ctx context.Context, args ...string) result {
	k.t.Helper()
	cmd := k.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		k.t.Fatalf("kubectl %s %s: %v", k.version, strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		k.t.Fatalf("kubectl %s %s: did not finish: %v\nstdout: %s\nstderr: %s", k.version, strings.Join(args, " "), ctx.Err(), res.stdout, res.stderr)
	}
	return res
}

func (k *kubectl) command(ctx context.Context, args ...string) *exec.Cmd {
	full := []string{"--kubeconfig", k.srv.kubeconfig(), "--cache-dir", k.cacheDir}
	if k.ns != "" {
		full = append(full, "--namespace", k.ns)
	}
	cmd := exec.CommandContext(ctx, k.bin, append(full, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+k.cacheDir, "KUBECONFIG=")
	cmd.WaitDelay = time.Second
	return cmd
}

// ok runs kubectl, fails the test unless it exits 0, and returns stdout.
func (k *kubectl) ok(args ...string) string {
	k.t.Helper()
	res := k.run(args...)
	if res.code != 0 {
		k.t.Fatalf("kubectl %s %s: exit %d\nstdout: %s\nstderr: %s", k.version, strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res.stdout
}

// fails runs kubectl, fails the test unless it exits non-zero, and returns stderr.
func (k *kubectl) fails(args ...string) string {
	k.t.Helper()
	res := k.run(args...)
	if res.code == 0 {
		k.t.Fatalf("kubectl %s %s: exit 0, want an error\nstdout: %s", k.version, strings.Join(args, " "), res.stdout)
	}
	return res.stderr
}

// table splits kubectl's column output into rows of fields (columns separated by runs of spaces; a cell with
// one inner space such as "NOMINATED NODE" stays whole).
func table(out string) [][]string {
	var rows [][]string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		if line == "" {
			continue
		}
		rows = append(rows, columnSplit.Split(strings.TrimSpace(line), -1))
	}
	return rows
}

var columnSplit = regexp.MustCompile(`\s{2,}`)

// column returns the cells of the named header column, in row order.
func column(t *testing.T, out, header string) []string {
	t.Helper()
	rows := table(out)
	if len(rows) == 0 {
		t.Fatalf("no table in output %q", out)
	}
	idx := -1
	for i, h := range rows[0] {
		if h == header {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatalf("no %s column in header %q", header, rows[0])
	}
	var cells []string
	for _, r := range rows[1:] {
		if idx < len(r) {
			cells = append(cells, r[idx])
		}
	}
	return cells
}

// eventually polls cond until it returns true or eventualTimeout passes.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(eventualTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		done, err := cond()
		if done {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %v (last error: %v)", what, eventualTimeout, lastErr)
}

// testdata returns the path of a file under testdata/.
func testdata(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

// writeFile writes content to a new file in a test temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// busyboxPod is a minimal valid pod.
func busyboxPod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}
}

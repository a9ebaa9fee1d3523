package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod-dev/peapod/internal/nodeapi"
	"github.com/peapod-dev/peapod/internal/pki"
	"github.com/peapod-dev/peapod/internal/storage/bolt"
)

// fakeAgent is what a node agent tells the node endpoint: log files under dir/<pod>/<container>[.previous].log,
// and per-container errors.
type fakeAgent struct {
	dir     string
	running atomic.Bool
	mu      sync.Mutex
	errs    map[string]error
}

func (a *fakeAgent) LogPath(_ context.Context, namespace, pod, container string, previous bool) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.errs[pod+"/"+container]; err != nil {
		return "", err
	}
	name := container + ".log"
	if previous {
		name = container + ".previous.log"
	}
	return filepath.Join(a.dir, namespace, pod, name), nil
}

func (a *fakeAgent) Running(context.Context, string, string, string) bool { return a.running.Load() }

func (a *fakeAgent) fail(pod, container string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs[pod+"/"+container] = err
}

// write appends CRI records for lines, stamped at, to a container's log.
func (a *fakeAgent) write(t testing.TB, pod, file string, at time.Time, lines ...string) {
	t.Helper()
	dir := filepath.Join(a.dir, "default", pod)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, file), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		stream, text, _ := strings.Cut(l, ":")
		if _, err := fmt.Fprintf(f, "%s %s F %s\n", at.UTC().Format(time.RFC3339Nano), stream, text); err != nil {
			t.Fatal(err)
		}
	}
}

// logFixture is an API server whose node "node1" is a real node endpoint (nodeapi over mutual TLS with
// pki's certificates) on 127.0.0.1, in front of a fake agent.
type logFixture struct {
	*testServer
	agent *fakeAgent
}

func newLogFixture(t testing.TB) *logFixture {
	t.Helper()
	dir := t.TempDir()
	bundle, err := pki.Ensure(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := pki.EnsureNodeServing(dir, "node1", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	agent := &fakeAgent{dir: t.TempDir(), errs: map[string]error{}}
	agent.running.Store(true)
	node := httptest.NewUnstartedServer(nodeapi.New(agent, slog.New(slog.DiscardHandler)))
	node.Config.ErrorLog = log.New(io.Discard, "", 0)
	if node.TLS, err = nodeapi.ServerTLS(serving, bundle.CAPEM); err != nil {
		t.Fatal(err)
	}
	node.StartTLS()
	t.Cleanup(func() {
		node.CloseClientConnections()
		node.Close()
	})
	nodeTLS, err := bundle.NodeClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	real := withRealRegistry(t)
	ts := newTestServer(t, func(c *Config, o *bolt.Options) {
		real(c, o)
		c.NodeTLS = nodeTLS
	})
	_, portText, _ := net.SplitHostPort(node.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)
	ts.createNode("node1", []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: "node1"}}, port)
	f := &logFixture{testServer: ts, agent: agent}
	f.createPod("web", "node1", nil, []string{"app"})
	f.createPod("multi", "node1", []string{"init"}, []string{"a", "b"})
	f.createPod("pending", "", nil, []string{"app"})
	return f
}

func (ts *testServer) createNode(name string, addresses []corev1.NodeAddress, port int) {
	ts.t.Helper()
	ctx := context.Background()
	node, err := ts.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		ts.t.Fatal(err)
	}
	node.Status.Addresses = addresses
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if _, err := ts.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		ts.t.Fatal(err)
	}
}

func (f *logFixture) createPod(name, nodeName string, initContainers, containers []string) {
	f.t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: nodeName}}
	for _, c := range initContainers {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: c, Image: "busybox"})
	}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
	}
	if _, err := f.client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func TestPodLog(t *testing.T) {
	f := newLogFixture(t)
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	f.agent.write(t, "web", "app.log", at, "stdout:one", "stderr:two", "stdout:three")
	f.agent.write(t, "multi", "b.log", at, "stdout:from b")
	f.agent.write(t, "multi", "init.log", at, "stdout:from init")
	f.createPod("waiting", "node1", nil, []string{"app"})
	f.agent.fail("waiting", "app", nodeapi.Waiting("app", "waiting", "ContainerCreating"))
	f.createPod("unknown-to-node", "node1", nil, []string{"app"})
	f.agent.fail("unknown-to-node", "app", nodeapi.PodNotFound("unknown-to-node"))
	f.createPod("lost", "node2", nil, []string{"app"})
	f.createNode("node3", nil, 1)
	f.createPod("nowhere", "node3", nil, []string{"app"})

	tests := []struct {
		name     string
		path     string
		wantCode int
		want     string // the body, or the Status message
	}{
		{name: "the only container", path: "web/log", wantCode: 200, want: "one\ntwo\nthree\n"},
		{name: "named container", path: "multi/log?container=b", wantCode: 200, want: "from b\n"},
		{name: "init container", path: "multi/log?container=init", wantCode: 200, want: "from init\n"},
		{name: "tail", path: "web/log?tailLines=2", wantCode: 200, want: "two\nthree\n"},
		{name: "timestamps", path: "web/log?timestamps=true&tailLines=1", wantCode: 200, want: "2026-05-01T10:00:00Z three\n"},
		{name: "limitBytes", path: "web/log?limitBytes=6", wantCode: 200, want: "one\ntw"},
		{name: "several containers", path: "multi/log", wantCode: 400, want: "a container name must be specified for pod multi, choose one of: [init a b]"},
		{name: "unknown container", path: "web/log?container=c", wantCode: 400, want: "container c is not valid for pod web"},
		{name: "not scheduled", path: "pending/log", wantCode: 400, want: "pod pending does not have a host assigned"},
		{name: "negative tail", path: "web/log?tailLines=-1", wantCode: 422, want: `PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`},
		{name: "zero limit", path: "web/log?limitBytes=0", wantCode: 422, want: `PodLogOptions "web" is invalid: limitBytes: Invalid value: 0: must be greater than 0`},
		{name: "both since", path: "web/log?sinceSeconds=5&sinceTime=2026-05-01T10:00:00Z", wantCode: 422,
			want: "PodLogOptions \"web\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{name: "undecodable", path: "web/log?tailLines=x", wantCode: 400, want: `strconv.ParseInt: parsing "x": invalid syntax`},
		{name: "missing pod", path: "nope/log", wantCode: 404, want: `pods "nope" not found`},
		{name: "the node's 400 passed through", path: "waiting/log", wantCode: 400, want: `container "app" in pod "waiting" is waiting to start: ContainerCreating`},
		{name: "the node's 404, as kube-apiserver words it", path: "unknown-to-node/log", wantCode: 404, want: "the server could not find the requested resource ( pods/log unknown-to-node)"},
		{name: "node not registered", path: "lost/log", wantCode: 404, want: `nodes "node2" not found`},
		{name: "node without addresses", path: "nowhere/log", wantCode: 500, want: "Internal error occurred: no preferred addresses found; known addresses: []"},
		{name: "no previous log", path: "web/log?previous=true", wantCode: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, header, body := f.do(http.MethodGet, "/api/v1/namespaces/default/pods/"+tc.path, "", "", "")
			if code != tc.wantCode {
				t.Fatalf("%d %s, want %d", code, body, tc.wantCode)
			}
			got := string(body)
			if code == http.StatusOK {
				if ct := header.Get("Content-Type"); ct != "text/plain" {
					t.Errorf("Content-Type %q", ct)
				}
			} else {
				got = decodeStatus(t, body).Message
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPodLogFollow streams through client-go as `kubectl logs -f` does: lines arrive as they are written
// and the stream ends once the container stops.
func TestPodLogFollow(t *testing.T) {
	f := newLogFixture(t)
	f.agent.write(t, "web", "app.log", time.Now(), "stdout:first")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := f.client.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	lines := make(chan string, 10)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(stream)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got, ok := <-lines:
			if !ok || got != want {
				t.Fatalf("read %q (open %v), want %q", got, ok, want)
			}
		case <-ctx.Done():
			t.Fatalf("nothing read, want %q", want)
		}
	}
	expect("first")
	f.agent.write(t, "web", "app.log", time.Now(), "stdout:second")
	expect("second")
	f.agent.write(t, "web", "app.log", time.Now(), "stderr:last")
	f.agent.running.Store(false)
	expect("last")
	select {
	case l, ok := <-lines:
		if ok {
			t.Fatalf("read %q after the container stopped", l)
		}
	case <-ctx.Done():
		t.Fatal("the stream did not end after the container stopped")
	}
}

func TestPodLogWithoutNodeClient(t *testing.T) {
	ts := newTestServer(t, withRealRegistry(t))
	ts.createNode("node1", []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}, 1)
	pod := testPod("web", nil)
	pod.Spec.NodeName = "node1"
	if _, err := ts.client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := ts.client.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{}).DoRaw(context.Background())
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != http.StatusServiceUnavailable {
		t.Fatalf("logs without a node client: %v", err)
	}
}

func TestKubectlLogs(t *testing.T) {
	for _, version := range kubectlVersions {
		t.Run(version, func(t *testing.T) {
			f := newLogFixture(t)
			k := newKubectl(t, f.testServer, version)
			now := time.Now()
			f.agent.write(t, "web", "app.log", now.Add(-2*time.Hour), "stdout:old")
			f.agent.write(t, "web", "app.log", now.Add(-30*time.Minute), "stderr:recent")
			f.agent.write(t, "web", "app.log", now.Add(-time.Minute), "stdout:latest")
			f.agent.write(t, "web", "app.previous.log", now.Add(-3*time.Hour), "stdout:before the restart")
			f.agent.write(t, "multi", "b.log", now, "stdout:from b")

			expect := func(args []string, want string) {
				t.Helper()
				out, ok := k.run(args...)
				if !ok || out != want {
					t.Errorf("kubectl %s: %q (ok %v), want %q", strings.Join(args, " "), out, ok, want)
				}
			}
			expect([]string{"logs", "web"}, "old\nrecent\nlatest\n")
			expect([]string{"logs", "web", "--tail", "1"}, "latest\n")
			expect([]string{"logs", "web", "--since", "1h"}, "recent\nlatest\n")
			expect([]string{"logs", "web", "--limit-bytes", "5"}, "old\nr")
			expect([]string{"logs", "web", "--previous"}, "before the restart\n")
			expect([]string{"logs", "multi", "-c", "b"}, "from b\n")
			expect([]string{"logs", "web", "--tail", "1", "--timestamps"}, now.Add(-time.Minute).UTC().Format(time.RFC3339Nano)+" latest\n")

			// kubectl checks the container itself, with the API server's words.
			out, ok := k.run("logs", "web", "-c", "nope")
			if ok || !strings.Contains(out, "container nope is not valid for pod web") {
				t.Errorf("unknown container: %s", out)
			}
			f.createPod("waiting", "node1", nil, []string{"app"})
			f.agent.fail("waiting", "app", nodeapi.Waiting("app", "waiting", "ContainerCreating"))
			out, ok = k.run("logs", "waiting")
			if ok || !strings.Contains(out, `Error from server (BadRequest): container "app" in pod "waiting" is waiting to start: ContainerCreating`) {
				t.Errorf("waiting container: %s", out)
			}
			kubectlFollow(t, k, f)
		})
	}
}

// kubectlFollow runs `kubectl logs -f` and checks that it prints a line written while it runs and exits
// once the container stops.
func kubectlFollow(t *testing.T, k *kubectl, f *logFixture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.binary, append(append([]string{}, k.args...), "logs", "-f", "web", "--tail", "1")...)
	cmd.Env = k.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 10)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-lines:
			if got != want {
				t.Fatalf("kubectl logs -f printed %q, want %q", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("kubectl logs -f did not print %q", want)
		}
	}
	expect("latest")
	f.agent.write(t, "web", "app.log", time.Now(), "stdout:followed")
	expect("followed")
	f.agent.running.Store(false)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("kubectl logs -f: %v", err)
		}
	case <-ctx.Done():
		t.Error("kubectl logs -f did not exit after the container stopped")
	}
}

// BenchmarkPodLog reads a 10 MB log through the API server and the node endpoint, as `kubectl logs` does.
func BenchmarkPodLog(b *testing.B) {
	f := newLogFixture(b)
	lines := make([]string, 100000)
	for i := range lines {
		lines[i] = "stdout:a log line of a typical length, with some words in it and a counter " + strconv.Itoa(i)
	}
	f.agent.write(b, "web", "app.log", time.Now(), lines...)
	for _, query := range []string{"", "?tailLines=10"} {
		b.Run("query="+query, func(b *testing.B) {
			var total int64
			for i := 0; i < b.N; i++ {
				req, err := http.NewRequest(http.MethodGet, f.url+"/api/v1/namespaces/default/pods/web/log"+query, nil)
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("%d, %v", resp.StatusCode, err)
				}
				total += n
			}
			b.SetBytes(total / int64(b.N))
		})
	}
}

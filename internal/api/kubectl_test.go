package api

import (
	"bufio"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubectlVersions are the oldest and newest clients the server must serve.
var kubectlVersions = []string{"1.27", "1.33"}

// kubectl runs one versioned kubectl binary against the test server.
type kubectl struct {
	t      *testing.T
	binary string
	args   []string
	env    []string
}

func newKubectl(t *testing.T, ts *testServer, version string) *kubectl {
	t.Helper()
	dispatcher, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	real, err := filepath.EvalSymlinks(dispatcher)
	if err != nil {
		t.Fatalf("resolve kubectl: %v", err)
	}
	binary := filepath.Join(filepath.Dir(real), "kubectl."+version)
	if _, err := os.Stat(binary); err != nil {
		t.Skipf("kubectl %s not installed", version)
	}
	// kubectl sends a bearer token only over TLS: serve the same handler with a test certificate.
	srv := httptest.NewTLSServer(ts.handler)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	home := t.TempDir()
	kubeconfig := filepath.Join(home, "config")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &kubectl{
		t:      t,
		binary: binary,
		args: []string{"--server", srv.URL, "--token", testToken, "--insecure-skip-tls-verify",
			"--cache-dir", filepath.Join(home, "cache")},
		env: []string{"HOME=" + home, "KUBECONFIG=" + kubeconfig},
	}
}

// run runs kubectl with a bounded time and returns combined output and whether it succeeded.
func (k *kubectl) run(args ...string) (string, bool) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.binary, append(append([]string{}, k.args...), args...)...)
	cmd.Env = k.env
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// must runs kubectl, fails the test if it fails, and checks the output contains each want.
func (k *kubectl) must(args []string, wants ...string) string {
	k.t.Helper()
	out, ok := k.run(args...)
	if !ok {
		k.t.Fatalf("kubectl %s failed:\n%s", strings.Join(args, " "), out)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			k.t.Errorf("kubectl %s:\n%s\nwant it to contain %q", strings.Join(args, " "), out, want)
		}
	}
	return out
}

func TestKubectl(t *testing.T) {
	for _, version := range kubectlVersions {
		t.Run(version, func(t *testing.T) {
			ts := newTestServer(t)
			k := newKubectl(t, ts, version)
			manifest := filepath.Join(t.TempDir(), "pod.yaml")
			if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: Pod
metadata:
  name: kubia
  labels:
    app: kubia
    env: prod
spec:
  containers:
  - name: kubia
    image: luksa/kubia
`), 0o600); err != nil {
				t.Fatal(err)
			}
			k.must([]string{"create", "-f", manifest, "--validate=false"}, "pod/kubia created")
			ts.createPod("other", map[string]string{"env": "dev"})

			out := k.must([]string{"get", "pods"}, "NAME", "STATUS", "AGE", "kubia", "Pending", "other")
			if strings.Contains(out, "NODE") {
				t.Errorf("priority-1 column without -o wide:\n%s", out)
			}
			k.must([]string{"get", "pods", "-o", "wide"}, "NODE", "<none>")
			k.must([]string{"get", "pods", "--show-labels"}, "app=kubia,env=prod")
			k.must([]string{"get", "pods", "-A"}, "NAMESPACE", "default")
			k.must([]string{"get", "pods", "-L", "env"}, "ENV", "prod", "dev")
			for selector, want := range map[string]string{"env=prod": "kubia", "env!=prod": "other", "env in (dev)": "other", "!app": "other", "app": "kubia"} {
				out := k.must([]string{"get", "pods", "-l", selector, "-o", "name"})
				if strings.TrimSpace(out) != "pod/"+want {
					t.Errorf("-l %s = %q, want pod/%s", selector, out, want)
				}
			}
			k.must([]string{"get", "pod", "kubia", "-o", "yaml"}, "name: kubia", "resourceVersion:")
			k.must([]string{"label", "pod", "kubia", "tier=web"}, "pod/kubia labeled")
			out, ok := k.run("label", "pod", "kubia", "tier=db")
			if ok || !strings.Contains(out, "already has a value (web)") {
				t.Errorf("label without --overwrite: %s", out)
			}
			k.must([]string{"label", "pod", "kubia", "tier-"}, "pod/kubia unlabeled")
			// kubectl 1.27 itself prints "annotate" here.
			k.must([]string{"annotate", "pod", "kubia", "note=hi"}, "pod/kubia annotate")

			out, ok = k.run("get", "pod", "nope")
			if ok || !strings.Contains(out, `Error from server (NotFound): pods "nope" not found`) {
				t.Errorf("get missing pod: %s", out)
			}
			out, ok = k.run("create", "-f", manifest, "--validate=false")
			if ok || !strings.Contains(out, `Error from server (AlreadyExists): error when creating "`+manifest+`": pods "kubia" already exists`) {
				t.Errorf("create twice: %s", out)
			}

			watchKubectl(t, k, ts)
			k.must([]string{"delete", "pod", "kubia"}, `pod "kubia" deleted`)
			k.must([]string{"delete", "pods", "--all"}, `pod "other" deleted`)
			out = k.must([]string{"get", "pods"})
			if !strings.Contains(out, "No resources found in default namespace.") {
				t.Errorf("after delete --all: %s", out)
			}
		})
	}
}

// watchKubectl runs `kubectl get pods -w` and checks it prints a pod created while it runs.
func watchKubectl(t *testing.T, k *kubectl, ts *testServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.binary, append(append([]string{}, k.args...), "get", "pods", "-w")...)
	cmd.Env = k.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	waitFor := func(substr string) {
		t.Helper()
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl -w ended before printing %q", substr)
				}
				if strings.Contains(line, substr) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("kubectl -w did not print %q", substr)
			}
		}
	}
	waitFor("kubia") // the initial list
	ts.createPod("watched", nil)
	waitFor("watched")
}

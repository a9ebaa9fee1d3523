package api

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod-dev/peapod/internal/openapi"
	"github.com/peapod-dev/peapod/internal/registry/all"
	"github.com/peapod-dev/peapod/internal/storage/bolt"
)

// withRealRegistry serves the registry and OpenAPI documents `peapod server` serves.
func withRealRegistry(t testing.TB) serverOption {
	return func(c *Config, _ *bolt.Options) {
		reg := all.New()
		docs, err := openapi.New(reg.Resources)
		if err != nil {
			t.Fatalf("openapi: %v", err)
		}
		c.Registry, c.OpenAPI, c.TypeConverter = reg, docs, docs.TypeConverter()
	}
}

// TestKubectlWithRealRegistry drives the real resources with the commands of the source documents,
// default client-side validation included (it needs the OpenAPI documents).
func TestKubectlWithRealRegistry(t *testing.T) {
	for _, version := range kubectlVersions {
		t.Run(version, func(t *testing.T) {
			ts := newTestServer(t, withRealRegistry(t))
			k := newKubectl(t, ts, version)
			dir := t.TempDir()
			manifest := filepath.Join(dir, "pod.yaml")
			writeFile(t, manifest, `apiVersion: v1
kind: Pod
metadata:
  name: kubia-manual
  labels:
    creation_method: manual
spec:
  containers:
  - image: luksa/kubia
    name: kubia
    ports:
    - containerPort: 8080
      protocol: TCP
`)
			k.must([]string{"run", "kubia", "--image=busybox", "--port=8080"}, "pod/kubia created")
			k.must([]string{"create", "-f", manifest}, "pod/kubia-manual created")
			k.must([]string{"get", "pods"}, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "kubia-manual", "0/1", "Pending")
			k.must([]string{"get", "pods", "-o", "wide"}, "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
			k.must([]string{"get", "pods", "-l", "run=kubia", "-o", "name"}, "pod/kubia")

			applied := filepath.Join(dir, "applied.yaml")
			writeFile(t, applied, strings.Replace(string(must(os.ReadFile(manifest))), "kubia-manual", "kubia-applied", 1))
			k.must([]string{"apply", "-f", applied}, "pod/kubia-applied created")
			writeFile(t, applied, strings.Replace(string(must(os.ReadFile(applied))), "manual", "applied", 1))
			k.must([]string{"apply", "-f", applied}, "pod/kubia-applied configured")
			k.must([]string{"get", "pod", "kubia-applied", "--show-labels"}, "creation_method=applied")
			ssa := filepath.Join(dir, "ssa.yaml")
			writeFile(t, ssa, strings.Replace(string(must(os.ReadFile(manifest))), "kubia-manual", "kubia-ssa", 1))
			k.must([]string{"apply", "--server-side", "-f", ssa}, "pod/kubia-ssa serverside-applied")
			k.must([]string{"apply", "--server-side", "-f", ssa}, "pod/kubia-ssa serverside-applied")

			k.must([]string{"create", "namespace", "team"}, "namespace/team created")
			k.must([]string{"create", "configmap", "cfg", "--from-literal=a=b", "-n", "team"}, "configmap/cfg created")
			k.must([]string{"create", "secret", "generic", "s", "--from-literal=a=b"}, "secret/s created")
			k.must([]string{"get", "ns"}, "team", "Active")
			k.must([]string{"api-resources"}, "pods", "po", "namespaces", "leases")

			out, ok := k.run("create", "-f", manifest)
			if ok || !strings.Contains(out, `pods "kubia-manual" already exists`) {
				t.Errorf("second create: %s", out)
			}
			k.must([]string{"describe", "pod", "kubia-manual"}, "Name:", "kubia-manual", "Events:")
			k.must([]string{"explain", "pod.spec"}, "containers")
			k.must([]string{"get", "events"})
			if _, err := ts.client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create node: %v", err)
			}
			k.must([]string{"label", "node", "n1", "gpu=true"}, "node/n1 labeled")
			k.must([]string{"get", "nodes", "-l", "gpu=true"}, "n1")
			k.must([]string{"delete", "pod", "kubia"}, `pod "kubia" deleted`)
			k.must([]string{"delete", "po", "-l", "creation_method"}, `pod "kubia-manual" deleted`, `pod "kubia-applied" deleted`)
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

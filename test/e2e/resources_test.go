package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNamespaces covers get ns, create namespace, the default ServiceAccount and the cascade of delete ns.
func TestNamespaces(t *testing.T) {
	srv := startServer(t)
	client := srv.client(t)
	ctx := context.Background()

	t.Run("default-serviceaccounts", func(t *testing.T) {
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			eventually(t, "ServiceAccount "+ns+"/default", func() (bool, error) {
				_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
				return err == nil, err
			})
		}
	})

	forEachKubectl(t, srv, func(t *testing.T, k *kubectl) {
		k.ns = ""
		t.Run("get-ns", func(t *testing.T) {
			rows := table(k.withT(t).ok("get", "ns"))
			if len(rows) == 0 || !slices.Equal(rows[0], []string{"NAME", "STATUS", "AGE"}) {
				t.Fatalf("get ns header %q", rows)
			}
			for _, want := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
				if !slices.ContainsFunc(rows[1:], func(r []string) bool { return len(r) == 3 && r[0] == want && r[1] == "Active" }) {
					t.Errorf("get ns: no Active row for %s in %q", want, rows)
				}
			}
		})

		name := "custom-namespace-" + strings.ReplaceAll(k.version, ".", "")
		t.Run("create-namespace", func(t *testing.T) {
			if out := k.withT(t).ok("create", "namespace", name); out != "namespace/"+name+" created\n" {
				t.Errorf("create namespace printed %q", out)
			}
			eventually(t, "default ServiceAccount in "+name, func() (bool, error) {
				_, err := client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
				return err == nil, err
			})
		})

		t.Run("delete-ns-cascades", func(t *testing.T) {
			for i := range 3 {
				if _, err := client.CoreV1().Pods(name).Create(ctx, busyboxPod(fmt.Sprintf("p%d", i), nil), metav1.CreateOptions{}); err != nil {
					t.Fatalf("create pod: %v", err)
				}
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm%d", i)}, Data: map[string]string{"k": "v"}}
				if _, err := client.CoreV1().ConfigMaps(name).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					t.Fatalf("create configmap: %v", err)
				}
			}
			// kubectl waits (--wait defaults to true) until the namespace is gone.
			assertDeleted(t, k.withT(t).ok("delete", "ns", name), "namespace", name)
			if _, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("namespace %s after kubectl delete returned: %v, want NotFound", name, err)
			}
			pods, err := client.CoreV1().Pods(name).List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) != 0 {
				t.Errorf("pods left in deleted namespace: %v (err %v)", len(pods.Items), err)
			}
			cms, err := client.CoreV1().ConfigMaps(name).List(ctx, metav1.ListOptions{})
			if err != nil || len(cms.Items) != 0 {
				t.Errorf("configmaps left in deleted namespace: %v (err %v)", len(cms.Items), err)
			}
		})
	})
}

// TestOtherResources covers explain, secrets and configmaps from files, nodes, events and api-resources.
func TestOtherResources(t *testing.T) {
	srv := startServer(t)
	forEachKubectl(t, srv, func(t *testing.T, k *kubectl) {
		client := srv.client(t)
		ctx := context.Background()

		t.Run("explain-pod", func(t *testing.T) {
			out := k.withT(t).ok("explain", "pod")
			for _, re := range []string{`(?m)^KIND:\s+Pod$`, `(?m)^VERSION:\s+v1$`, `(?m)^DESCRIPTION:$`, `(?m)^FIELDS:$`,
				`(?m)^\s+spec\s+<(PodSpec|Object)>$`, `(?m)^\s+status\s+<(PodStatus|Object)>$`, `Pod is a collection of containers`} {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("explain pod does not match %s:\n%s", re, out)
				}
			}
		})

		t.Run("explain-pod-spec", func(t *testing.T) {
			out := k.withT(t).ok("explain", "pod.spec")
			for _, re := range []string{`(?m)^KIND:\s+Pod$`, `(?m)^FIELD:\s+spec\s+<(PodSpec|Object)>$`,
				`(?m)^\s+containers\s+<\[\](Container|Object)>\s+-required-$`, `(?m)^\s+restartPolicy\s+<string>`} {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("explain pod.spec does not match %s:\n%s", re, out)
				}
			}
		})

		t.Run("create-secret-generic-from-file", func(t *testing.T) {
			k := k.withT(t)
			for name, content := range map[string]string{"user": "admin\n", "pass": "c1oudc0w!\n"} {
				file := writeFile(t, name+"name.txt", content)
				if out := k.ok("create", "secret", "generic", name, "--from-file="+file); out != "secret/"+name+" created\n" {
					t.Errorf("create secret printed %q", out)
				}
				s, err := client.CoreV1().Secrets(k.ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("get secret: %v", err)
				}
				if s.Type != corev1.SecretTypeOpaque || len(s.Data) != 1 || string(s.Data[name+"name.txt"]) != content {
					t.Errorf("secret %s: type %q data %q", name, s.Type, s.Data)
				}
			}
			rows := table(k.ok("get", "secrets"))
			if len(rows) != 3 || !slices.Equal(rows[0], []string{"NAME", "TYPE", "DATA", "AGE"}) || !slices.Equal(rows[1][:3], []string{"pass", "Opaque", "1"}) || !slices.Equal(rows[2][:3], []string{"user", "Opaque", "1"}) {
				t.Errorf("get secrets: %q", rows)
			}
		})

		t.Run("create-configmap-from-file", func(t *testing.T) {
			k := k.withT(t)
			props := "color.good=purple\ncolor.bad=yellow\nallow.textmode=true\nhow.nice.to.look=fairlyNice\n"
			file := writeFile(t, "ui.properties", props)
			if out := k.ok("create", "configmap", "ui-config", "--from-file="+file); out != "configmap/ui-config created\n" {
				t.Errorf("create configmap printed %q", out)
			}
			cm, err := client.CoreV1().ConfigMaps(k.ns).Get(ctx, "ui-config", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get configmap: %v", err)
			}
			if len(cm.Data) != 1 || cm.Data["ui.properties"] != props {
				t.Errorf("configmap data %q", cm.Data)
			}
			if out := k.ok("get", "configmaps", "ui-config", "-o", "yaml"); !strings.Contains(out, "  ui.properties: |\n    color.good=purple\n") {
				t.Errorf("get configmap -o yaml:\n%s", out)
			}
		})

		t.Run("nodes", func(t *testing.T) {
			k := k.withT(t)
			node := "node1-" + strings.ReplaceAll(k.version, ".", "")
			if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create node: %v", err)
			}
			t.Cleanup(func() { _ = client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
			// kubectl words this "No resources found", adding "in NS namespace." when a namespace is given.
			if res := k.run("get", "nodes", "-l", "gpu=true"); res.code != 0 || res.stdout != "" || !strings.HasPrefix(res.stderr, "No resources found") {
				t.Errorf("get nodes -l gpu=true before labelling: %+v", res)
			}
			if out := k.ok("label", "node", node, "gpu=true"); out != "node/"+node+" labeled\n" {
				t.Errorf("label node printed %q", out)
			}
			rows := table(k.ok("get", "nodes", "-l", "gpu=true"))
			if len(rows) != 2 || !slices.Equal(rows[0], []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}) || rows[1][0] != node {
				t.Errorf("get nodes -l gpu=true: %q, want header NAME STATUS ROLES AGE VERSION and %s", rows, node)
			}
		})

		t.Run("get-events", func(t *testing.T) {
			k := k.withT(t)
			pod, err := client.CoreV1().Pods(k.ns).Create(ctx, busyboxPod("evpod", nil), metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create pod: %v", err)
			}
			createPodEvent(t, srv, pod, "Scheduled", "Successfully assigned "+k.ns+"/evpod to node1")
			rows := table(k.ok("get", "events"))
			if len(rows) != 2 || !slices.Equal(rows[0], []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}) {
				t.Fatalf("get events: %q", rows)
			}
			if want := []string{"Normal", "Scheduled", "pod/evpod", "Successfully assigned " + k.ns + "/evpod to node1"}; !slices.Equal(rows[1][1:], want) {
				t.Errorf("get events row %q, want %q after LAST SEEN", rows[1], want)
			}
		})

		t.Run("api-resources", func(t *testing.T) {
			rows := table(k.withT(t).ok("api-resources"))
			if len(rows) == 0 || !slices.Equal(rows[0], []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}) {
				t.Fatalf("api-resources header %q", rows)
			}
			for _, want := range [][]string{
				{"pods", "po", "v1", "true", "Pod"},
				{"namespaces", "ns", "v1", "false", "Namespace"},
				{"nodes", "no", "v1", "false", "Node"},
				{"configmaps", "cm", "v1", "true", "ConfigMap"},
				{"events", "ev", "v1", "true", "Event"},
				{"secrets", "v1", "true", "Secret"},
				{"serviceaccounts", "sa", "v1", "true", "ServiceAccount"},
				{"leases", "coordination.k8s.io/v1", "true", "Lease"},
			} {
				if !slices.ContainsFunc(rows, func(r []string) bool { return slices.Equal(r, want) }) {
					t.Errorf("api-resources has no row %q", want)
				}
			}
		})
	})
}

// TestErrors checks that failures print exactly as they do against Kubernetes.
func TestErrors(t *testing.T) {
	srv := startServer(t)
	forEachKubectl(t, srv, func(t *testing.T, k *kubectl) {
		client := srv.client(t)
		if _, err := client.CoreV1().Pods(k.ns).Create(context.Background(), busyboxPod("exists", nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod: %v", err)
		}
		for _, tc := range []struct {
			name string
			args []string
			want string // whole lines of stderr, as a regular expression
		}{
			{"not-found", []string{"get", "po", "nope"}, `Error from server \(NotFound\): pods "nope" not found`},
			{"already-exists", []string{"run", "exists", "--image=busybox"}, `Error from server \(AlreadyExists\): pods "exists" already exists`},
			{"conflict", []string{"label", "po", "exists", "a=b", "--resource-version=1"},
				`Error from server \(Conflict\): Operation cannot be fulfilled on pods "exists": the object has been modified; please apply your changes to the latest version and try again`},
			{"invalid-required", []string{"create", "-f", testdata("bad-no-image.yaml")},
				`The Pod "bad" is invalid: spec\.containers\[0\]\.image: Required value`},
			// run names the container after the pod, so both names are invalid: kubectl lists the causes.
			{"invalid-name", []string{"run", "Bad_Name", "--image=busybox"},
				`The Pod "Bad_Name" is invalid: \n` +
					`\* metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '\.', and must start and end with an alphanumeric character .*\n` +
					`\* spec\.containers\[0\]\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character .*`},
			{"strict-unknown-field", []string{"create", "-f", testdata("unknown-field.yaml")},
				`Error from server \(BadRequest\): error when creating ".*unknown-field\.yaml": Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec\.containerz"`},
			{"unsupported-csi-volume", []string{"create", "-f", testdata("unsupported-csi.yaml")},
				`The Pod "csi-volume" is invalid: spec\.volumes\[0\]\.csi: .*not supported.*`},
			{"unsupported-ephemeral-containers", []string{"create", "-f", testdata("unsupported-ephemeral.yaml")},
				`The Pod "ephemeral" is invalid: spec\.ephemeralContainers: .*`},
			{"missing-namespace", []string{"run", "lost", "--image=busybox", "--namespace", "missing-ns"},
				`Error from server \(NotFound\): namespaces "missing-ns" not found`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stderr := k.withT(t).fails(tc.args...)
				if !regexp.MustCompile(`(?m)^` + tc.want + `$`).MatchString(stderr) {
					t.Errorf("stderr:\n%s\nwant a line matching:\n%s", stderr, tc.want)
				}
			})
		}
	})
}

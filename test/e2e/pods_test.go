package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

var agePattern = regexp.MustCompile(`^(\d+s|\d+m\d*s?|<invalid>)$`)

// TestPods walks the pod commands of the source documents in order, as a user would, for each kubectl.
func TestPods(t *testing.T) {
	srv := startServer(t)
	forEachKubectl(t, srv, func(t *testing.T, k *kubectl) {
		client := srv.client(t)
		ctx := context.Background()

		t.Run("run", func(t *testing.T) {
			out := k.withT(t).ok("run", "kubia", "--image=busybox", "--port=8080")
			if out != "pod/kubia created\n" {
				t.Errorf("run printed %q, want %q", out, "pod/kubia created\n")
			}
		})

		t.Run("get", func(t *testing.T) {
			rows := table(k.withT(t).ok("get", "pods"))
			wantHeader := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}
			if len(rows) != 2 || !slices.Equal(rows[0], wantHeader) {
				t.Fatalf("get pods: rows %q, want header %q and one row", rows, wantHeader)
			}
			assertPendingRow(t, rows[1], "kubia", 5)
		})

		t.Run("get-wide", func(t *testing.T) {
			rows := table(k.withT(t).ok("get", "pods", "-o", "wide"))
			wantHeader := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"}
			if len(rows) != 2 || !slices.Equal(rows[0], wantHeader) {
				t.Fatalf("get pods -o wide: rows %q, want header %q and one row", rows, wantHeader)
			}
			assertPendingRow(t, rows[1], "kubia", 9)
			if got := rows[1][5:]; !slices.Equal(got, []string{"<none>", "<none>", "<none>", "<none>"}) {
				t.Errorf("wide columns of a pending pod: %q, want four <none>", got)
			}
		})

		t.Run("get-yaml", func(t *testing.T) {
			var pod corev1.Pod
			if err := yaml.UnmarshalStrict([]byte(k.withT(t).ok("get", "po", "kubia", "-o", "yaml")), &pod); err != nil {
				t.Fatalf("get -o yaml is not a Pod: %v", err)
			}
			if pod.Kind != "Pod" || pod.APIVersion != "v1" || pod.Name != "kubia" || pod.Namespace != k.ns {
				t.Errorf("get -o yaml: kind %q apiVersion %q name %q namespace %q", pod.Kind, pod.APIVersion, pod.Name, pod.Namespace)
			}
		})

		t.Run("get-json-defaults", func(t *testing.T) {
			var pod corev1.Pod
			if err := json.Unmarshal([]byte(k.withT(t).ok("get", "po", "kubia", "-o", "json")), &pod); err != nil {
				t.Fatalf("get -o json is not a Pod: %v", err)
			}
			assertRunDefaults(t, &pod)
		})

		t.Run("create-seeds", func(t *testing.T) {
			files, err := filepath.Glob(testdata("seeds/*.yaml"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no seed files: %v", err)
			}
			for _, file := range files {
				t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
					createSeed(t, k.withT(t), file)
				})
			}
		})

		t.Run("apply", func(t *testing.T) {
			k := k.withT(t)
			manifest := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: applied\n  labels:\n    stage: %s\nspec:\n  containers:\n  - name: main\n    image: busybox\n"
			first := writeFile(t, "applied.yaml", fmt.Sprintf(manifest, "one"))
			changed := writeFile(t, "applied.yaml", fmt.Sprintf(manifest, "two"))
			for _, step := range []struct{ file, want, label string }{
				{first, "pod/applied created\n", "one"},
				{changed, "pod/applied configured\n", "two"},
				{changed, "pod/applied unchanged\n", "two"},
			} {
				if out := k.ok("apply", "-f", step.file); out != step.want {
					t.Errorf("apply printed %q, want %q", out, step.want)
				}
				pod, err := client.CoreV1().Pods(k.ns).Get(ctx, "applied", metav1.GetOptions{})
				if err != nil {
					t.Fatalf("get applied pod: %v", err)
				}
				if pod.Labels["stage"] != step.label {
					t.Errorf("after apply: label stage=%q, want %q", pod.Labels["stage"], step.label)
				}
				if !strings.Contains(pod.Annotations[corev1.LastAppliedConfigAnnotation], `"stage":"`+step.label+`"`) {
					t.Errorf("last-applied-configuration %q does not record stage=%s", pod.Annotations[corev1.LastAppliedConfigAnnotation], step.label)
				}
			}
		})

		t.Run("apply-server-side", func(t *testing.T) {
			k := k.withT(t)
			manifest := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ssa\n  labels:\n    stage: %s\nspec:\n  containers:\n  - name: main\n    image: busybox\n"
			for _, stage := range []string{"one", "two"} {
				file := writeFile(t, "ssa.yaml", fmt.Sprintf(manifest, stage))
				if out := k.ok("apply", "--server-side", "-f", file); out != "pod/ssa serverside-applied\n" {
					t.Errorf("apply --server-side printed %q, want %q", out, "pod/ssa serverside-applied\n")
				}
				pod, err := client.CoreV1().Pods(k.ns).Get(ctx, "ssa", metav1.GetOptions{})
				if err != nil {
					t.Fatalf("get ssa pod: %v", err)
				}
				if pod.Labels["stage"] != stage {
					t.Errorf("after server-side apply: label stage=%q, want %q", pod.Labels["stage"], stage)
				}
				if !hasManager(pod.ManagedFields, "kubectl", metav1.ManagedFieldsOperationApply) {
					t.Errorf("managedFields %+v have no Apply entry for manager kubectl", pod.ManagedFields)
				}
			}
		})

		// kubectl migrates a client-side-applied object to server-side apply by rewriting managedFields; the
		// server's own additions (the service account token volume) must stay unowned so that the next
		// server-side apply does not try to remove them.
		t.Run("apply-client-then-server-side", func(t *testing.T) {
			k := k.withT(t)
			manifest := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: migrate\n  labels:\n    stage: %s\nspec:\n  containers:\n  - name: main\n    image: busybox\n"
			steps := []struct{ stage, flag, want string }{
				{"one", "", "pod/migrate created\n"},
				{"one", "--server-side", "pod/migrate serverside-applied\n"},
				{"two", "--server-side", "pod/migrate serverside-applied\n"},
			}
			for _, step := range steps {
				file := writeFile(t, "migrate.yaml", fmt.Sprintf(manifest, step.stage))
				args := []string{"apply", "-f", file}
				if step.flag != "" {
					args = append(args, step.flag)
				}
				res := k.run(args...)
				if res.code != 0 || res.stdout != step.want || res.stderr != "" {
					t.Fatalf("kubectl %v: exit %d, stdout %q, stderr %q; want exit 0, %q, no stderr", args, res.code, res.stdout, res.stderr, step.want)
				}
			}
		})

		t.Run("show-labels-and-label-columns", func(t *testing.T) {
			k := k.withT(t)
			if _, err := client.CoreV1().Pods(k.ns).Create(ctx, busyboxPod("lcols", map[string]string{"a": "1", "b": "2"}), metav1.CreateOptions{}); err != nil {
				t.Fatalf("create pod: %v", err)
			}
			rows := table(k.ok("get", "pods", "kubia", "--show-labels"))
			if len(rows) != 2 || rows[0][len(rows[0])-1] != "LABELS" || rows[1][len(rows[1])-1] != "run=kubia" {
				t.Errorf("--show-labels: rows %q, want a LABELS column with run=kubia", rows)
			}
			rows = table(k.ok("get", "po", "lcols", "-L", "a,b"))
			wantHeader := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "A", "B"}
			if len(rows) != 2 || !slices.Equal(rows[0], wantHeader) || !slices.Equal(rows[1][5:], []string{"1", "2"}) {
				t.Errorf("-L a,b: rows %q, want header %q and label values 1 2", rows, wantHeader)
			}
		})

		t.Run("label-selectors", func(t *testing.T) {
			assertSelectors(t, srv, k.withT(t))
		})

		t.Run("all-namespaces", func(t *testing.T) {
			rows := table(k.withT(t).ok("get", "pods", "-A"))
			if len(rows) < 2 || !slices.Equal(rows[0], []string{"NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"}) {
				t.Fatalf("get pods -A: header %q", rows)
			}
			if !slices.ContainsFunc(rows[1:], func(r []string) bool { return len(r) > 1 && r[0] == k.ns && r[1] == "kubia" }) {
				t.Errorf("get pods -A: no row for %s/kubia in %q", k.ns, rows)
			}
		})

		t.Run("describe-with-events", func(t *testing.T) {
			k := k.withT(t)
			pod, err := client.CoreV1().Pods(k.ns).Get(ctx, "kubia", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get kubia: %v", err)
			}
			message := fmt.Sprintf("Successfully assigned %s/kubia to node1", k.ns)
			createPodEvent(t, srv, pod, "Scheduled", message)
			out := k.ok("describe", "pod", "kubia")
			for _, field := range []string{"Name:", "Namespace:", "Status:"} {
				if !regexp.MustCompile(`(?m)^` + field + `\s+`).MatchString(out) {
					t.Errorf("describe has no %s line:\n%s", field, out)
				}
			}
			if !regexp.MustCompile(`(?m)^Status:\s+Pending$`).MatchString(out) {
				t.Errorf("describe: want Status: Pending:\n%s", out)
			}
			events := describeEvents(t, out)
			want := []string{"Normal", "Scheduled", "default-scheduler", message}
			if len(events) != 1 || len(events[0]) != 5 || !slices.Equal([]string{events[0][0], events[0][1], events[0][3], events[0][4]}, want) {
				t.Errorf("describe Events rows %q, want one row Type Reason Age From Message = %q", events, want)
			}
		})

		t.Run("label", func(t *testing.T) {
			k := k.withT(t)
			labelOf := func() (string, bool) {
				pod, err := client.CoreV1().Pods(k.ns).Get(ctx, "kubia", metav1.GetOptions{})
				if err != nil {
					t.Fatalf("get kubia: %v", err)
				}
				v, ok := pod.Labels["creation_method"]
				return v, ok
			}
			if out := k.ok("label", "po", "kubia", "creation_method=manual"); out != "pod/kubia labeled\n" {
				t.Errorf("label printed %q", out)
			}
			if v, _ := labelOf(); v != "manual" {
				t.Errorf("label creation_method = %q, want manual", v)
			}
			stderr := k.fails("label", "po", "kubia", "creation_method=auto")
			if !strings.Contains(stderr, "'creation_method' already has a value (manual), and --overwrite is false") {
				t.Errorf("label without --overwrite: stderr %q", stderr)
			}
			if out := k.ok("label", "po", "kubia", "creation_method=auto", "--overwrite"); out != "pod/kubia labeled\n" {
				t.Errorf("label --overwrite printed %q", out)
			}
			if v, _ := labelOf(); v != "auto" {
				t.Errorf("label creation_method = %q after --overwrite, want auto", v)
			}
			if out := k.ok("label", "po", "kubia", "creation_method-"); out != "pod/kubia unlabeled\n" {
				t.Errorf("label k- printed %q", out)
			}
			if v, ok := labelOf(); ok {
				t.Errorf("label creation_method = %q after k-, want it gone", v)
			}
		})

		t.Run("annotate", func(t *testing.T) {
			k := k.withT(t)
			want := "pod/kubia annotated\n"
			if k.version == "1.27" {
				want = "pod/kubia annotate\n" // kubectl 1.27's own wording
			}
			if out := k.ok("annotate", "pod", "kubia", "mycompany.com/someannotation=foo bar"); out != want {
				t.Errorf("annotate printed %q, want %q", out, want)
			}
			pod, err := client.CoreV1().Pods(k.ns).Get(ctx, "kubia", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get kubia: %v", err)
			}
			if got := pod.Annotations["mycompany.com/someannotation"]; got != "foo bar" {
				t.Errorf("annotation = %q, want %q", got, "foo bar")
			}
		})

		t.Run("delete", func(t *testing.T) {
			k := k.withT(t)
			for _, p := range []*corev1.Pod{
				busyboxPod("kubia-gpu", nil),
				busyboxPod("manual-1", map[string]string{"creation_method": "manual"}),
				busyboxPod("manual-2", map[string]string{"creation_method": "manual"}),
			} {
				if _, err := client.CoreV1().Pods(k.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					t.Fatalf("create %s: %v", p.Name, err)
				}
			}
			assertDeleted(t, k.ok("delete", "po", "kubia-gpu"), "pod", "kubia-gpu")
			assertDeleted(t, k.ok("delete", "po", "-l", "creation_method=manual"), "pod", "manual-1", "manual-2")
			remaining := podNames(t, srv, k.ns, "")
			if len(remaining) == 0 || slices.ContainsFunc(remaining, func(n string) bool { return n == "kubia-gpu" || strings.HasPrefix(n, "manual-") }) {
				t.Fatalf("after delete by name and -l: pods %q", remaining)
			}
			assertDeleted(t, k.ok("delete", "po", "--all"), "pod", remaining...)
			if left := podNames(t, srv, k.ns, ""); len(left) != 0 {
				t.Errorf("after delete --all: pods %q remain", left)
			}
		})
	})
}

// assertPendingRow checks NAME READY STATUS RESTARTS AGE of a single-container pod that has not started.
func assertPendingRow(t *testing.T, row []string, name string, cells int) {
	t.Helper()
	if len(row) != cells || row[0] != name || row[1] != "0/1" || row[2] != "Pending" || row[3] != "0" || !agePattern.MatchString(row[4]) {
		t.Errorf("row %q, want %s 0/1 Pending 0 <age> in %d cells", row, name, cells)
	}
}

// assertRunDefaults checks the fields Kubernetes fills in for `kubectl run kubia --image=busybox --port=8080`.
func assertRunDefaults(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if pod.UID == "" || pod.ResourceVersion == "" || pod.CreationTimestamp.IsZero() {
		t.Errorf("metadata not set: uid %q resourceVersion %q creationTimestamp %v", pod.UID, pod.ResourceVersion, pod.CreationTimestamp)
	}
	if pod.Generation != 1 {
		t.Errorf("generation = %d, want 1", pod.Generation)
	}
	if pod.Labels["run"] != "kubia" {
		t.Errorf("labels %v, want run=kubia", pod.Labels)
	}
	spec := pod.Spec
	checks := []struct {
		field     string
		got, want any
	}{
		{"spec.restartPolicy", spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"spec.dnsPolicy", spec.DNSPolicy, corev1.DNSClusterFirst},
		{"spec.schedulerName", spec.SchedulerName, corev1.DefaultSchedulerName},
		{"spec.serviceAccountName", spec.ServiceAccountName, "default"},
		{"spec.terminationGracePeriodSeconds", deref(spec.TerminationGracePeriodSeconds), int64(30)},
		{"spec.enableServiceLinks", deref(spec.EnableServiceLinks), true},
		{"spec.priority", deref(spec.Priority), int32(0)},
		{"spec.securityContext set", spec.SecurityContext != nil, true},
		{"status.phase", pod.Status.Phase, corev1.PodPending},
		{"status.qosClass", pod.Status.QOSClass, corev1.PodQOSBestEffort},
		{"containers", len(spec.Containers), 1},
	}
	if len(spec.Containers) == 1 {
		c := spec.Containers[0]
		checks = append(checks, []struct {
			field     string
			got, want any
		}{
			{"containers[0].name", c.Name, "kubia"},
			{"containers[0].image", c.Image, "busybox"},
			{"containers[0].imagePullPolicy", c.ImagePullPolicy, corev1.PullAlways},
			{"containers[0].terminationMessagePath", c.TerminationMessagePath, corev1.TerminationMessagePathDefault},
			{"containers[0].terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile},
			{"containers[0].ports", fmt.Sprint(c.Ports), fmt.Sprint([]corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}})},
		}...)
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	tolerated := map[string]bool{}
	for _, tol := range spec.Tolerations {
		if tol.Operator == corev1.TolerationOpExists && tol.Effect == corev1.TaintEffectNoExecute && deref(tol.TolerationSeconds) == any(int64(300)) {
			tolerated[tol.Key] = true
		}
	}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		if !tolerated[key] {
			t.Errorf("no default toleration of %s:NoExecute for 300s in %+v", key, spec.Tolerations)
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// createSeed runs `kubectl create -f` on one seed file, checks what it printed and what was stored, and
// deletes the object again (seed files reuse names).
func createSeed(t *testing.T, k *kubectl, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Kind     string
		Metadata metav1.ObjectMeta
		Spec     corev1.PodSpec
	}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if obj.Metadata.Namespace != "" {
		// kubectl refuses a --namespace that differs from the file's.
		c := *k
		c.ns = obj.Metadata.Namespace
		k = &c
	}
	want := fmt.Sprintf("%s/%s created\n", strings.ToLower(obj.Kind), obj.Metadata.Name)
	if out := k.ok("create", "-f", file); out != want {
		t.Errorf("create -f printed %q, want %q", out, want)
	}
	client := k.srv.client(t)
	ctx := context.Background()
	switch obj.Kind {
	case "Pod":
		pod, err := client.CoreV1().Pods(k.ns).Get(ctx, obj.Metadata.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get created pod: %v", err)
		}
		if got, want := containerNames(pod.Spec.Containers), containerNames(obj.Spec.Containers); !slices.Equal(got, want) {
			t.Errorf("stored containers %q, want %q", got, want)
		}
		if got, want := containerNames(pod.Spec.InitContainers), containerNames(obj.Spec.InitContainers); !slices.Equal(got, want) {
			t.Errorf("stored init containers %q, want %q", got, want)
		}
		// Kubernetes' ServiceAccount admission adds the projected kube-api-access-* token volume.
		var stored []string
		for _, v := range pod.Spec.Volumes {
			if !strings.HasPrefix(v.Name, "kube-api-access-") {
				stored = append(stored, v.Name)
			}
		}
		var want []string
		for _, v := range obj.Spec.Volumes {
			want = append(want, v.Name)
		}
		if !slices.Equal(stored, want) {
			t.Errorf("stored volumes %q (besides kube-api-access-*), want %q", stored, want)
		}
		if err := client.CoreV1().Pods(k.ns).Delete(ctx, obj.Metadata.Name, *metav1.NewDeleteOptions(0)); err != nil {
			t.Fatalf("delete pod: %v", err)
		}
		eventually(t, "seed pod gone", func() (bool, error) {
			_, err := client.CoreV1().Pods(k.ns).Get(ctx, obj.Metadata.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
	case "Secret":
		if err := client.CoreV1().Secrets(k.ns).Delete(ctx, obj.Metadata.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete secret: %v", err)
		}
	case "Namespace":
		if err := client.CoreV1().Namespaces().Delete(ctx, obj.Metadata.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete namespace: %v", err)
		}
		eventually(t, "seed namespace gone", func() (bool, error) {
			_, err := client.CoreV1().Namespaces().Get(ctx, obj.Metadata.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
	default:
		t.Fatalf("seed of unexpected kind %q", obj.Kind)
	}
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func hasManager(entries []metav1.ManagedFieldsEntry, manager string, op metav1.ManagedFieldsOperationType) bool {
	return slices.ContainsFunc(entries, func(e metav1.ManagedFieldsEntry) bool { return e.Manager == manager && e.Operation == op })
}

// assertSelectors checks each label selector form against an exact set, in a namespace of its own.
func assertSelectors(t *testing.T, srv *server, k *kubectl) {
	t.Helper()
	c := *k
	c.ns = srv.namespace(t, "selectors")
	k = &c
	client := srv.client(t)
	for name, labels := range map[string]map[string]string{
		"prod-web": {"env": "prod", "tier": "web"},
		"dev-db":   {"env": "dev", "tier": "db"},
		"qa":       {"env": "qa"},
		"web":      {"tier": "web"},
	} {
		if _, err := client.CoreV1().Pods(k.ns).Create(context.Background(), busyboxPod(name, labels), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		selector string
		want     []string
	}{
		{"env=prod", []string{"prod-web"}},
		{"env==dev", []string{"dev-db"}},
		{"env!=prod", []string{"dev-db", "qa", "web"}},
		{"env in (prod,dev)", []string{"dev-db", "prod-web"}},
		{"env notin (prod,dev)", []string{"qa", "web"}},
		{"env", []string{"dev-db", "prod-web", "qa"}},
		{"!env", []string{"web"}},
		{"tier=web,env!=prod", []string{"web"}},
		{"env=nope", nil},
	} {
		res := k.run("get", "pods", "-l", tc.selector)
		if res.code != 0 {
			t.Errorf("get pods -l %q: exit %d: %s", tc.selector, res.code, res.stderr)
			continue
		}
		if tc.want == nil {
			if res.stdout != "" || res.stderr != fmt.Sprintf("No resources found in %s namespace.\n", k.ns) {
				t.Errorf("get pods -l %q: stdout %q stderr %q, want No resources found", tc.selector, res.stdout, res.stderr)
			}
			continue
		}
		got := column(t, res.stdout, "NAME")
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("get pods -l %q = %q, want %q", tc.selector, got, tc.want)
		}
	}
}

// createPodEvent records a core/v1 Event about pod, as the scheduler would.
func createPodEvent(t *testing.T, srv *server, pod *corev1.Pod, reason, message string) {
	t.Helper()
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod.Name, time.Now().UnixNano()), Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
		},
		Reason:         reason,
		Message:        message,
		Type:           corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "default-scheduler"},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
	if _, err := srv.client(t).CoreV1().Events(pod.Namespace).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create event: %v", err)
	}
}

// describeEvents returns the rows of the Events table of `kubectl describe` output, after checking its header.
func describeEvents(t *testing.T, out string) [][]string {
	t.Helper()
	_, section, ok := strings.Cut(out, "\nEvents:\n")
	if !ok {
		t.Fatalf("describe has no Events section:\n%s", out)
	}
	rows := table(section)
	if len(rows) < 2 || !slices.Equal(rows[0], []string{"Type", "Reason", "Age", "From", "Message"}) || !slices.Equal(rows[1], []string{"----", "------", "----", "----", "-------"}) {
		t.Fatalf("describe Events header %q", rows)
	}
	return rows[2:]
}

// assertDeleted checks kubectl delete's lines: one `kind "name" deleted` per name, in any order.
func assertDeleted(t *testing.T, out, kind string, names ...string) {
	t.Helper()
	line := regexp.MustCompile(`^` + kind + ` "([^"]+)" deleted( from \S+ namespace)?$`)
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("delete printed line %q, want %s \"NAME\" deleted", l, kind)
			continue
		}
		got = append(got, m[1])
	}
	want := slices.Clone(names)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("delete reported %q, want %q", got, want)
	}
}

// podNames lists the pods of a namespace (optionally by label selector) through client-go.
func podNames(t *testing.T, srv *server, ns, selector string) []string {
	t.Helper()
	list, err := srv.client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// mergePatchLabel sets one label through client-go.
func mergePatchLabel(t *testing.T, srv *server, ns, pod, key, value string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, value)
	if _, err := srv.client(t).CoreV1().Pods(ns).Patch(context.Background(), pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("label %s: %v", pod, err)
	}
}

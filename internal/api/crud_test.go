package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestCreateFillsSystemFields(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	pod := testPod("", map[string]string{"app": "web"})
	pod.GenerateName = "web-"
	pod.Status.Phase = corev1.PodRunning // reset by PrepareForCreate
	created, err := ts.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{FieldManager: "tester"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	switch {
	case !strings.HasPrefix(created.Name, "web-") || len(created.Name) != len("web-")+5:
		t.Errorf("generated name %q", created.Name)
	case created.UID == "" || created.CreationTimestamp.IsZero() || created.ResourceVersion == "":
		t.Errorf("system fields missing: %+v", created.ObjectMeta)
	case created.Namespace != "default" || created.Generation != 1:
		t.Errorf("namespace %q generation %d", created.Namespace, created.Generation)
	case created.Status.Phase != corev1.PodPending || created.Spec.RestartPolicy != corev1.RestartPolicyAlways:
		t.Errorf("strategy not applied: phase %q restartPolicy %q", created.Status.Phase, created.Spec.RestartPolicy)
	case len(created.ManagedFields) != 1 || created.ManagedFields[0].Manager != "tester":
		t.Errorf("managedFields %+v", created.ManagedFields)
	}
	got, err := ts.client.CoreV1().Pods("default").Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.ResourceVersion != created.ResourceVersion || got.UID != created.UID {
		t.Errorf("get returned rv %s uid %s, created rv %s uid %s", got.ResourceVersion, got.UID, created.ResourceVersion, created.UID)
	}
}

func TestCreateDryRunStoresNothing(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	created, err := ts.client.CoreV1().Pods("default").Create(ctx, testPod("dry", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || created.UID == "" || created.Status.Phase != corev1.PodPending {
		t.Fatalf("dry-run create: %v %+v", err, created)
	}
	if _, err := ts.client.CoreV1().Pods("default").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run pod was stored: %v", err)
	}
}

func TestCreateErrors(t *testing.T) {
	ts := newTestServer(t)
	ts.createPod("taken", nil)
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "closing", Finalizers: []string{"test/hold"}}}
	if _, err := ts.client.CoreV1().Namespaces().Create(context.Background(), terminating, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	if err := ts.client.CoreV1().Namespaces().Delete(context.Background(), "closing", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	tests := []struct {
		name, path, body string
		wantCode         int
		wantReason       metav1.StatusReason
		wantMessage      string
	}{
		{"exists", "/api/v1/namespaces/default/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"taken"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
			409, metav1.StatusReasonAlreadyExists, `pods "taken" already exists`},
		{"invalid", "/api/v1/namespaces/default/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c"}]}}`,
			422, metav1.StatusReasonInvalid, `Pod "x" is invalid: spec.containers[0].image: Required value`},
		{"namespace mismatch", "/api/v1/namespaces/default/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"other"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
			400, metav1.StatusReasonBadRequest, "the namespace of the provided object does not match the namespace sent on the request"},
		{"missing namespace", "/api/v1/namespaces/nowhere/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
			404, metav1.StatusReasonNotFound, `namespaces "nowhere" not found`},
		{"terminating namespace", "/api/v1/namespaces/closing/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i"}]}}`,
			403, metav1.StatusReasonForbidden, `pods "x" is forbidden: unable to create new content in namespace closing because it is being terminated`},
		{"unknown field strict", "/api/v1/namespaces/default/pods?fieldValidation=Strict", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"foo":1,"containers":[{"name":"c","image":"i"}]}}`,
			400, metav1.StatusReasonBadRequest, `strict decoding error: unknown field "spec.foo"`},
		{"post to a named path", "/api/v1/namespaces/default/pods/x", `{}`,
			405, metav1.StatusReasonMethodNotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, header, body := ts.do(http.MethodPost, tc.path, "application/json", "", tc.body)
			status := decodeStatus(t, body)
			if code != tc.wantCode || status.Reason != tc.wantReason || !strings.Contains(status.Message, tc.wantMessage) {
				t.Errorf("= %d %s", code, body)
			}
			if header.Get("Content-Type") != "application/json" || status.Kind != "Status" || status.APIVersion != "v1" || status.Status != metav1.StatusFailure {
				t.Errorf("not a Status: %q %s", header.Get("Content-Type"), body)
			}
		})
	}
}

func TestInvalidCausesNameTheField(t *testing.T) {
	ts := newTestServer(t)
	_, err := ts.client.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
	}, metav1.CreateOptions{})
	status, ok := err.(apierrors.APIStatus)
	if !ok || !apierrors.IsInvalid(err) {
		t.Fatalf("err = %v, want Invalid", err)
	}
	fields := map[string]bool{}
	for _, c := range status.Status().Details.Causes {
		fields[c.Field] = true
	}
	if !fields["metadata.name"] || !fields["spec.containers[0].image"] {
		t.Errorf("causes %+v", status.Status().Details.Causes)
	}
}

func TestUpdate(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	pod := ts.createPod("u", nil)

	changed := pod.DeepCopy()
	changed.Labels = map[string]string{"v": "2"}
	changed.Status.Phase = corev1.PodRunning // the main resource may not change status
	changed.CreationTimestamp = metav1.Now()
	updated, err := pods.Update(ctx, changed, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.Labels["v"] != "2" || updated.Status.Phase != corev1.PodPending || !updated.CreationTimestamp.Equal(&pod.CreationTimestamp) {
		t.Errorf("update result: labels %v phase %s created %v", updated.Labels, updated.Status.Phase, updated.CreationTimestamp)
	}
	if updated.ResourceVersion == pod.ResourceVersion {
		t.Errorf("resourceVersion did not change")
	}

	// A stale resourceVersion is Kubernetes' conflict.
	_, err = pods.Update(ctx, changed, metav1.UpdateOptions{})
	want := `Operation cannot be fulfilled on pods "u": the object has been modified; please apply your changes to the latest version and try again`
	if !apierrors.IsConflict(err) || err.Error() != want {
		t.Errorf("stale update: %v", err)
	}

	// An update that changes nothing keeps the resourceVersion.
	again, err := pods.Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil || again.ResourceVersion != updated.ResourceVersion {
		t.Errorf("no-op update: rv %s -> %s, %v", updated.ResourceVersion, again.ResourceVersion, err)
	}

	// Without a resourceVersion the update is unconditional.
	unconditional := again.DeepCopy()
	unconditional.ResourceVersion = ""
	unconditional.Labels["v"] = "3"
	if _, err := pods.Update(ctx, unconditional, metav1.UpdateOptions{}); err != nil {
		t.Errorf("unconditional update: %v", err)
	}

	// The status subresource changes status only.
	st := again.DeepCopy()
	st.ResourceVersion = ""
	st.Status.Phase = corev1.PodRunning
	st.Labels = map[string]string{"ignored": "yes"}
	afterStatus, err := pods.UpdateStatus(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if afterStatus.Status.Phase != corev1.PodRunning || afterStatus.Labels["v"] != "3" || afterStatus.Labels["ignored"] != "" {
		t.Errorf("status update: phase %s labels %v", afterStatus.Status.Phase, afterStatus.Labels)
	}

	code, _, body := ts.do(http.MethodPut, "/api/v1/namespaces/default/pods/other", "application/json", "",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"u"},"spec":{"containers":[{"name":"c","image":"i"}]}}`)
	if s := decodeStatus(t, body); code != 400 || s.Message != "the name of the object (u) does not match the name on the URL (other)" {
		t.Errorf("name mismatch: %d %s", code, body)
	}
	code, _, body = ts.do(http.MethodPut, "/api/v1/namespaces/default/pods/missing", "application/json", "",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"missing"},"spec":{"containers":[{"name":"c","image":"i"}]}}`)
	if s := decodeStatus(t, body); code != 404 || s.Message != `pods "missing" not found` {
		t.Errorf("update of a missing pod: %d %s", code, body)
	}
}

func TestPatch(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	pod := ts.createPod("p", map[string]string{"a": "1", "b": "2"})

	patched, err := pods.Patch(ctx, "p", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":null,"c":"3"}}}`), metav1.PatchOptions{FieldManager: "kubectl-label"})
	if err != nil {
		t.Fatalf("merge patch: %v", err)
	}
	if _, has := patched.Labels["a"]; has || patched.Labels["c"] != "3" || patched.Labels["b"] != "2" {
		t.Errorf("labels %v", patched.Labels)
	}
	if patched.UID != pod.UID || patched.Generation != pod.Generation {
		t.Errorf("metadata not carried over")
	}

	_, err = pods.Patch(ctx, "p", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"`+pod.ResourceVersion+`","labels":{"d":"4"}}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("patch with a stale resourceVersion: %v", err)
	}

	strategic, err := pods.Patch(ctx, "p", types.StrategicMergePatchType, []byte(`{"spec":{"containers":[{"name":"c","image":"nginx"}]}}`), metav1.PatchOptions{})
	if err != nil || len(strategic.Spec.Containers) != 1 || strategic.Spec.Containers[0].Image != "nginx" {
		t.Errorf("strategic patch: %v %+v", err, strategic)
	}

	statusPatched, err := pods.Patch(ctx, "p", types.MergePatchType, []byte(`{"status":{"phase":"Running"}}`), metav1.PatchOptions{}, "status")
	if err != nil || statusPatched.Status.Phase != corev1.PodRunning {
		t.Errorf("status patch: %v", err)
	}

	_, err = pods.Patch(ctx, "nope", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("patch of a missing pod: %v", err)
	}

	// Server-side apply creates (201), then updates (200).
	apply := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"applied","labels":{"x":"1"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`
	code, _, body := ts.do(http.MethodPatch, "/api/v1/namespaces/default/pods/applied?fieldManager=kubectl&force=false", "application/apply-patch+yaml", "", apply)
	if code != http.StatusCreated {
		t.Fatalf("apply create: %d %s", code, body)
	}
	code, _, body = ts.do(http.MethodPatch, "/api/v1/namespaces/default/pods/applied?fieldManager=kubectl&force=false", "application/apply-patch+yaml", "",
		strings.Replace(apply, `"x":"1"`, `"x":"2"`, 1))
	if code != http.StatusOK || !strings.Contains(string(body), `"x":"2"`) {
		t.Errorf("apply update: %d %s", code, body)
	}
	code, _, body = ts.do(http.MethodPatch, "/api/v1/namespaces/default/pods/p", "text/plain", "", "{}")
	if code != http.StatusUnsupportedMediaType {
		t.Errorf("unknown patch type: %d %s", code, body)
	}
}

func TestListSelectorsAndPaging(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	for name, labels := range map[string]map[string]string{
		"a": {"env": "prod", "tier": "web"},
		"b": {"env": "dev", "tier": "web"},
		"c": {"env": "prod"},
		"d": {},
	} {
		ts.createPod(name, labels)
	}
	tests := []struct {
		selector string
		want     string
	}{
		{"env=prod", "a,c"},
		{"env==prod", "a,c"},
		{"env!=prod", "b,d"},
		{"env in (dev,prod)", "a,b,c"},
		{"env notin (dev)", "a,c,d"},
		{"tier", "a,b"},
		{"!tier", "c,d"},
		{"env=prod,tier=web", "a"},
	}
	for _, tc := range tests {
		list, err := ts.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: tc.selector})
		if err != nil {
			t.Fatalf("%s: %v", tc.selector, err)
		}
		if got := podNames(list.Items); got != tc.want {
			t.Errorf("-l %s = %s, want %s", tc.selector, got, tc.want)
		}
		if list.ResourceVersion == "" {
			t.Errorf("list without resourceVersion")
		}
	}

	list, err := ts.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=b,metadata.namespace=default"})
	if err != nil || podNames(list.Items) != "b" {
		t.Errorf("field selector: %v %v", err, list)
	}
	_, err = ts.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.foo=x"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "field label not supported: spec.foo") {
		t.Errorf("unsupported field: %v", err)
	}

	var names []string
	opts := metav1.ListOptions{Limit: 3}
	for page := 0; page < 5; page++ {
		list, err := ts.client.CoreV1().Pods("default").List(ctx, opts)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		if list.Continue == "" {
			break
		}
		if page == 0 && (list.RemainingItemCount == nil || *list.RemainingItemCount != 1) {
			t.Errorf("remainingItemCount %v", list.RemainingItemCount)
		}
		opts.Continue = list.Continue
	}
	if strings.Join(names, ",") != "a,b,c,d" {
		t.Errorf("paged names %v", names)
	}
}

func podNames(pods []corev1.Pod) string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return strings.Join(names, ",")
}

func TestDelete(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")

	// An unbound pod goes at once; the pod is returned.
	ts.createPod("unbound", nil)
	code, _, body := ts.do(http.MethodDelete, "/api/v1/namespaces/default/pods/unbound", "application/json", "", `{"propagationPolicy":"Background"}`)
	if code != 200 || !strings.Contains(string(body), `"kind":"Pod"`) {
		t.Errorf("delete unbound: %d %s", code, body)
	}
	if _, err := pods.Get(ctx, "unbound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("unbound pod still there: %v", err)
	}

	// A bound pod is deleted gracefully, and a shorter grace period moves the deadline.
	bound := testPod("bound", nil)
	bound.Spec.NodeName = "n1"
	if _, err := pods.Create(ctx, bound, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](30)}); err != nil {
		t.Fatalf("graceful delete: %v", err)
	}
	got, err := pods.Get(ctx, "bound", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil || *got.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("after graceful delete: %v %+v", err, got)
	}
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](5)}); err != nil {
		t.Fatalf("shorter delete: %v", err)
	}
	got, _ = pods.Get(ctx, "bound", metav1.GetOptions{})
	if *got.DeletionGracePeriodSeconds != 5 {
		t.Errorf("grace period %d, want 5", *got.DeletionGracePeriodSeconds)
	}
	// The node confirms with grace period 0: the pod is removed.
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatalf("confirm delete: %v", err)
	}
	if _, err := pods.Get(ctx, "bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("bound pod still there after grace 0: %v", err)
	}

	// Preconditions.
	p := ts.createPod("pre", nil)
	err = pods.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(types.UID("other"))}})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "the UID in the precondition (other) does not match the UID in record ("+string(p.UID)+")") {
		t.Errorf("uid precondition: %v", err)
	}
	err = pods.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To("1")}})
	if !apierrors.IsConflict(err) {
		t.Errorf("resourceVersion precondition: %v", err)
	}
	if err := pods.Delete(ctx, "pre", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("dry-run delete: %v", err)
	}
	if _, err := pods.Get(ctx, "pre", metav1.GetOptions{}); err != nil {
		t.Errorf("dry-run deleted the pod: %v", err)
	}

	// Finalizers keep an object until they are removed; then the next write removes it.
	fin := testPod("fin", nil)
	fin.Finalizers = []string{"test/keep"}
	if _, err := pods.Create(ctx, fin, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := pods.Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete with finalizer: %v", err)
	}
	kept, err := pods.Get(ctx, "fin", metav1.GetOptions{})
	if err != nil || kept.DeletionTimestamp == nil {
		t.Fatalf("finalized pod: %v %+v", err, kept)
	}
	if _, err := pods.Patch(ctx, "fin", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("remove finalizer: %v", err)
	}
	if _, err := pods.Get(ctx, "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod without finalizers still there: %v", err)
	}

	// Other resources answer an immediate delete with a Success Status.
	if _, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create configmap: %v", err)
	}
	code, _, body = ts.do(http.MethodDelete, "/api/v1/namespaces/default/configmaps/cm", "", "", "")
	if s := decodeStatus(t, body); code != 200 || s.Status != metav1.StatusSuccess || s.Details == nil || s.Details.Name != "cm" || s.Details.Kind != "configmaps" {
		t.Errorf("configmap delete: %d %s", code, body)
	}
	code, _, body = ts.do(http.MethodDelete, "/api/v1/namespaces/default/configmaps/cm", "", "", "")
	if s := decodeStatus(t, body); code != 404 || s.Message != `configmaps "cm" not found` {
		t.Errorf("second delete: %d %s", code, body)
	}
}

func TestDeleteCollection(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.createPod("x1", map[string]string{"del": "yes"})
	ts.createPod("x2", map[string]string{"del": "yes"})
	ts.createPod("keep", nil)
	if err := ts.client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "del=yes"}); err != nil {
		t.Fatalf("deletecollection: %v", err)
	}
	list, err := ts.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil || podNames(list.Items) != "keep" {
		t.Errorf("left: %v %s", err, podNames(list.Items))
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	namespaces := ts.client.CoreV1().Namespaces()
	if _, err := namespaces.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := namespaces.Delete(ctx, "team", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	ns, err := namespaces.Get(ctx, "team", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
		t.Fatalf("terminating namespace: %v %+v", err, ns)
	}
	err = namespaces.Delete(ctx, "team", metav1.DeleteOptions{})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "The system is ensuring all content is removed from this namespace") {
		t.Errorf("second delete: %v", err)
	}
	ns.Spec.Finalizers = nil
	if _, err := namespaces.Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("finalize: %v", err)
	}
	if _, err := namespaces.Get(ctx, "team", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("finalized namespace still there: %v", err)
	}
}

func TestBinding(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.createPod("b", nil)
	binding := `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"b"},"target":{"kind":"Node","name":"node1"}}`
	code, _, body := ts.do(http.MethodPost, "/api/v1/namespaces/default/pods/b/binding", "application/json", "", binding)
	if s := decodeStatus(t, body); code != 201 || s.Status != metav1.StatusSuccess || s.Code != 201 {
		t.Fatalf("bind: %d %s", code, body)
	}
	pod, err := ts.client.CoreV1().Pods("default").Get(ctx, "b", metav1.GetOptions{})
	if err != nil || pod.Spec.NodeName != "node1" || len(pod.Status.Conditions) != 1 || pod.Status.Conditions[0].Type != corev1.PodScheduled {
		t.Fatalf("bound pod: %v %+v", err, pod)
	}
	code, _, body = ts.do(http.MethodPost, "/api/v1/namespaces/default/pods/b/binding", "application/json", "", strings.Replace(binding, "node1", "node2", 1))
	if s := decodeStatus(t, body); code != 409 || s.Message != `Operation cannot be fulfilled on pods/binding "b": pod b is already assigned to node "node1"` {
		t.Errorf("second bind: %d %s", code, body)
	}
}

func TestWarningsHeader(t *testing.T) {
	ts := newTestServer(t)
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"w","annotations":{"test/warn":"careful"}},"spec":{"foo":1,"containers":[{"name":"c","image":"i"}]}}`
	code, header, body := ts.do(http.MethodPost, "/api/v1/namespaces/default/pods", "application/json", "", pod)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	got := strings.Join(header.Values("Warning"), "\n")
	for _, want := range []string{`299 - "test warning: careful"`, `299 - "unknown field \"spec.foo\""`} {
		if !strings.Contains(got, want) {
			t.Errorf("Warning headers %q lack %q", got, want)
		}
	}
}

func TestProtobufAndYAMLBodies(t *testing.T) {
	ts := newTestServer(t)
	var buf strings.Builder
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "pb"}, Data: map[string]string{"k": "v"}}
	data, err := ts.handler.codec.encode(ts.handler.cfg.Registry.Resources[2], cm)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	buf.Write(data)
	code, header, body := ts.do(http.MethodPost, "/api/v1/namespaces/default/configmaps", "application/vnd.kubernetes.protobuf", "", buf.String())
	if code != 201 || header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"data":{"k":"v"}`) {
		t.Errorf("protobuf create: %d %s", code, body)
	}
	code, _, body = ts.do(http.MethodPost, "/api/v1/namespaces/default/configmaps", "application/yaml", "", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yml\ndata:\n  a: b\n")
	if code != 201 || !strings.Contains(string(body), `"data":{"a":"b"}`) {
		t.Errorf("yaml create: %d %s", code, body)
	}
}

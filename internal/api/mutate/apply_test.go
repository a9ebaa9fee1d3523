package mutate

import (
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
)

// applyPod is the YAML `kubectl apply --server-side` sends for a one-container pod.
func applyPod(image string, extra string) []byte {
	return []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\n  namespace: default\n" + extra +
		"spec:\n  containers:\n  - name: kubia\n    image: " + image + "\n")
}

// stored stands in for the store: it gives a created object its uid, as the API layer does before saving.
func stored(obj runtime.Object) runtime.Object {
	obj.(metav1.Object).SetUID("5d3f9c62-0d0e-4a4e-9d8e-1f5b0f7a2c11")
	return obj
}

func TestApply(t *testing.T) {
	m := newTestMutator(t)
	res := podResource()
	opts := func(manager string, force bool) PatchOptions {
		return PatchOptions{FieldManager: manager, Force: force, FieldValidation: "Strict", Name: "kubia", Namespace: "default"}
	}

	// Apply creates.
	created, _, err := m.Patch(res, nil, types.ApplyYAMLPatchType, applyPod("luksa/kubia", "  labels:\n    app: kubia\n"), opts("kubectl", false))
	if err != nil {
		t.Fatalf("apply create: %v", err)
	}
	pod := created.(*corev1.Pod)
	if pod.Name != "kubia" || pod.Namespace != "default" || pod.Labels["app"] != "kubia" || pod.Spec.Containers[0].Image != "luksa/kubia" {
		t.Fatalf("created %+v", pod)
	}
	if pod.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("apply result not defaulted by the strategy: %+v", pod.Spec.Containers[0])
	}
	entry, owned := managedEntry(t, pod, "kubectl")
	if entry.Operation != metav1.ManagedFieldsOperationApply || entry.APIVersion != "v1" || entry.Subresource != "" {
		t.Errorf("entry %+v", entry)
	}
	for _, p := range []fieldpath.Path{containerPath("kubia", "image"), fieldpath.MakePathOrDie("metadata", "labels", "app")} {
		if !owned.Has(p) {
			t.Errorf("kubectl does not own %v: %v", p, owned)
		}
	}
	if owned.Has(containerPath("kubia", "imagePullPolicy")) {
		t.Errorf("kubectl owns a defaulted field it never applied")
	}
	live := stored(created)

	// Apply updates: the same manager changes the image and drops the label it no longer applies.
	before := live.DeepCopyObject()
	updated, _, err := m.Patch(res, live, types.ApplyYAMLPatchType, applyPod("luksa/kubia:v2", ""), opts("kubectl", false))
	if err != nil {
		t.Fatalf("apply update: %v", err)
	}
	if !apiequality.Semantic.DeepEqual(before, live) {
		t.Errorf("apply modified the live object")
	}
	pod = updated.(*corev1.Pod)
	if pod.Spec.Containers[0].Image != "luksa/kubia:v2" || pod.UID != live.(*corev1.Pod).UID {
		t.Errorf("updated %+v", pod)
	}
	if _, ok := pod.Labels["app"]; ok {
		t.Errorf("label app kept after its only manager stopped applying it: %v", pod.Labels)
	}
	live = updated

	// Another manager applying a different image conflicts.
	_, _, err = m.Patch(res, live, types.ApplyYAMLPatchType, applyPod("nginx", ""), opts("deployer", false))
	status := statusOf(t, err)
	wantMessage := `Apply failed with 1 conflict: conflict with "kubectl": .spec.containers[name="kubia"].image`
	if status.Code != http.StatusConflict || status.Reason != metav1.StatusReasonConflict || status.Message != wantMessage {
		t.Fatalf("conflict: got %d %s %q, want 409 Conflict %q", status.Code, status.Reason, status.Message, wantMessage)
	}
	if c := status.Details.Causes; len(c) != 1 || c[0].Type != metav1.CauseTypeFieldManagerConflict ||
		c[0].Field != `.spec.containers[name="kubia"].image` || c[0].Message != `conflict with "kubectl"` {
		t.Errorf("causes %+v", status.Details.Causes)
	}

	// Applying the same value is shared ownership, not a conflict.
	shared, _, err := m.Patch(res, live, types.ApplyYAMLPatchType, applyPod("luksa/kubia:v2", ""), opts("deployer", false))
	if err != nil {
		t.Fatalf("apply of an equal value: %v", err)
	}
	for _, manager := range []string{"kubectl", "deployer"} {
		if _, owned := managedEntry(t, shared, manager); !owned.Has(containerPath("kubia", "image")) {
			t.Errorf("%s does not co-own the image", manager)
		}
	}

	// Force takes ownership.
	forced, _, err := m.Patch(res, live, types.ApplyYAMLPatchType, applyPod("nginx", ""), opts("deployer", true))
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if img := forced.(*corev1.Pod).Spec.Containers[0].Image; img != "nginx" {
		t.Errorf("image %q after force, want nginx", img)
	}
	if _, owned := managedEntry(t, forced, "deployer"); !owned.Has(containerPath("kubia", "image")) {
		t.Errorf("deployer does not own the image after force")
	}
	if _, owned := managedEntry(t, forced, "kubectl"); owned.Has(containerPath("kubia", "image")) {
		t.Errorf("kubectl still owns the image after deployer forced it")
	}
}

func TestApplyConflictWithUpdater(t *testing.T) {
	m := newTestMutator(t)
	res := podResource()
	created, err := m.UpdateManagedFields(res, storedPod(), nil, "kubectl-create", "")
	if err != nil {
		t.Fatal(err)
	}
	// Two fields owned by two managers: one set at create, one by a later merge patch.
	labelled, _, err := m.Patch(res, created, types.MergePatchType, []byte(`{"metadata":{"labels":{"app":"web"}}}`), PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if labelled, err = m.UpdateManagedFields(res, labelled, created, "kubectl-label", ""); err != nil {
		t.Fatal(err)
	}

	_, _, err = m.Patch(res, labelled, types.ApplyYAMLPatchType, applyPod("nginx", "  labels:\n    app: other\n"),
		PatchOptions{FieldManager: "kubectl", Name: "kubia", Namespace: "default"})
	status := statusOf(t, err)
	if status.Code != http.StatusConflict {
		t.Fatalf("got %d %q, want 409", status.Code, status.Message)
	}
	// Update managers are printed with the version they wrote, grouped and sorted by manager.
	want := "Apply failed with 2 conflicts: conflicts with \"kubectl-create\" using v1:\n" +
		"- .spec.containers[name=\"kubia\"].image\n" +
		"conflicts with \"kubectl-label\" using v1:\n" +
		"- .metadata.labels.app"
	if status.Message != want {
		t.Fatalf("message:\n%s\nwant:\n%s", status.Message, want)
	}
}

func TestApplyErrors(t *testing.T) {
	m := newTestMutator(t)
	tests := []struct {
		name            string
		current         runtime.Object
		patch           string
		fieldValidation string
		wantCode        int32
		wantMessage     string
		wantWarnings    []string
	}{
		{name: "unknown field", patch: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\nspec:\n  foo: 1\n",
			wantCode: http.StatusInternalServerError, wantMessage: "failed to create typed patch object (/kubia; /v1, Kind=Pod): .spec.foo: field not declared in schema"},
		{name: "duplicate key strict", fieldValidation: "Strict", patch: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\n  name: kubia\n",
			wantCode: http.StatusBadRequest, wantMessage: "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  line 5: key \"name\" already set in map"},
		{name: "duplicate key warn", fieldValidation: "Warn", patch: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\n  name: kubia\n",
			wantWarnings: []string{`line 5: key "name" already set in map`}},
		{name: "wrong version", patch: "apiVersion: v2\nkind: Pod\nmetadata:\n  name: kubia\n",
			wantCode: http.StatusBadRequest, wantMessage: "invalid object type: /v2, Kind=Pod"},
		{name: "managedFields in the patch", patch: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\n  managedFields: []\n",
			wantCode: http.StatusBadRequest, wantMessage: "metadata.managedFields must be nil"},
		{name: "not yaml", patch: "{",
			wantCode: http.StatusBadRequest, wantMessage: "error decoding YAML: error converting YAML to JSON: yaml: line 1: did not find expected node content"},
		{name: "name differs from the URL", patch: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: other\n",
			wantCode: http.StatusBadRequest, wantMessage: "the name of the object (other) does not match the name on the URL (kubia)"},
		{name: "create claiming a uid", patch: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\n  uid: abc\n",
			wantCode: http.StatusConflict, wantMessage: `Operation cannot be fulfilled on pods "kubia": uid mismatch: the provided object specified uid abc, and no existing object was found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warnings, err := m.Patch(podResource(), tt.current, types.ApplyYAMLPatchType, []byte(tt.patch),
				PatchOptions{FieldManager: "kubectl", FieldValidation: tt.fieldValidation, Name: "kubia", Namespace: "default"})
			if tt.wantCode == 0 {
				if err != nil || strings.Join(warnings, "|") != strings.Join(tt.wantWarnings, "|") {
					t.Fatalf("err %v warnings %q, want warnings %q", err, warnings, tt.wantWarnings)
				}
				return
			}
			status := statusOf(t, err)
			if status.Code != tt.wantCode || status.Message != tt.wantMessage {
				t.Fatalf("got %d %q\nwant %d %q", status.Code, status.Message, tt.wantCode, tt.wantMessage)
			}
		})
	}
}

func TestApplyStatusSubresource(t *testing.T) {
	m := newTestMutator(t)
	res := podResource()
	live, _, err := m.Patch(res, nil, types.ApplyYAMLPatchType, applyPod("luksa/kubia", ""), PatchOptions{FieldManager: "kubectl", Name: "kubia", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	live = stored(live)
	patch := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\n  namespace: default\nstatus:\n  phase: Running\n  podIP: 10.42.0.5\n"
	obj, _, err := m.Patch(res, live, types.ApplyYAMLPatchType, []byte(patch), PatchOptions{FieldManager: "peapod-agent", Subresource: "status", Name: "kubia", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	entry, owned := managedEntry(t, obj, "peapod-agent")
	if entry.Subresource != "status" || !owned.Has(fieldpath.MakePathOrDie("status", "podIP")) {
		t.Errorf("status apply entry %+v owns %v", entry, owned)
	}
	// The main-resource manager keeps its spec fields.
	if _, owned := managedEntry(t, obj, "kubectl"); !owned.Has(containerPath("kubia", "image")) {
		t.Errorf("kubectl lost the image to a status write")
	}
}

func TestUpdateManagedFields(t *testing.T) {
	m := newTestMutator(t)
	res := podResource()

	// Create: the creator owns what it sent, not the status the strategy resets.
	created, err := m.UpdateManagedFields(res, storedPod(), nil, "kubectl-create", "")
	if err != nil {
		t.Fatal(err)
	}
	entry, owned := managedEntry(t, created, "kubectl-create")
	if entry.Operation != metav1.ManagedFieldsOperationUpdate || entry.APIVersion != "v1" || entry.Time == nil || entry.FieldsType != "FieldsV1" {
		t.Errorf("create entry %+v", entry)
	}
	for _, p := range []fieldpath.Path{containerPath("kubia", "image"), containerPath("kubia", "ports"), fieldpath.MakePathOrDie("metadata", "labels", "app")} {
		if !owned.Has(p) {
			t.Errorf("creator does not own %v", p)
		}
	}
	if owned.Has(fieldpath.MakePathOrDie("status", "phase")) {
		t.Errorf("creator owns status.phase through the main resource")
	}

	// Update by another manager: it owns only what it changed; the creator keeps the rest.
	next := created.DeepCopyObject().(*corev1.Pod)
	next.Labels["env"] = "prod"
	updated, err := m.UpdateManagedFields(res, next, created, "kubectl-label", "")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(updated.(*corev1.Pod).ManagedFields); n != 2 {
		t.Fatalf("%d managedFields entries, want 2: %+v", n, updated.(*corev1.Pod).ManagedFields)
	}
	_, owned = managedEntry(t, updated, "kubectl-label")
	if !owned.Has(fieldpath.MakePathOrDie("metadata", "labels", "env")) || owned.Has(containerPath("kubia", "image")) {
		t.Errorf("label manager owns %v", owned)
	}
	if _, owned := managedEntry(t, updated, "kubectl-create"); !owned.Has(containerPath("kubia", "image")) {
		t.Errorf("creator lost the image")
	}

	// A status write is recorded with its subresource and owns status only.
	withStatus := updated.DeepCopyObject().(*corev1.Pod)
	withStatus.Status.Phase = corev1.PodRunning
	withStatus.Status.PodIP = "10.42.0.5"
	statusWritten, err := m.UpdateManagedFields(res, withStatus, updated, "peapod-agent", "status")
	if err != nil {
		t.Fatal(err)
	}
	entry, owned = managedEntry(t, statusWritten, "peapod-agent")
	if entry.Subresource != "status" || !owned.Has(fieldpath.MakePathOrDie("status", "podIP")) || !owned.Has(fieldpath.MakePathOrDie("status", "phase")) {
		t.Errorf("status entry %+v owns %v", entry, owned)
	}
}

// TestApplyAfterClientSideApply checks the upgrade path kube-apiserver offers: an object created by
// client-side apply (last-applied annotation, manager kubectl-client-side-apply) can be taken over by
// `kubectl apply --server-side` of the same file without conflicts.
func TestApplyAfterClientSideApply(t *testing.T) {
	m := newTestMutator(t)
	res := podResource()
	pod := storedPod()
	pod.Annotations = map[string]string{lastAppliedAnnotation: `{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},"labels":{"app":"kubia"},"name":"kubia","namespace":"default"},"spec":{"containers":[{"image":"luksa/kubia","name":"kubia","ports":[{"containerPort":8080}]}]}}`}
	created, err := m.UpdateManagedFields(res, pod, nil, "kubectl-client-side-apply", "")
	if err != nil {
		t.Fatal(err)
	}
	patch := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\n  namespace: default\n  labels:\n    app: kubia\nspec:\n  containers:\n  - name: kubia\n    image: luksa/kubia:v2\n    ports:\n    - containerPort: 8080\n"
	obj, _, err := m.Patch(res, created, types.ApplyYAMLPatchType, []byte(patch), PatchOptions{FieldManager: "kubectl", Name: "kubia", Namespace: "default"})
	if err != nil {
		t.Fatalf("server-side apply over client-side apply: %v", err)
	}
	if img := obj.(*corev1.Pod).Spec.Containers[0].Image; img != "luksa/kubia:v2" {
		t.Errorf("image %q", img)
	}
}

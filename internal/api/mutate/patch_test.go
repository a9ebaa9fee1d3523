package mutate

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

func TestPatch(t *testing.T) {
	m := newTestMutator(t)
	res := podResource()

	// kubectl apply -f of a changed file: the image changes, label tier goes, label env comes. The patch is
	// the bytes kubectl 1.27..1.33 send (3-way: the stored last-applied lists tier, the file does not).
	clientSideApply := `{"metadata":{"annotations":{"` + lastAppliedAnnotation + `":"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"kubia\",\"env\":\"prod\"},\"name\":\"kubia\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{\"image\":\"luksa/kubia:v2\",\"name\":\"kubia\",\"ports\":[{\"containerPort\":8080}]}]}}\n"},"labels":{"env":"prod","tier":null}},"spec":{"$setElementOrder/containers":[{"name":"kubia"}],"containers":[{"image":"luksa/kubia:v2","name":"kubia"}]}}`

	twoContainers := func() runtime.Object {
		pod := storedPod()
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent})
		pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		return pod
	}
	withLabels := func(labels map[string]string) func() runtime.Object {
		return func() runtime.Object {
			pod := storedPod()
			maps.Copy(pod.Labels, labels)
			return pod
		}
	}

	tests := []struct {
		name            string
		current         func() runtime.Object
		patchType       types.PatchType
		patch           string
		fieldValidation string
		check           func(t *testing.T, pod *corev1.Pod)
		wantWarnings    []string
		wantCode        int32
		wantMessage     string
		wantCause       string // message of the only cause, when the status has causes
	}{
		{
			name: "kubectl client-side apply", current: withLabels(map[string]string{"tier": "web", "owner": "ops"}),
			patchType: types.StrategicMergePatchType, patch: clientSideApply, fieldValidation: "Strict",
			check: func(t *testing.T, pod *corev1.Pod) {
				wantLabels := map[string]string{"app": "kubia", "env": "prod", "owner": "ops"}
				if !maps.Equal(pod.Labels, wantLabels) {
					t.Errorf("labels %v, want %v", pod.Labels, wantLabels)
				}
				if !strings.Contains(pod.Annotations[lastAppliedAnnotation], `luksa/kubia:v2`) {
					t.Errorf("last-applied annotation %q", pod.Annotations[lastAppliedAnnotation])
				}
				c := pod.Spec.Containers
				if len(c) != 1 || c[0].Image != "luksa/kubia:v2" || c[0].ImagePullPolicy != corev1.PullIfNotPresent ||
					len(c[0].Ports) != 1 || c[0].Ports[0].ContainerPort != 8080 {
					t.Errorf("containers %+v: want the image replaced and the rest kept", c)
				}
				if pod.UID != storedPod().UID || pod.Status.Phase != corev1.PodPending {
					t.Errorf("uid %q phase %q not carried over", pod.UID, pod.Status.Phase)
				}
			},
		},
		{
			name: "strategic $setElementOrder reorders, $patch delete removes, $retainKeys switches volume type", current: twoContainers,
			patchType: types.StrategicMergePatchType,
			patch:     `{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"kubia"}],"containers":[{"name":"kubia","image":"luksa/kubia:v3"}],"$setElementOrder/volumes":[{"name":"data"}],"volumes":[{"$retainKeys":["hostPath","name"],"hostPath":{"path":"/srv"},"name":"data"}]}}`,
			check: func(t *testing.T, pod *corev1.Pod) {
				c := pod.Spec.Containers
				if len(c) != 2 || c[0].Name != "sidecar" || c[1].Name != "kubia" || c[1].Image != "luksa/kubia:v3" {
					t.Errorf("containers %+v: want sidecar then kubia:v3", c)
				}
				v := pod.Spec.Volumes
				if len(v) != 1 || v[0].EmptyDir != nil || v[0].HostPath == nil || v[0].HostPath.Path != "/srv" {
					t.Errorf("volumes %+v: want only hostPath /srv", v)
				}
			},
		},
		{
			name: "strategic $patch delete", current: twoContainers, patchType: types.StrategicMergePatchType,
			patch: `{"spec":{"$setElementOrder/containers":[{"name":"kubia"}],"containers":[{"$patch":"delete","name":"sidecar"}]}}`,
			check: func(t *testing.T, pod *corev1.Pod) {
				if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Name != "kubia" {
					t.Errorf("containers %+v: want only kubia", pod.Spec.Containers)
				}
			},
		},
		{
			name: "strategic unknown field strict", current: func() runtime.Object { return storedPod() }, patchType: types.StrategicMergePatchType,
			patch: `{"spec":{"foo":1}}`, fieldValidation: "Strict",
			wantCode: http.StatusUnprocessableEntity, wantMessage: ` "" is invalid: patch: Invalid value: "map[spec:map[foo:1]]": strict decoding error: unknown field "spec.foo"`,
			wantCause: `Invalid value: "map[spec:map[foo:1]]": strict decoding error: unknown field "spec.foo"`,
		},
		{
			name: "strategic unknown field warn", current: func() runtime.Object { return storedPod() }, patchType: types.StrategicMergePatchType,
			patch: `{"spec":{"foo":1}}`, fieldValidation: "Warn", wantWarnings: []string{`unknown field "spec.foo"`},
			check: func(t *testing.T, pod *corev1.Pod) {},
		},
		{
			// kube-apiserver passes this error through unclassified: a 500 with no reason.
			name: "strategic unknown $patch", current: func() runtime.Object { return storedPod() }, patchType: types.StrategicMergePatchType,
			patch:    `{"$patch":"bogus"}`,
			wantCode: http.StatusInternalServerError, wantMessage: "unknown patch type: bogus in map: map[$patch:bogus]",
		},
		{
			name: "json patch test and replace", current: func() runtime.Object { return storedPod() }, patchType: types.JSONPatchType,
			patch: `[{"op":"test","path":"/spec/containers/0/image","value":"luksa/kubia"},{"op":"replace","path":"/spec/containers/0/image","value":"luksa/kubia:v2"},{"op":"add","path":"/metadata/labels/env","value":"prod"}]`,
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Spec.Containers[0].Image != "luksa/kubia:v2" || pod.Labels["env"] != "prod" || pod.Labels["app"] != "kubia" {
					t.Errorf("image %q labels %v", pod.Spec.Containers[0].Image, pod.Labels)
				}
			},
		},
		{
			name: "json patch failed test", current: func() runtime.Object { return storedPod() }, patchType: types.JSONPatchType,
			patch: `[{"op":"test","path":"/spec/containers/0/image","value":"nginx"},{"op":"replace","path":"/spec/containers/0/image","value":"luksa/kubia:v2"}]`,
			// kube-apiserver words it so (NewGenericServerResponse drops the detail); kubectl prints
			// "The request is invalid: the server rejected our request due to an error in our request".
			wantCode: http.StatusUnprocessableEntity, wantMessage: "the server rejected our request due to an error in our request",
		},
		{
			name: "json patch not a patch", current: func() runtime.Object { return storedPod() }, patchType: types.JSONPatchType,
			patch: `{"op":"add"}`, fieldValidation: "Ignore",
			wantCode: http.StatusBadRequest, wantMessage: "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
		},
		{
			name: "merge patch null deletes a label", current: withLabels(map[string]string{"tier": "web"}), patchType: types.MergePatchType,
			patch: `{"metadata":{"labels":{"tier":null,"env":"prod"}}}`, fieldValidation: "Strict",
			check: func(t *testing.T, pod *corev1.Pod) {
				want := map[string]string{"app": "kubia", "env": "prod"}
				if !maps.Equal(pod.Labels, want) {
					t.Errorf("labels %v, want %v", pod.Labels, want)
				}
			},
		},
		{
			name: "merge patch replaces lists whole", current: twoContainers, patchType: types.MergePatchType,
			patch: `{"spec":{"containers":[{"name":"only","image":"nginx"}]}}`,
			check: func(t *testing.T, pod *corev1.Pod) {
				if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Name != "only" {
					t.Errorf("containers %+v", pod.Spec.Containers)
				}
			},
		},
		{
			name: "merge patch unknown field warn", current: func() runtime.Object { return storedPod() }, patchType: types.MergePatchType,
			patch: `{"spec":{"foo":1}}`, fieldValidation: "Warn", wantWarnings: []string{`unknown field "spec.foo"`},
			check: func(t *testing.T, pod *corev1.Pod) {},
		},
		{
			name: "merge patch duplicate field warn", current: func() runtime.Object { return storedPod() }, patchType: types.MergePatchType,
			patch: `{"metadata":{"labels":{"a":"1","a":"2"}}}`, fieldValidation: "Warn", wantWarnings: []string{`duplicate field "metadata.labels.a"`},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Labels["a"] != "2" {
					t.Errorf("label a = %q, want the last value", pod.Labels["a"])
				}
			},
		},
		{
			name: "merge patch unknown field ignore", current: func() runtime.Object { return storedPod() }, patchType: types.MergePatchType,
			patch: `{"spec":{"foo":1}}`, fieldValidation: "Ignore", check: func(t *testing.T, pod *corev1.Pod) {},
		},
		{
			name: "non-apply patch of a missing object", current: func() runtime.Object { return nil }, patchType: types.MergePatchType,
			patch: `{}`, wantCode: http.StatusNotFound, wantMessage: `pods "kubia" not found`,
		},
		{
			name: "patch renames the object", current: func() runtime.Object { return storedPod() }, patchType: types.MergePatchType,
			patch:    `{"metadata":{"name":"other"}}`,
			wantCode: http.StatusBadRequest, wantMessage: "the name of the object (other) does not match the name on the URL (kubia)",
		},
		{
			name: "patch moves the object to another namespace", current: func() runtime.Object { return storedPod() }, patchType: types.MergePatchType,
			patch:    `{"metadata":{"namespace":"other"}}`,
			wantCode: http.StatusBadRequest, wantMessage: "the namespace of the provided object does not match the namespace sent on the request",
		},
		{
			name: "unsupported patch type", current: func() runtime.Object { return storedPod() }, patchType: "application/json",
			patch:    `{}`,
			wantCode: http.StatusUnsupportedMediaType, wantMessage: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := PatchOptions{FieldValidation: tt.fieldValidation, Name: "kubia", Namespace: "default"}
			current := tt.current()
			var before runtime.Object
			if current != nil {
				before = current.DeepCopyObject()
			}
			obj, warnings, err := m.Patch(res, current, tt.patchType, []byte(tt.patch), opts)
			if current != nil && !apiequality.Semantic.DeepEqual(before, current) {
				// The live object may be shared with the watch cache: a patch must work on a copy.
				t.Errorf("Patch modified the current object")
			}
			if tt.wantCode != 0 {
				status := statusOf(t, err)
				if status.Code != tt.wantCode || status.Message != tt.wantMessage {
					t.Fatalf("got %d %q\nwant %d %q", status.Code, status.Message, tt.wantCode, tt.wantMessage)
				}
				if tt.wantCause != "" && (status.Details == nil || len(status.Details.Causes) != 1 || status.Details.Causes[0].Message != tt.wantCause) {
					t.Fatalf("details %+v, want one cause %q", status.Details, tt.wantCause)
				}
				return
			}
			if err != nil {
				t.Fatalf("Patch: %v", err)
			}
			if !slices.Equal(warnings, tt.wantWarnings) {
				t.Errorf("warnings %q, want %q", warnings, tt.wantWarnings)
			}
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				t.Fatalf("Patch returned %T, want *v1.Pod", obj)
			}
			tt.check(t, pod)
		})
	}
}

// TestPatchKubectlThreeWay builds the patch with the same library call kubectl apply makes
// (CreateThreeWayMergePatch against the typed struct) and checks the server's result is the file plus
// what others set.
func TestPatchKubectlThreeWay(t *testing.T) {
	m := newTestMutator(t)
	toJSON := func(v interface{}) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	original := map[string]interface{}{ // last applied: two containers
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]interface{}{"name": "kubia", "namespace": "default"},
		"spec": map[string]interface{}{"containers": []interface{}{
			map[string]interface{}{"name": "kubia", "image": "luksa/kubia"},
			map[string]interface{}{"name": "sidecar", "image": "busybox"},
		}},
	}
	modified := map[string]interface{}{ // the file now: sidecar gone, a new one before kubia
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]interface{}{"name": "kubia", "namespace": "default"},
		"spec": map[string]interface{}{"containers": []interface{}{
			map[string]interface{}{"name": "logger", "image": "fluentd"},
			map[string]interface{}{"name": "kubia", "image": "luksa/kubia"},
		}},
	}
	live := storedPod()
	live.Spec.Containers = append(live.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent})
	lookup, err := strategicpatch.NewPatchMetaFromStruct(&corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	patch, err := strategicpatch.CreateThreeWayMergePatch(toJSON(original), toJSON(modified), toJSON(live), lookup, true)
	if err != nil {
		t.Fatal(err)
	}

	obj, _, err := m.Patch(podResource(), live, types.StrategicMergePatchType, patch, PatchOptions{FieldValidation: "Strict"})
	if err != nil {
		t.Fatalf("Patch %s: %v", patch, err)
	}
	var names []string
	for _, c := range obj.(*corev1.Pod).Spec.Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"logger", "kubia"}) {
		t.Fatalf("containers %v after patch %s, want [logger kubia]", names, patch)
	}
	if kubia := obj.(*corev1.Pod).Spec.Containers[1]; len(kubia.Ports) != 1 {
		t.Errorf("kubia lost the port only the live object had: %+v", kubia)
	}
}

func TestPatchOptionsValidation(t *testing.T) {
	m := newTestMutator(t)
	tests := []struct {
		name      string
		patchType types.PatchType
		opts      PatchOptions
		want      string
	}{
		{"apply needs a field manager", types.ApplyYAMLPatchType, PatchOptions{},
			`PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`},
		{"force is for apply only", types.MergePatchType, PatchOptions{Force: true},
			`PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch`},
		{"unknown field validation", types.MergePatchType, PatchOptions{FieldValidation: "Loud"},
			`PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loud": supported values: "", "Ignore", "Strict", "Warn"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := m.Patch(podResource(), storedPod(), tt.patchType, []byte(`{}`), tt.opts)
			status := statusOf(t, err)
			if status.Code != http.StatusUnprocessableEntity || status.Message != tt.want {
				t.Fatalf("got %d %q, want 422 %q", status.Code, status.Message, tt.want)
			}
		})
	}
}

// TestPatchClusterScoped checks a cluster-scoped object never gets a namespace from the request.
func TestPatchClusterScoped(t *testing.T) {
	m := newTestMutator(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", UID: "u1"}}
	obj, _, err := m.Patch(namespaceResource(), ns, types.MergePatchType, []byte(`{"metadata":{"labels":{"a":"b"}}}`),
		PatchOptions{Name: "team", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*corev1.Namespace)
	if got.Namespace != "" || got.Labels["a"] != "b" {
		t.Fatalf("namespace object %+v", got.ObjectMeta)
	}
}

package mutate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// The API server runs one of these per write; the budget for a whole pod create is 2 ms p50.

func BenchmarkDecodeJSONStrict(b *testing.B) {
	m := newTestMutator(b)
	body := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kubia","labels":{"app":"kubia"}},"spec":{"containers":[{"name":"kubia","image":"luksa/kubia","ports":[{"containerPort":8080}]}]}}`)
	for b.Loop() {
		if _, err := m.Decode("application/json", body, &corev1.Pod{}, "Strict"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdateManagedFieldsCreate(b *testing.B) {
	m := newTestMutator(b)
	res := podResource()
	for b.Loop() {
		if _, err := m.UpdateManagedFields(res, storedPod(), nil, "kubectl-create", ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPatch(b *testing.B) {
	m := newTestMutator(b)
	res := podResource()
	live, err := m.UpdateManagedFields(res, storedPod(), nil, "kubectl-create", "")
	if err != nil {
		b.Fatal(err)
	}
	benchmarks := []struct {
		name      string
		patchType types.PatchType
		patch     string
		manager   string
	}{
		{"merge", types.MergePatchType, `{"metadata":{"labels":{"env":"prod"}}}`, ""},
		{"strategic", types.StrategicMergePatchType, `{"spec":{"$setElementOrder/containers":[{"name":"kubia"}],"containers":[{"image":"luksa/kubia:v2","name":"kubia"}]}}`, ""},
		{"json", types.JSONPatchType, `[{"op":"replace","path":"/spec/containers/0/image","value":"luksa/kubia:v2"}]`, ""},
		{"apply", types.ApplyYAMLPatchType, string(applyPod("luksa/kubia", "")), "kubectl"},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			opts := PatchOptions{FieldManager: bm.manager, FieldValidation: "Strict", Name: "kubia", Namespace: "default"}
			var current runtime.Object = live
			for b.Loop() {
				if _, _, err := m.Patch(res, current, bm.patchType, []byte(bm.patch), opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

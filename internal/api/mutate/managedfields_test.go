package mutate

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/randfill"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
)

// TestCreateManagedFieldsMatchesFieldManager holds the create fast path to Kubernetes' FieldManager: the same
// entries, byte for byte apart from the time, for the documents' pods, edge cases and random pods.
func TestCreateManagedFieldsMatchesFieldManager(t *testing.T) {
	m := newTestMutator(t)
	res := podResource()
	pods := map[string]*corev1.Pod{
		"stored":        storedPod(),
		"empty":         {},
		"name only":     {ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default"}},
		"empty labels":  {ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Args: []string{}}}}},
		"duplicate env": {Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}}}}}},
		"duplicate ports": {Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 80, Protocol: corev1.ProtocolTCP}}}}}},
		"empty lists": {Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{}}}, InitContainers: []corev1.Container{}}},
		"status set":  {Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}, Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"}},
	}
	examples, err := filepath.Glob("../../../examples/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("examples: %v (%d files)", err, len(examples))
	}
	for _, path := range examples {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var pod corev1.Pod
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(&pod); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if pod.Kind == "Pod" {
			pods[filepath.Base(path)] = &pod
		}
	}
	filler := randfill.NewWithSeed(1).NilChance(0.3).NumElements(0, 3).Funcs(
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewQuantity(c.Int63n(1<<20), resource.DecimalSI)
		},
		func(v *intstr.IntOrString, c randfill.Continue) { *v = intstr.FromInt32(c.Int31n(65536)) },
		func(tm *metav1.Time, c randfill.Continue) { *tm = metav1.Unix(c.Int63n(1<<31), 0) },
		func(e *runtime.RawExtension, c randfill.Continue) {},
		func(f *[]metav1.ManagedFieldsEntry, c randfill.Continue) { *f = nil },
	)
	rng := rand.New(rand.NewSource(1))
	for i := range 300 {
		pod := &corev1.Pod{}
		filler.Fill(pod)
		if rng.Intn(2) == 0 { // names shared between list items, as real pods have them unique or not
			for j := range pod.Spec.Containers {
				pod.Spec.Containers[j].Name = "c"
			}
		}
		if len(pod.Spec.Containers) == 0 { // a pod always has one: the empty pod's null list would be compared
			pod.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox"}}
		}
		if i%4 != 0 { // most without empty lists, which the fast path leaves to the full one
			nilEmptySlices(reflect.ValueOf(pod))
		}
		pods[fmt.Sprintf("random %03d", i)] = pod
	}

	for name, pod := range pods {
		t.Run(name, func(t *testing.T) {
			slow, err := m.updateManagedFieldsSlow(res, pod.DeepCopy(), nil, "kubectl-create", "")
			if err != nil {
				t.Fatalf("slow path: %v", err)
			}
			fast, ok := m.createManagedFields(res, pod.DeepCopy(), "kubectl-create")
			if !ok {
				if strings.HasSuffix(name, ".yaml") {
					t.Fatal("the fast path does not apply to a pod of the documents")
				}
				t.Skip("the fast path does not apply")
			}
			want, got := managedFieldsOf(t, slow), managedFieldsOf(t, fast)
			if len(want) != len(got) {
				t.Fatalf("entries: FieldManager %d, fast path %d\nwant %+v\ngot  %+v", len(want), len(got), want, got)
			}
			for k := range want {
				w, g := want[k], got[k]
				if w.Time == nil || g.Time == nil {
					t.Fatalf("entry %d has no time: want %v got %v", k, w.Time, g.Time)
				}
				w.Time, g.Time = nil, nil
				wf, gf := w.FieldsV1, g.FieldsV1
				w.FieldsV1, g.FieldsV1 = nil, nil
				if w != g {
					t.Errorf("entry %d: want %+v, got %+v", k, w, g)
				}
				if !bytes.Equal(wf.Raw, gf.Raw) {
					var ws, gs fieldpath.Set
					if err := ws.FromJSON(bytes.NewReader(wf.Raw)); err != nil {
						t.Fatal(err)
					}
					if err := gs.FromJSON(bytes.NewReader(gf.Raw)); err != nil {
						t.Fatal(err)
					}
					t.Errorf("entry %d fields: missing %v; extra %v", k, ws.Difference(&gs), gs.Difference(&ws))
				}
			}
		})
	}
}

func managedFieldsOf(t *testing.T, obj runtime.Object) []metav1.ManagedFieldsEntry {
	t.Helper()
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		t.Fatalf("%T is not a pod", obj)
	}
	return pod.ManagedFields
}

// nilEmptySlices turns every empty slice under v into nil.
func nilEmptySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			nilEmptySlices(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			nilEmptySlices(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 && v.CanSet() {
			v.Set(reflect.Zero(v.Type()))
		}
		for i := range v.Len() {
			nilEmptySlices(v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if e := it.Value(); e.Kind() == reflect.Slice && e.Len() == 0 {
				v.SetMapIndex(it.Key(), reflect.Zero(e.Type()))
			}
		}
	}
}

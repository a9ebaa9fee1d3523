package mutate

import (
	"bytes"
	"errors"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"

	"github.com/peapod-dev/peapod/internal/registry"
)

// newTestMutator builds a Mutator over corev1 + coordinationv1 + metav1 with client-go's compiled-in
// structured-merge-diff schema of the k8s.io/api types. The deduced converter treats every list as atomic,
// which cannot show merges by key (containers by name), so the tests use the real schema.
func newTestMutator(t testing.TB) *Mutator {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, coordinationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	return New(scheme, applyconfigurations.NewTypeConverter(scheme))
}

// podStrategy stands in for the pod strategy's defaulting: enough to see defaults kept through patches.
type podStrategy struct{ registry.DefaultStrategy }

func (podStrategy) Default(obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].ImagePullPolicy == "" {
			pod.Spec.Containers[i].ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
}

func podResource() *registry.Resource {
	return &registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion, Kind: "Pod", Name: "pods", SingularName: "pod", Namespaced: true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
		Strategy:     podStrategy{registry.DefaultStrategy{Namespaced: true}},
	}
}

func namespaceResource() *registry.Resource {
	return &registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion, Kind: "Namespace", Name: "namespaces", SingularName: "namespace",
		New:      func() runtime.Object { return &corev1.Namespace{} },
		NewList:  func() runtime.Object { return &corev1.NamespaceList{} },
		Strategy: registry.DefaultStrategy{},
	}
}

// storedPod is a pod as the store holds it: uid set, defaults filled.
func storedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubia", Namespace: "default", UID: "0b5bd7b8-8b5e-4b70-9a1a-6f3c6bb1c8a1", ResourceVersion: "7",
			Labels: map[string]string{"app": "kubia"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name: "kubia", Image: "luksa/kubia", ImagePullPolicy: corev1.PullIfNotPresent,
				Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

// statusOf asserts err is a *apierrors.StatusError and returns its status.
func statusOf(t *testing.T, err error) metav1.Status {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *StatusError", err, err)
	}
	return se.ErrStatus
}

// managedEntry returns the managedFields entry of manager and the field set it owns.
func managedEntry(t *testing.T, obj runtime.Object, manager string) (metav1.ManagedFieldsEntry, *fieldpath.Set) {
	t.Helper()
	pod := obj.(metav1.Object)
	for _, e := range pod.GetManagedFields() {
		if e.Manager != manager {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			t.Fatalf("decode fields of %q: %v", manager, err)
		}
		return e, set
	}
	t.Fatalf("no managedFields entry for %q in %+v", manager, pod.GetManagedFields())
	return metav1.ManagedFieldsEntry{}, nil
}

func containerPath(name string, field ...string) fieldpath.Path {
	parts := []interface{}{"spec", "containers", fieldpath.KeyByFields("name", name)}
	for _, f := range field {
		parts = append(parts, f)
	}
	return fieldpath.MakePathOrDie(parts...)
}

package api

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/registry/core"
)

// testRegistry serves pods (a small strategy of this file with Kubernetes' delete rules), and the real
// namespaces and configmaps resources.
func testRegistry() *registry.Registry {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(metav1.AddMetaToScheme(scheme))
	return &registry.Registry{
		Scheme:    scheme,
		Resources: []*registry.Resource{testPods(), core.Namespaces(), core.ConfigMaps()},
	}
}

func testPods() *registry.Resource {
	return &registry.Resource{
		GroupVersion: schema.GroupVersion{Version: "v1"},
		Kind:         "Pod",
		Name:         "pods",
		SingularName: "pod",
		ShortNames:   []string{"po"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Verbs:        []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		Subresources: []string{"binding", "status"},
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
		Strategy:     testPodStrategy{registry.DefaultStrategy{Namespaced: true}},
	}
}

// testPodStrategy: required image, status reset on create, graceful deletion of bound pods.
type testPodStrategy struct{ registry.DefaultStrategy }

func (testPodStrategy) Default(obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	}
}

func (testPodStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	pod.Generation = 1
}

func (s testPodStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	pod := obj.(*corev1.Pod)
	errs := s.ValidateMeta(obj)
	for i, c := range pod.Spec.Containers {
		if c.Image == "" {
			errs = append(errs, field.Required(field.NewPath("spec", "containers").Index(i).Child("image"), ""))
		}
	}
	return errs
}

func (testPodStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	obj.(*corev1.Pod).Status = old.(*corev1.Pod).Status
}

func (testPodStrategy) PrepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	pod.Spec = oldPod.Spec
	pod.Labels, pod.Annotations = oldPod.Labels, oldPod.Annotations
}

func (testPodStrategy) CheckGracefulDelete(_ context.Context, obj runtime.Object, opts *metav1.DeleteOptions) bool {
	pod := obj.(*corev1.Pod)
	period := int64(30)
	if opts.GracePeriodSeconds != nil {
		period = *opts.GracePeriodSeconds
	}
	if pod.Spec.NodeName == "" {
		period = 0
	}
	opts.GracePeriodSeconds = &period
	return true
}

func (testPodStrategy) ReadyToRemove(obj runtime.Object) bool {
	grace := obj.(*corev1.Pod).DeletionGracePeriodSeconds
	return grace != nil && *grace == 0
}

func (testPodStrategy) TableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name"},
		{Name: "Status", Type: "string"},
		{Name: "Age", Type: "string"},
		{Name: "Node", Type: "string", Priority: 1},
	}
}

func (testPodStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("not a pod: %T", obj)
	}
	status := string(pod.Status.Phase)
	if pod.DeletionTimestamp != nil {
		status = "Terminating"
	}
	node := pod.Spec.NodeName
	if node == "" {
		node = "<none>"
	}
	return []interface{}{pod.Name, status, registry.Age(pod.CreationTimestamp), node}, nil
}

func (testPodStrategy) SelectableFields(obj runtime.Object) fields.Set {
	pod := obj.(*corev1.Pod)
	set := registry.MetaFields(obj)
	set["spec.nodeName"] = pod.Spec.NodeName
	set["status.phase"] = string(pod.Status.Phase)
	return set
}

func (testPodStrategy) Warnings(_ context.Context, obj, _ runtime.Object) []string {
	if obj.(*corev1.Pod).Annotations["test/warn"] != "" {
		return []string{"test warning: " + obj.(*corev1.Pod).Annotations["test/warn"]}
	}
	return nil
}

// Package pod holds the rules of the pods resource, converted from Kubernetes (pkg/apis/core/v1 defaults,
// pkg/apis/core/validation, pkg/registry/core/pod, and the ServiceAccount, DefaultTolerationSeconds and
// Priority admission plugins) to the k8s.io/api v1 types. Fields peapod does not implement are refused
// through the table in package fields.
package pod

import (
	"context"
	"fmt"
	"strconv"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apifields "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
)

// Resource is the pods resource as Kubernetes' discovery lists it. The log subresource is served by the
// API layer through the node agent.
func Resource() *registry.Resource {
	return &registry.Resource{
		GroupVersion: schema.GroupVersion{Group: "", Version: "v1"},
		Kind:         "Pod",
		Name:         "pods",
		SingularName: "pod",
		ShortNames:   []string{"po"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Verbs:        []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		Subresources: []string{"status", "binding", "log"},
		New:          func() runtime.Object { return &v1.Pod{} },
		NewList:      func() runtime.Object { return &v1.PodList{} },
		Strategy:     Strategy{registry.DefaultStrategy{Namespaced: true}},
	}
}

// Strategy is Kubernetes' pod strategy. Its methods ignore objects that are not *v1.Pod, which the API
// layer never passes.
type Strategy struct{ registry.DefaultStrategy }

// Default fills what Kubernetes' v1 defaulters fill.
func (Strategy) Default(obj runtime.Object) {
	if pod, ok := obj.(*v1.Pod); ok {
		setDefaults(pod)
	}
}

// PrepareForCreate applies the admission plugins Kubernetes runs on a new pod (service account and its
// token volume, default tolerations, priority), resets the status to Pending with the computed QoS class
// and sets generation 1. spec.nodeName is kept: a user may bind the pod at create.
func (s Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	s.DefaultStrategy.PrepareForCreate(ctx, obj)
	admitCreate(pod)
	pod.Status = v1.PodStatus{Phase: v1.PodPending, QOSClass: qosClass(pod)}
}

// Validate is Kubernetes' pod create validation, plus the refusal of fields peapod does not support.
func (s Strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a pod: %T", obj))}
	}
	return validatePodMetadataAndSpec(pod, s.ValidateMeta(obj))
}

// PrepareForUpdate keeps the stored status (only pods/status changes it), re-applies the admission
// plugins that run on update, and bumps metadata.generation when the spec changed.
func (Strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	pod, ok1 := obj.(*v1.Pod)
	oldPod, ok2 := old.(*v1.Pod)
	if !ok1 || !ok2 {
		return
	}
	pod.Status = oldPod.Status
	admitUpdate(pod, oldPod)
	// A client may not set the generation: it counts spec changes.
	pod.Generation = oldPod.Generation
	if !apiequality.Semantic.DeepEqual(pod.Spec, oldPod.Spec) {
		pod.Generation++
	}
}

// ValidateUpdate is Kubernetes' pod update rule ("pod updates may not change fields other than ...").
func (s Strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	pod, ok1 := obj.(*v1.Pod)
	oldPod, ok2 := old.(*v1.Pod)
	if !ok1 || !ok2 {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a pod: %T, %T", obj, old))}
	}
	metaErrs := append(s.ValidateMetaUpdate(obj, old), s.ValidateMeta(obj)...)
	return validatePodUpdate(pod, oldPod, metaErrs)
}

// PrepareForStatusUpdate keeps everything but status and the metadata a status writer may change
// (labels, annotations, finalizers): spec, generation, deletion and owner references come from old. An
// empty qosClass is backfilled, as Kubernetes does for old kubelets.
func (Strategy) PrepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	pod, ok1 := obj.(*v1.Pod)
	oldPod, ok2 := old.(*v1.Pod)
	if !ok1 || !ok2 {
		return
	}
	pod.Spec = oldPod.Spec
	pod.Generation = oldPod.Generation
	pod.DeletionTimestamp = oldPod.DeletionTimestamp
	pod.DeletionGracePeriodSeconds = oldPod.DeletionGracePeriodSeconds
	pod.OwnerReferences = oldPod.OwnerReferences
	if pod.Status.QOSClass == "" {
		pod.Status.QOSClass = oldPod.Status.QOSClass
	}
	if pod.Status.ObservedGeneration == 0 {
		pod.Status.ObservedGeneration = oldPod.Status.ObservedGeneration
	}
}

// ValidateStatusUpdate is Kubernetes' pod status validation.
func (s Strategy) ValidateStatusUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	pod, ok1 := obj.(*v1.Pod)
	oldPod, ok2 := old.(*v1.Pod)
	if !ok1 || !ok2 {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a pod: %T, %T", obj, old))}
	}
	return validatePodStatusUpdate(pod, oldPod, s.ValidateMetaUpdate(obj, old))
}

// CheckGracefulDelete takes the grace period from the options, else from the pod; a pod not bound to a
// node or already finished goes at once (grace 0), and a negative period becomes 1. It rewrites
// opts.GracePeriodSeconds to the decision and reports whether the delete is graceful.
func (Strategy) CheckGracefulDelete(_ context.Context, obj runtime.Object, opts *metav1.DeleteOptions) bool {
	pod, ok := obj.(*v1.Pod)
	if !ok || opts == nil {
		return false
	}
	var period int64
	switch {
	case opts.GracePeriodSeconds != nil:
		period = *opts.GracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		period = 0
	}
	if period < 0 {
		period = 1
	}
	opts.GracePeriodSeconds = &period
	return period > 0
}

// ReadyToRemove: a pod in graceful deletion is removed once its node confirms with grace period 0.
func (Strategy) ReadyToRemove(obj runtime.Object) bool {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return true
	}
	return pod.DeletionGracePeriodSeconds == nil || *pod.DeletionGracePeriodSeconds == 0
}

// SelectableFields are Kubernetes' pod field selector labels.
func (Strategy) SelectableFields(obj runtime.Object) apifields.Set {
	set := registry.MetaFields(obj)
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return set
	}
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	set["spec.nodeName"] = pod.Spec.NodeName
	set["spec.restartPolicy"] = string(pod.Spec.RestartPolicy)
	set["spec.schedulerName"] = pod.Spec.SchedulerName
	set["spec.serviceAccountName"] = pod.Spec.ServiceAccountName
	set["spec.hostNetwork"] = strconv.FormatBool(pod.Spec.HostNetwork)
	set["status.phase"] = string(pod.Status.Phase)
	set["status.podIP"] = podIP
	set["status.nominatedNodeName"] = pod.Status.NominatedNodeName
	return set
}

// Warnings are Kubernetes' warnings for a new pod; like Kubernetes, updates get none.
func (Strategy) Warnings(_ context.Context, obj, old runtime.Object) []string {
	pod, ok := obj.(*v1.Pod)
	if !ok || old != nil {
		return nil
	}
	var warnings []string
	if msgs := validation.IsDNS1123Label(pod.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		warnings = append(warnings, "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1")
	}
	return warnings
}

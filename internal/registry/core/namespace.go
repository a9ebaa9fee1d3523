package core

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
)

// Namespaces is the namespaces resource: cluster-scoped, deleted gracefully (Terminating until its
// spec.finalizers are emptied through the finalize subresource).
func Namespaces() *registry.Resource {
	return &registry.Resource{
		GroupVersion: groupVersion(),
		Kind:         "Namespace",
		Name:         "namespaces",
		SingularName: "namespace",
		ShortNames:   []string{"ns"},
		Namespaced:   false,
		// kube-apiserver serves no deletecollection for namespaces.
		Verbs:        []string{"create", "delete", "get", "list", "patch", "update", "watch"},
		Subresources: []string{"finalize", "status"},
		New:          func() runtime.Object { return &corev1.Namespace{} },
		NewList:      func() runtime.Object { return &corev1.NamespaceList{} },
		Strategy:     NamespaceStrategy{registry.DefaultStrategy{NameValidator: apivalidation.ValidateNamespaceName}},
	}
}

// NamespaceStrategy is Kubernetes' namespace strategy (pkg/registry/core/namespace).
type NamespaceStrategy struct{ registry.DefaultStrategy }

// Default sets what Kubernetes' v1 defaulters set: status.phase Active and the immutable
// kubernetes.io/metadata.name label. It deliberately does not add the "kubernetes" finalizer: that happens
// only on create, because the namespace controller removes it through finalize and it must stay removed.
func (NamespaceStrategy) Default(obj runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
	setNamespaceNameLabel(ns)
}

// setNamespaceNameLabel keeps kubernetes.io/metadata.name equal to the name; a namespace made from
// generateName gets it once the name is known.
func setNamespaceNameLabel(ns *corev1.Namespace) {
	if ns.Name == "" {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

// PrepareForCreate makes a new namespace Active and ensures the "kubernetes" finalizer, whatever the
// client sent. Namespaces carry no metadata.generation in Kubernetes.
func (NamespaceStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	hasKubernetes := false
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			hasKubernetes = true
			break
		}
	}
	if !hasKubernetes {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	setNamespaceNameLabel(ns)
}

func (s NamespaceStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return typeError("Namespace", obj)
	}
	return s.validateNamespace(ns)
}

func (s NamespaceStrategy) validateNamespace(ns *corev1.Namespace) field.ErrorList {
	allErrs := s.ValidateMeta(ns)
	for _, f := range ns.Spec.Finalizers {
		allErrs = append(allErrs, validateNamespaceFinalizerName(string(f), field.NewPath("spec", "finalizers"))...)
	}
	return allErrs
}

// validateNamespaceFinalizerName accepts a qualified name, and of the unqualified ones only Kubernetes'
// standard finalizer.
func validateNamespaceFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	allErrs := apivalidation.ValidateFinalizerName(name, fldPath)
	if !strings.Contains(name, "/") && name != string(corev1.FinalizerKubernetes) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return allErrs
}

// PrepareForUpdate keeps spec.finalizers and status: only finalize and status may change them.
func (NamespaceStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	ns, ok1 := obj.(*corev1.Namespace)
	oldNS, ok2 := old.(*corev1.Namespace)
	if !ok1 || !ok2 {
		return
	}
	ns.Spec.Finalizers = oldNS.Spec.Finalizers
	ns.Status = oldNS.Status
	setNamespaceNameLabel(ns)
}

func (s NamespaceStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return typeError("Namespace", obj)
	}
	return append(s.validateNamespace(ns), s.ValidateMetaUpdate(obj, old)...)
}

// PrepareForStatusUpdate keeps everything but status.
func (NamespaceStrategy) PrepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	ns, ok1 := obj.(*corev1.Namespace)
	oldNS, ok2 := old.(*corev1.Namespace)
	if !ok1 || !ok2 {
		return
	}
	ns.Spec = oldNS.Spec
}

// ValidateStatusUpdate ties the phase to the deletion timestamp, as Kubernetes does.
func (s NamespaceStrategy) ValidateStatusUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return typeError("Namespace", obj)
	}
	allErrs := s.ValidateMetaUpdate(obj, old)
	// Kubernetes spells this path with a capital P.
	phasePath := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			allErrs = append(allErrs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		allErrs = append(allErrs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return allErrs
}

// PrepareForFinalizeUpdate is the finalize subresource's counterpart of PrepareForUpdate: spec.finalizers
// (and metadata) may change, status may not.
func (NamespaceStrategy) PrepareForFinalizeUpdate(_ context.Context, obj, old runtime.Object) {
	ns, ok1 := obj.(*corev1.Namespace)
	oldNS, ok2 := old.(*corev1.Namespace)
	if !ok1 || !ok2 {
		return
	}
	ns.Status = oldNS.Status
}

// ValidateFinalizeUpdate validates an update through the finalize subresource.
func (s NamespaceStrategy) ValidateFinalizeUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return typeError("Namespace", obj)
	}
	allErrs := s.ValidateMetaUpdate(obj, old)
	fldPath := field.NewPath("spec", "finalizers")
	for i, f := range ns.Spec.Finalizers {
		allErrs = append(allErrs, validateNamespaceFinalizerName(string(f), fldPath.Index(i))...)
	}
	return allErrs
}

// CheckGracefulDelete: deleting a namespace always starts termination first; it is removed once its
// spec.finalizers are empty (ReadyToRemove). Kubernetes sets no grace period on a namespace, so an unset
// one becomes 0.
func (NamespaceStrategy) CheckGracefulDelete(_ context.Context, _ runtime.Object, opts *metav1.DeleteOptions) bool {
	if opts != nil && opts.GracePeriodSeconds == nil {
		var zero int64
		opts.GracePeriodSeconds = &zero
	}
	return true
}

// PrepareForDelete moves the namespace to Terminating.
func (NamespaceStrategy) PrepareForDelete(_ context.Context, obj runtime.Object) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
}

// ReadyToRemove: a terminating namespace goes once the namespace controller has emptied spec.finalizers.
func (NamespaceStrategy) ReadyToRemove(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) == 0
}

func (NamespaceStrategy) TableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Status", Type: "string", Description: "The status of the namespace"},
		ageColumn(),
	}
}

func (NamespaceStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, unexpectedType("Namespace", obj)
	}
	return []interface{}{ns.Name, string(ns.Status.Phase), registry.Age(ns.CreationTimestamp)}, nil
}

// SelectableFields adds status.phase and, as Kubernetes keeps for compatibility, the bare "name".
func (NamespaceStrategy) SelectableFields(obj runtime.Object) fields.Set {
	set := registry.MetaFields(obj)
	if ns, ok := obj.(*corev1.Namespace); ok {
		set["status.phase"] = string(ns.Status.Phase)
		set["name"] = ns.Name
	}
	return set
}

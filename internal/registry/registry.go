// Package registry holds the per-resource rules of the API server: what each resource is called, how it is
// defaulted and validated, which fields may change on update, how it prints as a table and which fields
// selectors may use. The API layer (internal/api) is generic and asks a Resource for everything specific.
package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one REST resource as discovery lists it, plus its rules.
type Resource struct {
	GroupVersion schema.GroupVersion // core is {"" "v1"}
	Kind         string              // "Pod"
	Name         string              // plural resource name: "pods"
	SingularName string              // "pod"
	ShortNames   []string            // "po"
	Categories   []string            // "all"
	Namespaced   bool
	Verbs        []string // as discovery lists them: create delete deletecollection get list patch update watch
	// Subresources served for this resource, e.g. "status", "binding", "finalize", "log".
	Subresources []string
	// KindSubresources are subresources that take and return objects of a kind of another group, which
	// discovery lists with that group and version (serviceaccounts/token: authentication.k8s.io/v1
	// TokenRequest). The API layer serves each with a handler of its own.
	KindSubresources []KindSubresource

	New     func() runtime.Object // a new empty typed object, e.g. &corev1.Pod{}
	NewList func() runtime.Object // a new empty typed list, e.g. &corev1.PodList{}

	Strategy Strategy
}

// KindSubresource is a subresource whose objects are of another group's kind.
type KindSubresource struct {
	Name  string                  // "token"
	Kind  schema.GroupVersionKind // authentication.k8s.io/v1, Kind=TokenRequest
	Verbs []string                // as discovery lists them
}

// GroupVersionKind of the resource's objects.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion.WithKind(r.Kind)
}

// GroupVersionResource of the resource.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Name)
}

// Strategy is the resource-specific behaviour the generic API layer calls. Every method must be safe for
// concurrent use. Implementations embed DefaultStrategy and override what they need.
type Strategy interface {
	// Default fills defaulted fields (as Kubernetes' generated defaulters do). Called on every object the
	// server is about to store (create, update, patch result, status update), after decoding.
	Default(obj runtime.Object)

	// PrepareForCreate resets fields a client may not set on create (e.g. status), sets generation 1 and any
	// server-computed fields (e.g. pod status.qosClass, phase Pending). Called before Validate.
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	// Validate returns field errors for a new object (metadata name/namespace rules included).
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	// PrepareForUpdate carries over what a main-resource update may not change (e.g. status) from old, and
	// bumps metadata.generation when the spec changed.
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	// ValidateUpdate returns field errors for an update of old to obj (immutability rules).
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList

	// PrepareForStatusUpdate carries over everything but status (and what else the status subresource may
	// not touch) from old.
	PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object)
	// ValidateStatusUpdate returns field errors for a status update.
	ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList

	// CheckGracefulDelete decides whether a DELETE is graceful (object kept with deletionTimestamp and
	// deletionGracePeriodSeconds set to *opts.GracePeriodSeconds) or immediate. It may rewrite
	// opts.GracePeriodSeconds (e.g. fill it from the pod's terminationGracePeriodSeconds, negative -> 1).
	CheckGracefulDelete(ctx context.Context, obj runtime.Object, opts *metav1.DeleteOptions) bool
	// ReadyToRemove says whether an object that has a deletionTimestamp and no metadata.finalizers may now be
	// removed from storage (pods: deletionGracePeriodSeconds is 0; namespaces: spec.finalizers is empty).
	ReadyToRemove(obj runtime.Object) bool
	// PrepareForDelete is called when a graceful delete starts (e.g. namespace status.phase = Terminating).
	PrepareForDelete(ctx context.Context, obj runtime.Object)

	// TableColumns are the meta.k8s.io/v1 Table columns, as Kubernetes' printers define them (Name first;
	// priority 1 columns appear with -o wide).
	TableColumns() []metav1.TableColumnDefinition
	// TableRow returns the cells of obj's row, matching TableColumns.
	TableRow(obj runtime.Object) ([]interface{}, error)

	// SelectableFields returns the field-selector fields of obj (metadata.name, metadata.namespace, plus the
	// resource's own, e.g. pods spec.nodeName and status.phase).
	SelectableFields(obj runtime.Object) fields.Set

	// Warnings returns warnings to send (Warning: 299 header) for a create or update of obj.
	Warnings(ctx context.Context, obj, old runtime.Object) []string
}

// Registry is the set of resources served.
type Registry struct {
	Resources []*Resource
	Scheme    *runtime.Scheme
}

package registry

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultStrategy is the behaviour of a plain resource with no status and immediate deletion. Resource
// strategies embed it and override what differs. Namespaced says whether metadata.namespace is required.
type DefaultStrategy struct {
	Namespaced bool
	// NameValidator validates metadata.name (default: DNS-1123 subdomain).
	NameValidator apivalidation.ValidateNameFunc
}

func (DefaultStrategy) Default(runtime.Object) {}

func (DefaultStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetGeneration(1)
	}
}

func (s DefaultStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return s.ValidateMeta(obj)
}

// ValidateMeta validates obj's ObjectMeta the way Kubernetes does for a new object.
func (s DefaultStrategy) ValidateMeta(obj runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	nameFn := s.NameValidator
	if nameFn == nil {
		nameFn = apivalidation.NameIsDNSSubdomain
	}
	// meta.Accessor returns the typed object itself (it embeds ObjectMeta), not a *metav1.ObjectMeta.
	return apivalidation.ValidateObjectMetaAccessor(m, s.Namespaced, nameFn, field.NewPath("metadata"))
}

func (DefaultStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (s DefaultStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return s.ValidateMetaUpdate(obj, old)
}

// ValidateMetaUpdate validates the metadata rules of an update (immutable name, namespace, uid, ...).
func (s DefaultStrategy) ValidateMetaUpdate(obj, old runtime.Object) field.ErrorList {
	nm, err1 := meta.Accessor(obj)
	om, err2 := meta.Accessor(old)
	if err1 != nil || err2 != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), fmt.Errorf("no metadata"))}
	}
	return apivalidation.ValidateObjectMetaAccessorUpdate(nm, om, field.NewPath("metadata"))
}

func (DefaultStrategy) PrepareForStatusUpdate(context.Context, runtime.Object, runtime.Object) {}

func (s DefaultStrategy) ValidateStatusUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return s.ValidateMetaUpdate(obj, old)
}

func (DefaultStrategy) CheckGracefulDelete(context.Context, runtime.Object, *metav1.DeleteOptions) bool {
	return false
}

func (DefaultStrategy) ReadyToRemove(runtime.Object) bool { return true }

func (DefaultStrategy) PrepareForDelete(context.Context, runtime.Object) {}

func (DefaultStrategy) TableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func (DefaultStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	return []interface{}{m.GetName(), Age(m.GetCreationTimestamp())}, nil
}

func (DefaultStrategy) SelectableFields(obj runtime.Object) fields.Set {
	return MetaFields(obj)
}

func (DefaultStrategy) Warnings(context.Context, runtime.Object, runtime.Object) []string { return nil }

// MetaFields returns the metadata.name and metadata.namespace selectable fields every resource has.
func MetaFields(obj runtime.Object) fields.Set {
	m, err := meta.Accessor(obj)
	if err != nil {
		return fields.Set{}
	}
	set := fields.Set{"metadata.name": m.GetName()}
	if ns := m.GetNamespace(); ns != "" {
		set["metadata.namespace"] = ns
	}
	return set
}

// Age formats a timestamp as kubectl's AGE column does ("<unknown>" for zero).
func Age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

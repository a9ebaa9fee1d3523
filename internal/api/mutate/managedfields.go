package mutate

import (
	"fmt"
	"reflect"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v4/typed"

	"github.com/peapod-dev/peapod/internal/registry"
)

// UpdateManagedFields records manager's ownership of the fields it set on a non-apply write (create,
// update, non-apply patch), as kube-apiserver does through FieldManager.Update, so that a later
// `kubectl apply --server-side` finds its conflicts and `kubectl get -o yaml --show-managed-fields` shows
// them. live is nil on create. Use ManagerName to pick manager. Returns the object with
// metadata.managedFields set. As in Kubernetes, a failure to compute the fields never fails the write: the
// object comes back with managedFields cleared instead.
func (m *Mutator) UpdateManagedFields(res *registry.Resource, obj, live runtime.Object, manager, subresource string) (runtime.Object, error) {
	if live == nil && subresource == "" {
		if done, ok := m.createManagedFields(res, obj, manager); ok {
			return done, nil
		}
	}
	return m.updateManagedFieldsSlow(res, obj, live, manager, subresource)
}

// updateManagedFieldsSlow is UpdateManagedFields through Kubernetes' FieldManager.
func (m *Mutator) updateManagedFieldsSlow(res *registry.Resource, obj, live runtime.Object, manager, subresource string) (runtime.Object, error) {
	fm, err := m.fieldManager(res, subresource)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if live == nil {
		if live, err = m.scheme.New(res.GroupVersionKind()); err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("new %s: %w", res.Kind, err))
		}
	}
	typed, err := m.typed(res, fm.UpdateNoErrors(live, obj, manager))
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return typed, nil
}

// strippedMetaFields are the fields no manager owns: FieldManager's stripMetaManager removes them from every set.
var strippedMetaFields = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

// createManagedFields gives what FieldManager.Update returns for a create whose body carries no managedFields,
// in one walk of the object. Against an empty live object, the comparison FieldManager makes adds every node
// of the object (leaves, list items, and the maps and lists above them) but the nodes the empty object has
// too; the one entry is that, less status and the stripped metadata. That comparison
// and the second conversion are about a third of a pod create's CPU. ok is false when the fast path does not
// apply (managedFields sent, an object of another Go type, a conversion error): the caller takes the full path,
// which also decides what such errors mean. A test holds the two paths equal over the documents' pods and
// random ones.
func (m *Mutator) createManagedFields(res *registry.Resource, obj runtime.Object, manager string) (runtime.Object, bool) {
	if reflect.TypeOf(obj) != reflect.TypeOf(res.New()) {
		return nil, false
	}
	accessor, err := meta.Accessor(obj)
	if err != nil || len(accessor.GetManagedFields()) > 0 {
		return nil, false
	}
	// A field set has no trace of an empty list where the comparison adds it: leave those to the full path.
	if hasEmptySlice(reflect.ValueOf(obj)) {
		return nil, false
	}
	// The converter finds the schema by the object's kind, which a decoded body need not carry.
	kind := obj.GetObjectKind()
	sent := kind.GroupVersionKind()
	kind.SetGroupVersionKind(res.GroupVersionKind())
	typedObj, err := m.typeConverter.ObjectToTyped(obj, typed.AllowDuplicates)
	kind.SetGroupVersionKind(sent)
	if err != nil {
		return nil, false
	}
	set, err := typedObj.ToFieldSet()
	if err != nil {
		return nil, false
	}
	emptyNodes, err := m.emptyObjectNodes(res)
	if err != nil {
		return nil, false
	}
	reset := resetFields(res.GroupVersion, "")[fieldpath.APIVersion(res.GroupVersion.String())]
	// A node both objects have is compared as a value where the object has it as a leaf (a scalar, an atomic or
	// an empty list or map: `containers: []` against the empty pod's null), and owned only when the values
	// differ. Such a node that no filter removes is rare enough (an invalid pod) to leave to the full path.
	leafInBoth := false
	emptyNodes.Iterate(func(p fieldpath.Path) {
		if set.Has(p) && !strippedMetaFields.Has(p) && !reset.Filter(fieldpath.NewSet(p)).Empty() {
			leafInBoth = true
		}
	})
	if leafInBoth {
		return nil, false
	}
	set = withInnerNodes(set).Difference(emptyNodes)
	set = reset.Filter(set).Difference(strippedMetaFields)
	if set.Empty() {
		accessor.SetManagedFields(nil)
		return obj, true
	}
	fields, err := set.ToJSON()
	if err != nil {
		return nil, false
	}
	if manager == "" {
		manager = "unknown"
	}
	accessor.SetManagedFields([]metav1.ManagedFieldsEntry{{
		Manager:    manager,
		Operation:  metav1.ManagedFieldsOperationUpdate,
		APIVersion: res.GroupVersion.String(),
		Time:       &metav1.Time{Time: time.Now().UTC()},
		FieldsType: "FieldsV1",
		FieldsV1:   &metav1.FieldsV1{Raw: fields},
	}})
	return obj, true
}

// withInnerNodes returns s with the nodes above its members as members too: a field set names only leaves and
// list items, a comparison names every node it adds.
func withInnerNodes(s *fieldpath.Set) *fieldpath.Set {
	out := s.Union(fieldpath.NewSet())
	var walk func(prefix fieldpath.Path, node *fieldpath.Set)
	walk = func(prefix fieldpath.Path, node *fieldpath.Set) {
		node.Children.Iterate(func(pe fieldpath.PathElement) {
			path := append(prefix.Copy(), pe)
			out.Insert(path)
			if child, ok := node.Children.Get(pe); ok {
				walk(path, child)
			}
		})
	}
	walk(nil, s)
	return out
}

// emptyObjectNodes returns the nodes of res's empty object (metadata, spec, a null containers list ...), which a
// create's comparison does not count as added. It is computed once per resource.
func (m *Mutator) emptyObjectNodes(res *registry.Resource) (*fieldpath.Set, error) {
	gvk := res.GroupVersionKind()
	m.mu.Lock()
	defer m.mu.Unlock()
	if set, ok := m.emptyNodes[gvk]; ok {
		return set, nil
	}
	empty := res.New()
	empty.GetObjectKind().SetGroupVersionKind(gvk)
	typedEmpty, err := m.typeConverter.ObjectToTyped(empty, typed.AllowDuplicates)
	if err != nil {
		return nil, fmt.Errorf("empty %s to typed: %w", res.Kind, err)
	}
	set, err := typedEmpty.ToFieldSet()
	if err != nil {
		return nil, fmt.Errorf("field set of an empty %s: %w", res.Kind, err)
	}
	set = withInnerNodes(set)
	m.emptyNodes[gvk] = set
	return set, nil
}

// hasEmptySlice reports whether v holds an empty, non-nil slice anywhere.
func hasEmptySlice(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && hasEmptySlice(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if hasEmptySlice(v.Field(i)) {
				return true
			}
		}
	case reflect.Slice:
		if !v.IsNil() && v.Len() == 0 {
			return true
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := range v.Len() {
			if hasEmptySlice(v.Index(i)) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if hasEmptySlice(it.Value()) {
				return true
			}
		}
	}
	return false
}

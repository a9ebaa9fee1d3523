package mutate

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod-dev/peapod/internal/registry"
)

// UpdateManagedFields records manager's ownership of the fields it set on a non-apply write (create,
// update, non-apply patch), as kube-apiserver does through FieldManager.Update, so that a later
// `kubectl apply --server-side` finds its conflicts and `kubectl get -o yaml --show-managed-fields` shows
// them. live is nil on create. Use ManagerName to pick manager. Returns the object with
// metadata.managedFields set. As in Kubernetes, a failure to compute the fields never fails the write: the
// object comes back with managedFields cleared instead.
func (m *Mutator) UpdateManagedFields(res *registry.Resource, obj, live runtime.Object, manager, subresource string) (runtime.Object, error) {
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

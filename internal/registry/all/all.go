// Package all assembles the registry the API server serves: every resource and the runtime.Scheme that
// knows their types. It lives apart from package registry because the resource packages import registry.
package all

import (
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/registry/coordination"
	"github.com/peapod-dev/peapod/internal/registry/core"
	"github.com/peapod-dev/peapod/internal/registry/pod"
)

// New returns the registry of every served resource, in discovery order, with its scheme.
func New() *registry.Registry {
	resources := []*registry.Resource{
		core.ConfigMaps(),
		core.Events(),
		core.Namespaces(),
		core.Nodes(),
		pod.Resource(),
		core.Secrets(),
		core.ServiceAccounts(),
		coordination.Leases(),
	}
	return &registry.Registry{Resources: resources, Scheme: newScheme(resources)}
}

// newScheme registers core/v1 and coordination.k8s.io/v1 (each with the meta options types and
// WatchEvent, and the unversioned Status/APIVersions/APIGroupList/APIGroup/APIResourceList, as their
// AddToScheme does), authentication.k8s.io/v1 TokenRequest, the meta.k8s.io/v1 types the server answers with (Table, PartialObjectMetadata,
// WatchEvent, Status, the options), and each resource's field selector labels.
func newScheme(resources []*registry.Resource) *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(coordinationv1.AddToScheme(scheme))
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(metav1.AddMetaToScheme(scheme))
	scheme.AddKnownTypes(metav1.SchemeGroupVersion, &metav1.Status{})
	// serviceaccounts/token's body; only the kind itself, since no authentication.k8s.io resource is served.
	scheme.AddKnownTypes(authenticationv1.SchemeGroupVersion, &authenticationv1.TokenRequest{})
	utilruntime.Must(scheme.SetVersionPriority(corev1.SchemeGroupVersion))
	utilruntime.Must(scheme.SetVersionPriority(coordinationv1.SchemeGroupVersion))
	for _, r := range resources {
		utilruntime.Must(scheme.AddFieldLabelConversionFunc(r.GroupVersionKind(), fieldLabelConversion(r)))
	}
	return scheme
}

// fieldLabelConversion accepts exactly the field labels the resource's strategy can select on, with
// Kubernetes' error for any other.
func fieldLabelConversion(r *registry.Resource) runtime.FieldLabelConversionFunc {
	supported := map[string]bool{}
	for label := range r.Strategy.SelectableFields(r.New()) {
		supported[label] = true
	}
	if r.Namespaced {
		supported["metadata.namespace"] = true
	}
	return func(label, value string) (string, string, error) {
		if !supported[label] {
			return "", "", fmt.Errorf("field label not supported: %s", label)
		}
		return label, value, nil
	}
}

package openapi

import (
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod-dev/peapod/internal/registry"
)

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// testResources are the resources of issue 2 (and the pod subresources of the next ones), described as
// Kubernetes' discovery lists them.
func testResources() []*registry.Resource {
	core := schema.GroupVersion{Version: "v1"}
	res := func(gv schema.GroupVersion, kind, name string, namespaced bool, newObj, newList func() runtime.Object, subs ...string) *registry.Resource {
		return &registry.Resource{
			GroupVersion: gv, Kind: kind, Name: name, SingularName: strings.ToLower(kind), Namespaced: namespaced,
			Verbs: allVerbs, Subresources: subs, New: newObj, NewList: newList,
			Strategy: registry.DefaultStrategy{Namespaced: namespaced},
		}
	}
	namespaces := res(core, "Namespace", "namespaces", false,
		func() runtime.Object { return &corev1.Namespace{} }, func() runtime.Object { return &corev1.NamespaceList{} },
		"status", "finalize")
	namespaces.Verbs = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	return []*registry.Resource{
		res(core, "Pod", "pods", true,
			func() runtime.Object { return &corev1.Pod{} }, func() runtime.Object { return &corev1.PodList{} },
			"status", "binding", "log", "exec", "attach", "portforward", "ephemeralcontainers"),
		namespaces,
		res(core, "Node", "nodes", false,
			func() runtime.Object { return &corev1.Node{} }, func() runtime.Object { return &corev1.NodeList{} },
			"status"),
		res(core, "Event", "events", true,
			func() runtime.Object { return &corev1.Event{} }, func() runtime.Object { return &corev1.EventList{} }),
		res(core, "ConfigMap", "configmaps", true,
			func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &corev1.ConfigMapList{} }),
		res(core, "Secret", "secrets", true,
			func() runtime.Object { return &corev1.Secret{} }, func() runtime.Object { return &corev1.SecretList{} }),
		res(core, "ServiceAccount", "serviceaccounts", true,
			func() runtime.Object { return &corev1.ServiceAccount{} }, func() runtime.Object { return &corev1.ServiceAccountList{} }),
		res(schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}, "Lease", "leases", true,
			func() runtime.Object { return &coordinationv1.Lease{} }, func() runtime.Object { return &coordinationv1.LeaseList{} }),
	}
}

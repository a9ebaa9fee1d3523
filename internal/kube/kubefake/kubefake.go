// Package kubefake is an in-memory kube.Interface for tests, built on client-go's testing machinery (the
// object tracker, reactors and recorded actions) as client-go's fake clientset is, so tests assert on
// Actions and inject failures with PrependReactor exactly as they would with it.
package kubefake

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	clienttesting "k8s.io/client-go/testing"

	"github.com/peapod-dev/peapod/internal/kube"
)

// Clientset is a fake kube.Interface over an object tracker.
type Clientset struct {
	clienttesting.Fake
	tracker clienttesting.ObjectTracker

	// Resources is what Discovery().ServerPreferredNamespacedResources returns, and DiscoveryErr the error
	// returned with it.
	Resources    []*metav1.APIResourceList
	DiscoveryErr error
}

var _ kube.Interface = (*Clientset)(nil)

// NewClientset returns a fake holding objects. It panics on objects the tracker refuses: a broken test.
func NewClientset(objects ...runtime.Object) *Clientset {
	scheme, err := kube.NewScheme()
	if err != nil {
		panic(err)
	}
	tracker := clienttesting.NewObjectTracker(scheme, serializer.NewCodecFactory(scheme).UniversalDecoder())
	for _, obj := range objects {
		if err := tracker.Add(obj); err != nil {
			panic(fmt.Sprintf("add %T to the fake: %v", obj, err))
		}
	}
	c := &Clientset{tracker: tracker}
	c.AddReactor("*", "*", clienttesting.ObjectReaction(tracker))
	c.AddWatchReactor("*", func(action clienttesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if w, ok := action.(clienttesting.WatchActionImpl); ok {
			opts = w.ListOptions
		}
		w, err := tracker.Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		return true, w, nil
	})
	return c
}

// Tracker returns the object tracker, to read or change the stored objects without recording actions.
func (c *Clientset) Tracker() clienttesting.ObjectTracker { return c.tracker }

// object and list are pointers to API kinds, as in package kube.
type object[E any] interface {
	*E
	runtime.Object
	metav1.Object
}

type list[E any] interface {
	*E
	runtime.Object
}

// newFake returns a gentype fake client of resource; items and setItems reach the list kind's Items.
func newFake[E, LE any, T object[E], L list[LE]](c *Clientset, gv schema.GroupVersion, resource, kind, namespace string,
	items func(L) []E, setItems func(L, []E)) *gentype.FakeClientWithList[T, L] {
	return gentype.NewFakeClientWithList(&c.Fake, namespace, gv.WithResource(resource), gv.WithKind(kind),
		func() T { return T(new(E)) }, func() L { return L(new(LE)) },
		func(dst, src L) {
			dstMeta, srcMeta := any(dst).(metav1.ListInterface), any(src).(metav1.ListInterface)
			dstMeta.SetResourceVersion(srcMeta.GetResourceVersion())
			dstMeta.SetContinue(srcMeta.GetContinue())
			dstMeta.SetRemainingItemCount(srcMeta.GetRemainingItemCount())
		},
		func(l L) []T {
			var result []T
			for i := range items(l) {
				result = append(result, T(&items(l)[i]))
			}
			return result
		},
		func(l L, ts []T) {
			values := make([]E, len(ts))
			for i, t := range ts {
				values[i] = *(*E)(t)
			}
			setItems(l, values)
		})
}

// Namespaces returns the fake namespaces client.
func (c *Clientset) Namespaces() kube.NamespaceInterface {
	return &namespaces{newFake[corev1.Namespace, corev1.NamespaceList](c, corev1.SchemeGroupVersion, "namespaces", "Namespace", "",
		func(l *corev1.NamespaceList) []corev1.Namespace { return l.Items },
		func(l *corev1.NamespaceList, items []corev1.Namespace) { l.Items = items }), c}
}

// Nodes returns the fake nodes client.
func (c *Clientset) Nodes() kube.NodeInterface {
	return newFake[corev1.Node, corev1.NodeList](c, corev1.SchemeGroupVersion, "nodes", "Node", "",
		func(l *corev1.NodeList) []corev1.Node { return l.Items },
		func(l *corev1.NodeList, items []corev1.Node) { l.Items = items })
}

// Pods returns the fake pods client of namespace.
func (c *Clientset) Pods(namespace string) kube.PodInterface {
	return &pods{newFake[corev1.Pod, corev1.PodList](c, corev1.SchemeGroupVersion, "pods", "Pod", namespace,
		func(l *corev1.PodList) []corev1.Pod { return l.Items },
		func(l *corev1.PodList, items []corev1.Pod) { l.Items = items }), c, namespace}
}

// Events returns the fake events client of namespace.
func (c *Clientset) Events(namespace string) kube.EventInterface {
	return newFake[corev1.Event, corev1.EventList](c, corev1.SchemeGroupVersion, "events", "Event", namespace,
		func(l *corev1.EventList) []corev1.Event { return l.Items },
		func(l *corev1.EventList, items []corev1.Event) { l.Items = items })
}

// ConfigMaps returns the fake configmaps client of namespace.
func (c *Clientset) ConfigMaps(namespace string) kube.ConfigMapInterface {
	return newFake[corev1.ConfigMap, corev1.ConfigMapList](c, corev1.SchemeGroupVersion, "configmaps", "ConfigMap", namespace,
		func(l *corev1.ConfigMapList) []corev1.ConfigMap { return l.Items },
		func(l *corev1.ConfigMapList, items []corev1.ConfigMap) { l.Items = items })
}

// Secrets returns the fake secrets client of namespace.
func (c *Clientset) Secrets(namespace string) kube.SecretInterface {
	return newFake[corev1.Secret, corev1.SecretList](c, corev1.SchemeGroupVersion, "secrets", "Secret", namespace,
		func(l *corev1.SecretList) []corev1.Secret { return l.Items },
		func(l *corev1.SecretList, items []corev1.Secret) { l.Items = items })
}

// ServiceAccounts returns the fake serviceaccounts client of namespace.
func (c *Clientset) ServiceAccounts(namespace string) kube.ServiceAccountInterface {
	return &serviceAccounts{newFake[corev1.ServiceAccount, corev1.ServiceAccountList](c, corev1.SchemeGroupVersion, "serviceaccounts", "ServiceAccount", namespace,
		func(l *corev1.ServiceAccountList) []corev1.ServiceAccount { return l.Items },
		func(l *corev1.ServiceAccountList, items []corev1.ServiceAccount) { l.Items = items }), c, namespace}
}

// Leases returns the fake leases client of namespace.
func (c *Clientset) Leases(namespace string) kube.LeaseInterface {
	return newFake[coordinationv1.Lease, coordinationv1.LeaseList](c, coordinationv1.SchemeGroupVersion, "leases", "Lease", namespace,
		func(l *coordinationv1.LeaseList) []coordinationv1.Lease { return l.Items },
		func(l *coordinationv1.LeaseList, items []coordinationv1.Lease) { l.Items = items })
}

// Discovery returns Resources and DiscoveryErr.
func (c *Clientset) Discovery() kube.DiscoveryInterface { return discovery{c} }

type discovery struct{ c *Clientset }

func (d discovery) ServerPreferredNamespacedResources(context.Context) ([]*metav1.APIResourceList, error) {
	return d.c.Resources, d.c.DiscoveryErr
}

type namespaces struct {
	*gentype.FakeClientWithList[*corev1.Namespace, *corev1.NamespaceList]
	c *Clientset
}

// Finalize is recorded as client-go's fake records it: a create of the finalize subresource, which the
// tracker applies as an update of the namespace.
func (n *namespaces) Finalize(_ context.Context, namespace *corev1.Namespace, _ metav1.UpdateOptions) (*corev1.Namespace, error) {
	action := clienttesting.CreateActionImpl{Object: namespace}
	action.Verb, action.Resource, action.Subresource = "create", corev1.SchemeGroupVersion.WithResource("namespaces"), "finalize"
	obj, err := n.c.Invokes(action, namespace)
	if obj == nil {
		return nil, err
	}
	return obj.(*corev1.Namespace), err
}

type serviceAccounts struct {
	*gentype.FakeClientWithList[*corev1.ServiceAccount, *corev1.ServiceAccountList]
	c         *Clientset
	namespace string
}

// CreateToken is recorded as a create of the service account's token subresource; a reactor answers it.
func (s *serviceAccounts) CreateToken(_ context.Context, name string, req *authenticationv1.TokenRequest, _ metav1.CreateOptions) (*authenticationv1.TokenRequest, error) {
	action := clienttesting.CreateActionImpl{Object: req, Name: name}
	action.Verb, action.Namespace, action.Resource, action.Subresource = "create", s.namespace, corev1.SchemeGroupVersion.WithResource("serviceaccounts"), "token"
	obj, err := s.c.Invokes(action, &authenticationv1.TokenRequest{})
	if err != nil {
		return nil, err
	}
	out, _ := obj.(*authenticationv1.TokenRequest)
	return out, nil
}

type pods struct {
	*gentype.FakeClientWithList[*corev1.Pod, *corev1.PodList]
	c         *Clientset
	namespace string
}

// Bind is recorded as a create of the pod's binding subresource.
func (p *pods) Bind(_ context.Context, binding *corev1.Binding, _ metav1.CreateOptions) error {
	action := clienttesting.CreateActionImpl{Object: binding}
	action.Verb, action.Namespace, action.Resource, action.Subresource = "create", p.namespace, corev1.SchemeGroupVersion.WithResource("pods"), "binding"
	_, err := p.c.Invokes(action, binding)
	return err
}

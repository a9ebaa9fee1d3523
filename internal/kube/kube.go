// Package kube is the client-go layer peapod's own control loops use to reach a Kubernetes API server:
// typed clients for the resources peapod serves (core/v1 and coordination.k8s.io/v1), shared informers and
// listers on top of them, and the part of discovery the namespace controller needs.
//
// It is built from client-go's generic pieces (rest.RESTClient, gentype, tools/cache, listers) with a scheme
// of only those two API groups, instead of the generated clientset, informers and discovery client, which
// register and initialize all of Kubernetes' ~50 API groups: code and data a peapod process would load and
// page in at start without ever using. Package kubefake is the in-memory fake for tests.
package kube

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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// ResourceInterface is a typed client of one resource, namespaced or not: the methods of client-go's
// generated typed clients, without server-side apply (whose configuration types would pull in every
// API group's).
type ResourceInterface[T, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	DeleteCollection(ctx context.Context, opts metav1.DeleteOptions, listOpts metav1.ListOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// StatusInterface is a typed client of a resource with a status subresource.
type StatusInterface[T, L runtime.Object] interface {
	ResourceInterface[T, L]
	UpdateStatus(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// NamespaceInterface also finalizes namespaces (PUT .../namespaces/NAME/finalize).
type NamespaceInterface interface {
	StatusInterface[*corev1.Namespace, *corev1.NamespaceList]
	Finalize(ctx context.Context, namespace *corev1.Namespace, opts metav1.UpdateOptions) (*corev1.Namespace, error)
}

// PodInterface also binds pods to nodes (POST .../pods/NAME/binding), as a scheduler does.
type PodInterface interface {
	StatusInterface[*corev1.Pod, *corev1.PodList]
	Bind(ctx context.Context, binding *corev1.Binding, opts metav1.CreateOptions) error
}

// ServiceAccountInterface also mints tokens (POST .../serviceaccounts/NAME/token), as the kubelet does for
// projected service account token volumes.
type ServiceAccountInterface interface {
	ResourceInterface[*corev1.ServiceAccount, *corev1.ServiceAccountList]
	CreateToken(ctx context.Context, name string, req *authenticationv1.TokenRequest, opts metav1.CreateOptions) (*authenticationv1.TokenRequest, error)
}

// The typed clients of the other served resources.
type (
	NodeInterface      = StatusInterface[*corev1.Node, *corev1.NodeList]
	EventInterface     = ResourceInterface[*corev1.Event, *corev1.EventList]
	ConfigMapInterface = ResourceInterface[*corev1.ConfigMap, *corev1.ConfigMapList]
	SecretInterface    = ResourceInterface[*corev1.Secret, *corev1.SecretList]
	LeaseInterface     = ResourceInterface[*coordinationv1.Lease, *coordinationv1.LeaseList]
)

// DiscoveryInterface is the part of discovery peapod's controllers read.
type DiscoveryInterface interface {
	// ServerPreferredNamespacedResources lists the namespaced resources of every group in its preferred
	// version, as client-go's discovery client does. On failures for some groups it returns the others
	// together with an *ErrGroupDiscoveryFailed.
	ServerPreferredNamespacedResources(ctx context.Context) ([]*metav1.APIResourceList, error)
}

// Interface gives the typed clients of the served resources; namespace "" means all namespaces for
// list and watch. Clientset and kubefake.Clientset implement it.
type Interface interface {
	Namespaces() NamespaceInterface
	Nodes() NodeInterface
	Pods(namespace string) PodInterface
	Events(namespace string) EventInterface
	ConfigMaps(namespace string) ConfigMapInterface
	Secrets(namespace string) SecretInterface
	ServiceAccounts(namespace string) ServiceAccountInterface
	Leases(namespace string) LeaseInterface
	Discovery() DiscoveryInterface
}

// NewScheme returns a scheme of the kinds peapod serves: core/v1, coordination.k8s.io/v1,
// authentication.k8s.io/v1's TokenRequest (the serviceaccounts/token subresource) and the meta kinds
// (options, Status, WatchEvent).
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, coordinationv1.AddToScheme, authenticationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("register API kinds: %w", err)
		}
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	return scheme, nil
}

// Clientset talks to an API server over REST. It is safe for concurrent use.
type Clientset struct {
	core           rest.Interface
	coordination   rest.Interface
	parameterCodec runtime.ParameterCodec
}

var _ Interface = (*Clientset)(nil)

// NewForConfig returns a Clientset for config. Like client-go's clientset, its API groups share one HTTP
// client (so one connection pool) and, when config sets QPS, one rate limiter.
func NewForConfig(config *rest.Config) (*Clientset, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	config = rest.CopyConfig(config)
	if config.UserAgent == "" {
		config.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if config.RateLimiter == nil && config.QPS > 0 {
		if config.Burst <= 0 {
			return nil, fmt.Errorf("burst is required to be greater than 0 when RateLimiter is not set and QPS is set to greater than 0")
		}
		config.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(config.QPS, config.Burst)
	}
	httpClient, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	serializers := rest.CodecFactoryForGeneratedClient(scheme, serializer.NewCodecFactory(scheme)).WithoutConversion()
	restClient := func(apiPath string, gv schema.GroupVersion) (rest.Interface, error) {
		c := rest.CopyConfig(config)
		c.APIPath, c.GroupVersion, c.NegotiatedSerializer = apiPath, &gv, serializers
		client, err := rest.RESTClientForConfigAndClient(c, httpClient)
		if err != nil {
			return nil, fmt.Errorf("REST client for %s: %w", gv, err)
		}
		return client, nil
	}
	core, err := restClient("/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	coordination, err := restClient("/apis", coordinationv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &Clientset{core: core, coordination: coordination, parameterCodec: runtime.NewParameterCodec(scheme)}, nil
}

// object is a pointer to an API kind E, such as *corev1.Pod.
type object[E any] interface {
	*E
	runtime.Object
	metav1.Object
}

// list is a pointer to an API list kind E, such as *corev1.PodList.
type list[E any] interface {
	*E
	runtime.Object
}

// newTyped returns a gentype client of resource, whose objects are Es in lists of LEs; the API server is
// asked for protobuf first, as client-go's generated clients do for built-in types.
func newTyped[E, LE any, T object[E], L list[LE]](c *Clientset, client rest.Interface, resource, namespace string) *gentype.ClientWithList[T, L] {
	return gentype.NewClientWithList(resource, client, c.parameterCodec, namespace,
		func() T { return T(new(E)) }, func() L { return L(new(LE)) }, gentype.PrefersProtobuf[T]())
}

// Namespaces returns the namespaces client.
func (c *Clientset) Namespaces() NamespaceInterface {
	return &namespaces{newTyped[corev1.Namespace, corev1.NamespaceList](c, c.core, "namespaces", ""), c.parameterCodec}
}

// Nodes returns the nodes client.
func (c *Clientset) Nodes() NodeInterface {
	return newTyped[corev1.Node, corev1.NodeList](c, c.core, "nodes", "")
}

// Pods returns the pods client of namespace.
func (c *Clientset) Pods(namespace string) PodInterface {
	return &pods{newTyped[corev1.Pod, corev1.PodList](c, c.core, "pods", namespace), c.parameterCodec}
}

// Events returns the core/v1 events client of namespace.
func (c *Clientset) Events(namespace string) EventInterface {
	return newTyped[corev1.Event, corev1.EventList](c, c.core, "events", namespace)
}

// ConfigMaps returns the configmaps client of namespace.
func (c *Clientset) ConfigMaps(namespace string) ConfigMapInterface {
	return newTyped[corev1.ConfigMap, corev1.ConfigMapList](c, c.core, "configmaps", namespace)
}

// Secrets returns the secrets client of namespace.
func (c *Clientset) Secrets(namespace string) SecretInterface {
	return newTyped[corev1.Secret, corev1.SecretList](c, c.core, "secrets", namespace)
}

// ServiceAccounts returns the serviceaccounts client of namespace.
func (c *Clientset) ServiceAccounts(namespace string) ServiceAccountInterface {
	return &serviceAccounts{newTyped[corev1.ServiceAccount, corev1.ServiceAccountList](c, c.core, "serviceaccounts", namespace), c.parameterCodec}
}

// Leases returns the coordination.k8s.io/v1 leases client of namespace.
func (c *Clientset) Leases(namespace string) LeaseInterface {
	return newTyped[coordinationv1.Lease, coordinationv1.LeaseList](c, c.coordination, "leases", namespace)
}

// Discovery reads the server's discovery documents.
func (c *Clientset) Discovery() DiscoveryInterface { return discovery{c.core} }

type namespaces struct {
	*gentype.ClientWithList[*corev1.Namespace, *corev1.NamespaceList]
	parameterCodec runtime.ParameterCodec
}

func (c *namespaces) Finalize(ctx context.Context, namespace *corev1.Namespace, opts metav1.UpdateOptions) (*corev1.Namespace, error) {
	result := &corev1.Namespace{}
	err := c.GetClient().Put().UseProtobufAsDefault().Resource("namespaces").Name(namespace.Name).SubResource("finalize").
		VersionedParams(&opts, c.parameterCodec).Body(namespace).Do(ctx).Into(result)
	return result, err
}

type serviceAccounts struct {
	*gentype.ClientWithList[*corev1.ServiceAccount, *corev1.ServiceAccountList]
	parameterCodec runtime.ParameterCodec
}

func (c *serviceAccounts) CreateToken(ctx context.Context, name string, req *authenticationv1.TokenRequest, opts metav1.CreateOptions) (*authenticationv1.TokenRequest, error) {
	result := &authenticationv1.TokenRequest{}
	err := c.GetClient().Post().UseProtobufAsDefault().Namespace(c.GetNamespace()).Resource("serviceaccounts").Name(name).
		SubResource("token").VersionedParams(&opts, c.parameterCodec).Body(req).Do(ctx).Into(result)
	return result, err
}

type pods struct {
	*gentype.ClientWithList[*corev1.Pod, *corev1.PodList]
	parameterCodec runtime.ParameterCodec
}

func (c *pods) Bind(ctx context.Context, binding *corev1.Binding, opts metav1.CreateOptions) error {
	return c.GetClient().Post().UseProtobufAsDefault().Namespace(c.GetNamespace()).Resource("pods").Name(binding.Name).
		SubResource("binding").VersionedParams(&opts, c.parameterCodec).Body(binding).Do(ctx).Error()
}

package kube

import (
	"context"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"
)

// Informer is a shared informer of one resource with its lister.
type Informer[T runtime.Object] struct {
	informer cache.SharedIndexInformer
	resource schema.GroupResource
}

// Informer returns the shared informer, to add event handlers to and read its cache.
func (i Informer[T]) Informer() cache.SharedIndexInformer { return i.informer }

// Lister reads the informer's cache. For a namespaced resource, Get takes "namespace/name"; use
// NamespacedLister to get by name within one namespace.
func (i Informer[T]) Lister() listers.ResourceIndexer[T] {
	return listers.New[T](i.informer.GetIndexer(), i.resource)
}

// NamespacedLister reads the informer's cache within namespace.
func (i Informer[T]) NamespacedLister(namespace string) listers.ResourceIndexer[T] {
	return listers.NewNamespaced(i.Lister(), namespace)
}

// InformerFactory makes at most one shared informer per resource, like client-go's
// SharedInformerFactory: controllers ask it for the informers they need, then Start runs them all.
// Informers list and watch every namespace and never resync: peapod's controllers are driven by watch
// events and retry failures through their rate-limited queues.
type InformerFactory struct {
	client Interface

	mu           sync.Mutex
	informers    map[schema.GroupResource]cache.SharedIndexInformer
	started      map[schema.GroupResource]bool
	shuttingDown bool
	wg           sync.WaitGroup
}

// NewInformerFactory returns a factory of informers fed through client.
func NewInformerFactory(client Interface) *InformerFactory {
	return &InformerFactory{
		client:    client,
		informers: map[schema.GroupResource]cache.SharedIndexInformer{},
		started:   map[schema.GroupResource]bool{},
	}
}

// listWatcher is the part of a typed client an informer needs.
type listWatcher[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// informerFor returns the factory's informer of resource, making it on first demand.
func informerFor[T, L runtime.Object](f *InformerFactory, resource schema.GroupResource, example T, client listWatcher[L]) Informer[T] {
	f.mu.Lock()
	defer f.mu.Unlock()
	informer, ok := f.informers[resource]
	if !ok {
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				return client.List(ctx, opts)
			},
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				return client.Watch(ctx, opts)
			},
		}
		informer = cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{
			Indexers:          cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
			ObjectDescription: resource.String(),
		})
		f.informers[resource] = informer
	}
	return Informer[T]{informer: informer, resource: resource}
}

// Namespaces returns the shared namespace informer.
func (f *InformerFactory) Namespaces() Informer[*corev1.Namespace] {
	return informerFor(f, corev1.Resource("namespaces"), &corev1.Namespace{}, f.client.Namespaces())
}

// Nodes returns the shared node informer.
func (f *InformerFactory) Nodes() Informer[*corev1.Node] {
	return informerFor(f, corev1.Resource("nodes"), &corev1.Node{}, f.client.Nodes())
}

// Pods returns the shared pod informer.
func (f *InformerFactory) Pods() Informer[*corev1.Pod] {
	return informerFor(f, corev1.Resource("pods"), &corev1.Pod{}, f.client.Pods(metav1.NamespaceAll))
}

// ConfigMaps returns the shared ConfigMap informer.
func (f *InformerFactory) ConfigMaps() Informer[*corev1.ConfigMap] {
	return informerFor(f, corev1.Resource("configmaps"), &corev1.ConfigMap{}, f.client.ConfigMaps(metav1.NamespaceAll))
}

// Secrets returns the shared Secret informer.
func (f *InformerFactory) Secrets() Informer[*corev1.Secret] {
	return informerFor(f, corev1.Resource("secrets"), &corev1.Secret{}, f.client.Secrets(metav1.NamespaceAll))
}

// ServiceAccounts returns the shared ServiceAccount informer.
func (f *InformerFactory) ServiceAccounts() Informer[*corev1.ServiceAccount] {
	return informerFor(f, corev1.Resource("serviceaccounts"), &corev1.ServiceAccount{}, f.client.ServiceAccounts(metav1.NamespaceAll))
}

// Leases returns the shared Lease informer.
func (f *InformerFactory) Leases() Informer[*coordinationv1.Lease] {
	return informerFor(f, coordinationv1.Resource("leases"), &coordinationv1.Lease{}, f.client.Leases(metav1.NamespaceAll))
}

// Start runs every informer made so far that is not running yet, until ctx ends. It may be called again
// for informers made later.
func (f *InformerFactory) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shuttingDown {
		return
	}
	for resource, informer := range f.informers {
		if f.started[resource] {
			continue
		}
		f.started[resource] = true
		f.wg.Go(func() { informer.RunWithContext(ctx) })
	}
}

// Shutdown waits for the started informers to stop (they stop when the context given to Start ends);
// afterwards Start does nothing.
func (f *InformerFactory) Shutdown() {
	f.mu.Lock()
	f.shuttingDown = true
	f.mu.Unlock()
	f.wg.Wait()
}

// Package serviceaccount gives every active namespace a "default" ServiceAccount, creating it when the
// namespace appears and again whenever it is deleted, as kube-controller-manager's serviceaccounts
// controller does. Terminating namespaces are left alone.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// DefaultName is the ServiceAccount every namespace gets, and pods use when they name none.
const DefaultName = "default"

// Controller keeps a "default" ServiceAccount in every active namespace.
type Controller struct {
	client          kubernetes.Interface
	namespaces      corelisters.NamespaceLister
	serviceAccounts corelisters.ServiceAccountLister
	synced          []cache.InformerSynced
	queue           workqueue.TypedRateLimitingInterface[string]
	logger          *slog.Logger
}

// New returns a controller fed by the namespace and ServiceAccount informers; it creates
// ServiceAccounts through client.
func New(client kubernetes.Interface, namespaces coreinformers.NamespaceInformer,
	serviceAccounts coreinformers.ServiceAccountInformer, logger *slog.Logger) (*Controller, error) {
	c := &Controller{
		client:          client,
		namespaces:      namespaces.Lister(),
		serviceAccounts: serviceAccounts.Lister(),
		synced:          []cache.InformerSynced{namespaces.Informer().HasSynced, serviceAccounts.Informer().HasSynced},
		// Retries back off per namespace from 5 ms to 1000 s, with 10 per second overall.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
		logger: logger,
	}
	if _, err := namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	if _, err := serviceAccounts.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.serviceAccountDeleted,
	}); err != nil {
		return nil, fmt.Errorf("watch serviceaccounts: %w", err)
	}
	return c, nil
}

func (c *Controller) enqueueNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) serviceAccountDeleted(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
		c.queue.Add(sa.Namespace)
	}
}

// Run processes namespaces with the given number of workers until ctx ends, then stops the workers
// and returns once they have finished.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

func (c *Controller) processNext(ctx context.Context) bool {
	name, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(name)

	err := c.sync(ctx, name)
	switch {
	case err == nil:
		c.queue.Forget(name)
	case ctx.Err() != nil:
		// Shutting down; the next start lists every namespace again.
	default:
		c.logger.Error("could not create the default ServiceAccount; retrying", "namespace", name, "err", err)
		c.queue.AddRateLimited(name)
	}
	return true
}

// sync creates the default ServiceAccount in the named namespace if it is active and lacks one.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	// Kubernetes tests phase != Active; a namespace only ever lacks Active while terminating, and
	// testing for that directly also covers one stored before its phase was defaulted.
	if ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil {
		return nil
	}
	_, err = c.serviceAccounts.ServiceAccounts(name).Get(DefaultName)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get serviceaccount %s/%s: %w", name, DefaultName, err)
	}

	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: name}}
	_, err = c.client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		// AlreadyExists: the informer had not yet seen one created since.
		return nil
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace began terminating after the informer's view of it.
		return nil
	default:
		return fmt.Errorf("create serviceaccount %s/%s: %w", name, DefaultName, err)
	}
}

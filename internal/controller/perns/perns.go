// Package perns keeps one named object in every active namespace: it creates the object when a
// namespace appears or the object is deleted and, when asked to, writes the object back when someone
// changes its content. kube-controller-manager's serviceaccounts controller and root CA publisher are
// both this loop around a different object. Terminating namespaces are left alone.
package perns

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/peapod-dev/peapod/internal/kube"
)

// Object is a typed API object such as *corev1.ConfigMap.
type Object interface {
	metav1.Object
	runtime.Object
}

// Writer is the part of a typed namespaced client the controller writes through, e.g.
// client.ConfigMaps(namespace) of a kube.Interface.
type Writer[T Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// Config describes the object a Controller keeps in every namespace.
type Config[T Object] struct {
	// Name names the work queue and the controller in log messages.
	Name string
	// ObjectName is the name of the kept object; objects with other names are ignored.
	ObjectName string
	// Desired builds the object wanted in namespace, named ObjectName.
	Desired func(namespace string) T
	// Restore, when set, decides whether an existing object has drifted from the desired one and
	// returns the object to write back; the controller then also reacts to the object's creation and
	// updates. When nil an existing object is left as it is.
	Restore func(existing, desired T) (T, bool)
	// Client returns the writer for namespace.
	Client func(namespace string) Writer[T]
	// Namespaces and Objects feed the controller; Objects must be the informer of T.
	Namespaces kube.Informer[*corev1.Namespace]
	Objects    cache.SharedIndexInformer
	Logger     *slog.Logger
}

// Controller keeps one object in every active namespace. Work is keyed by namespace name, so a
// burst of events for one namespace collapses into one sync.
type Controller[T Object] struct {
	config     Config[T]
	namespaces listers.ResourceIndexer[*corev1.Namespace]
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller and registers its event handlers on the informers in config.
func New[T Object](config Config[T]) (*Controller[T], error) {
	c := &Controller[T]{
		config:     config,
		namespaces: config.Namespaces.Lister(),
		synced:     []cache.InformerSynced{config.Namespaces.Informer().HasSynced, config.Objects.HasSynced},
		// Retries back off per namespace from 5 ms to 1000 s, with 10 per second overall.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: config.Name}),
	}
	if _, err := config.Namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s: watch namespaces: %w", config.Name, err)
	}
	handler := cache.ResourceEventHandlerFuncs{DeleteFunc: c.enqueueObject}
	if config.Restore != nil {
		handler.AddFunc = c.enqueueObject
		handler.UpdateFunc = func(_, obj any) { c.enqueueObject(obj) }
	}
	if _, err := config.Objects.AddEventHandler(handler); err != nil {
		return nil, fmt.Errorf("%s: watch %s: %w", config.Name, config.ObjectName, err)
	}
	return c, nil
}

func (c *Controller[T]) enqueueNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller[T]) enqueueObject(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if o, ok := obj.(T); ok && o.GetName() == c.config.ObjectName {
		c.queue.Add(o.GetNamespace())
	}
}

// Run processes namespaces with the given number of workers until ctx ends, then stops the workers
// and returns once they have finished.
func (c *Controller[T]) Run(ctx context.Context, workers int) {
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

func (c *Controller[T]) processNext(ctx context.Context) bool {
	name, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(name)

	err := c.Sync(ctx, name)
	switch {
	case err == nil:
		c.queue.Forget(name)
	case ctx.Err() != nil:
		// Shutting down; the next start lists every namespace again.
	default:
		c.config.Logger.Error("could not sync; retrying", "namespace", name, "object", c.config.ObjectName, "err", err)
		c.queue.AddRateLimited(name)
	}
	return true
}

// Sync brings the object in the named namespace in line with the desired one, reading the current
// state from the informers: it creates the object if missing and, with Restore, writes it back if it
// drifted. A namespace that is gone or terminating is left alone.
func (c *Controller[T]) Sync(ctx context.Context, namespace string) error {
	ns, err := c.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", namespace, err)
	}
	// Kubernetes tests phase != Active; a namespace only ever lacks Active while terminating, and
	// testing for that directly also covers one stored before its phase was defaulted.
	if ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil {
		return nil
	}

	key := cache.NewObjectName(namespace, c.config.ObjectName).String()
	item, exists, err := c.config.Objects.GetIndexer().GetByKey(key)
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	desired := c.config.Desired(namespace)
	if !exists {
		return c.create(ctx, namespace, desired)
	}
	if c.config.Restore == nil {
		return nil
	}
	existing, ok := item.(T)
	if !ok {
		return fmt.Errorf("get %s: informer holds a %T", key, item)
	}
	restored, drifted := c.config.Restore(existing, desired)
	if !drifted {
		return nil
	}
	_, err = c.config.Client(namespace).Update(ctx, restored, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		// Deleted meanwhile: its delete event queues the namespace again.
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", key, err)
	}
	return nil
}

func (c *Controller[T]) create(ctx context.Context, namespace string, desired T) error {
	_, err := c.config.Client(namespace).Create(ctx, desired, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		// AlreadyExists: the informer had not yet seen one created since.
		return nil
	case apierrors.IsNotFound(err), apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace went away or began terminating after the informer's view of it.
		return nil
	default:
		return fmt.Errorf("create %s/%s: %w", namespace, c.config.ObjectName, err)
	}
}

// Package namespace finishes the deletion of namespaces, as kube-controller-manager's namespace
// controller does: once a namespace has a deletionTimestamp it deletes every namespaced object in it
// (found through discovery, so new resources are covered), waits for them to go, records progress in
// the namespace's status conditions, and then removes the "kubernetes" finalizer through the finalize
// subresource so that the API server removes the namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/peapod-dev/peapod/internal/kube"
)

// DiscoverFunc lists the namespaced resources the server serves, in their preferred versions, as
// kube.DiscoveryInterface.ServerPreferredNamespacedResources does. It may return partial results
// together with an error.
type DiscoverFunc func(ctx context.Context) ([]*metav1.APIResourceList, error)

// Controller watches namespaces and finishes the deletion of terminating ones.
type Controller struct {
	deleter     *contentDeleter
	queue       workqueue.TypedRateLimitingInterface[string]
	rateLimiter workqueue.TypedRateLimiter[string]
	synced      cache.InformerSynced
	logger      *slog.Logger
}

// New returns a controller fed by informer; client reads and finalizes namespaces and lists pods,
// metadataClient deletes and lists the namespaced content of any resource discover reports.
func New(client kube.Interface, metadataClient metadata.Interface, discover DiscoverFunc,
	informer kube.Informer[*corev1.Namespace], logger *slog.Logger) (*Controller, error) {
	limiter := newRateLimiter()
	c := &Controller{
		deleter: &contentDeleter{
			namespaces: client.Namespaces(),
			pods:       client,
			metadata:   metadataClient,
			discover:   discover,
			now:        time.Now,
			logger:     logger,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		rateLimiter: limiter,
		synced:      informer.Informer().HasSynced,
		logger:      logger,
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	return c, nil
}

// newRateLimiter spaces the retries of one namespace exponentially from 5 ms up to a minute, and of
// all namespaces together to 10 per second, as kube-controller-manager does, so that a namespace
// that cannot be finished never makes the controller spin.
func newRateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, time.Minute),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// enqueue queues only terminating namespaces: the others need nothing from this controller.
// Kubernetes delays this by 5 s to let HA API servers and etcd members catch up; peapod has a
// single API server in front of a linearizable store, so there is nothing to wait for.
func (c *Controller) enqueue(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.queue.Add(ns.Name)
}

// Run processes namespaces with the given number of workers until ctx ends, then stops the workers
// and returns once they have finished.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
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

	err := c.deleter.finish(ctx, name)
	var remaining *ResourcesRemainingError
	switch {
	case err == nil:
		c.queue.Forget(name)
	case errors.As(err, &remaining):
		// Content is on its way out (graceful pods, finalizers). Look again no later than
		// Kubernetes would (half the estimate), but sooner while the backoff is still short, so a
		// namespace whose pods leave quickly is not kept waiting for the whole estimate.
		delay := min(c.rateLimiter.When(name), time.Duration(remaining.Estimate/2+1)*time.Second)
		c.logger.Debug("content remaining in namespace", "namespace", name, "retryIn", delay)
		c.queue.AddAfter(name, delay)
	case ctx.Err() != nil:
		// Shutting down; the next start picks the namespace up from the informer.
	default:
		c.logger.Error("namespace deletion failed; retrying", "namespace", name, "err", err)
		c.queue.AddRateLimited(name)
	}
	return true
}

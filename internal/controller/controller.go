// Package controller runs peapod's built-in control loops against the API server: the namespace
// controller, which empties and finalizes terminating namespaces, and the serviceaccount controller,
// which gives every namespace its "default" ServiceAccount. They share one informer factory and talk
// to the server only through client-go, like kube-controller-manager.
package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/peapod-dev/peapod/internal/controller/namespace"
	"github.com/peapod-dev/peapod/internal/controller/serviceaccount"
)

const (
	namespaceWorkers      = 2
	serviceAccountWorkers = 1
)

// Run starts the controllers and their shared informers and blocks until ctx ends; it returns once
// every worker and informer has stopped. client serves the typed APIs and discovery; metadataClient
// deletes the content of any namespaced resource discovery reports (build it with
// metadata.NewForConfig from the same rest.Config).
func Run(ctx context.Context, client kubernetes.Interface, metadataClient metadata.Interface, logger *slog.Logger) error {
	// No periodic resync: every decision is driven by watch events, and failures are retried by
	// each controller's rate-limited queue.
	factory := informers.NewSharedInformerFactory(client, 0)
	namespaces := factory.Core().V1().Namespaces()

	namespaceController, err := namespace.New(client, metadataClient,
		client.Discovery().ServerPreferredNamespacedResources, namespaces,
		logger.With("controller", "namespace"))
	if err != nil {
		return fmt.Errorf("namespace controller: %w", err)
	}
	serviceAccountController, err := serviceaccount.New(client, namespaces,
		factory.Core().V1().ServiceAccounts(), logger.With("controller", "serviceaccount"))
	if err != nil {
		return fmt.Errorf("serviceaccount controller: %w", err)
	}

	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() { namespaceController.Run(ctx, namespaceWorkers) })
	wg.Go(func() { serviceAccountController.Run(ctx, serviceAccountWorkers) })
	wg.Wait()
	factory.Shutdown()
	return nil
}

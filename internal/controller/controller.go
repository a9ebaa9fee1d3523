// Package controller runs peapod's built-in control loops against the API server: the namespace
// controller, which empties and finalizes terminating namespaces, the serviceaccount controller,
// which gives every namespace its "default" ServiceAccount, and the root CA publisher, which gives
// every namespace the "kube-root-ca.crt" ConfigMap. They share one informer factory and talk
// to the server only through client-go (package kube), like kube-controller-manager.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"k8s.io/client-go/metadata"

	"github.com/peapod-dev/peapod/internal/controller/namespace"
	"github.com/peapod-dev/peapod/internal/controller/rootca"
	"github.com/peapod-dev/peapod/internal/controller/serviceaccount"
	"github.com/peapod-dev/peapod/internal/kube"
)

const (
	namespaceWorkers      = 2
	serviceAccountWorkers = 1
	rootCAWorkers         = 1
)

// Run starts the controllers and their shared informers and blocks until ctx ends; it returns once
// every worker and informer has stopped. client serves the typed APIs and discovery; metadataClient
// deletes the content of any namespaced resource discovery reports (build it with
// metadata.NewForConfig from the same rest.Config); rootCAPEM is the cluster CA published to every
// namespace.
func Run(ctx context.Context, client kube.Interface, metadataClient metadata.Interface, rootCAPEM []byte, logger *slog.Logger) error {
	if len(rootCAPEM) == 0 {
		return errors.New("root CA publisher: no CA certificate to publish")
	}
	// No periodic resync: every decision is driven by watch events, and failures are retried by
	// each controller's rate-limited queue.
	factory := kube.NewInformerFactory(client)
	namespaces := factory.Namespaces()

	namespaceController, err := namespace.New(client, metadataClient,
		client.Discovery().ServerPreferredNamespacedResources, namespaces,
		logger.With("controller", "namespace"))
	if err != nil {
		return fmt.Errorf("namespace controller: %w", err)
	}
	serviceAccountController, err := serviceaccount.New(client, namespaces,
		factory.ServiceAccounts(), logger.With("controller", "serviceaccount"))
	if err != nil {
		return fmt.Errorf("serviceaccount controller: %w", err)
	}
	rootCAPublisher, err := rootca.New(client, rootCAPEM, namespaces,
		factory.ConfigMaps(), logger.With("controller", "root-ca-cert-publisher"))
	if err != nil {
		return fmt.Errorf("root CA publisher: %w", err)
	}

	factory.Start(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { namespaceController.Run(ctx, namespaceWorkers) })
	wg.Go(func() { serviceAccountController.Run(ctx, serviceAccountWorkers) })
	wg.Go(func() { rootCAPublisher.Run(ctx, rootCAWorkers) })
	wg.Wait()
	factory.Shutdown()
	return nil
}

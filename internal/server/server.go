// Package server assembles `peapod server`: certificates, the store, the API handler, the bootstrap objects
// and the controllers, and serves HTTPS until its context ends.
package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/peapod-dev/peapod/internal/agent"
	"github.com/peapod-dev/peapod/internal/api"
	"github.com/peapod-dev/peapod/internal/controller"
	"github.com/peapod-dev/peapod/internal/controller/nodelifecycle"
	"github.com/peapod-dev/peapod/internal/events"
	"github.com/peapod-dev/peapod/internal/kube"
	"github.com/peapod-dev/peapod/internal/nodeapi"
	"github.com/peapod-dev/peapod/internal/openapi"
	"github.com/peapod-dev/peapod/internal/pki"
	"github.com/peapod-dev/peapod/internal/pki/serviceaccount"
	"github.com/peapod-dev/peapod/internal/registry/all"
	"github.com/peapod-dev/peapod/internal/scheduler"
	"github.com/peapod-dev/peapod/internal/storage/bolt"
	"github.com/peapod-dev/peapod/internal/version"
)

// Options are the `peapod server` flags.
type Options struct {
	DataDir      string
	Listen       string
	TLSSANs      []string
	DisableAgent bool
	// DisableScheduler leaves pods unscheduled (k3s's --disable-scheduler): another scheduler, or the
	// client, binds them.
	DisableScheduler bool
	// Agent configures the node agent of this machine; its DataDir defaults to <data-dir>/agent.
	Agent agent.Config
}

// SystemNamespaces exist from the first start, as in Kubernetes.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// Run serves until ctx ends. It prints where the admin kubeconfig is to out.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	log := slog.Default()
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	host, port, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", opts.Listen, err)
	}
	bundle, err := pki.Ensure(opts.DataDir, append([]string{host}, opts.TLSSANs...))
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	tokens, err := serviceaccount.New(bundle.ServiceAccountKey, serviceaccount.DefaultIssuer)
	if err != nil {
		return fmt.Errorf("service-account tokens: %w", err)
	}
	nodeTLS, err := bundle.NodeClientTLS()
	if err != nil {
		return fmt.Errorf("node client: %w", err)
	}

	store, err := bolt.Open(ctx, filepath.Join(opts.DataDir, "store.db"), bolt.Options{})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	reg := all.New()
	docs, err := openapi.New(reg.Resources)
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var bootstrapped atomic.Bool
	handler, err := api.New(api.Config{
		Store:         store,
		Registry:      reg,
		OpenAPI:       docs,
		TypeConverter: docs.TypeConverter(),
		Authenticate:  bearerAuthenticator(bundle.Token),
		Version:       version.Get(),
		Metrics:       metrics,
		Ready: func() error {
			if !bootstrapped.Load() {
				return errors.New("system namespaces not created yet")
			}
			return nil
		},

		// Service-account tokens authenticate too; authorization is AlwaysAllow (docs/architecture.md).
		ServiceAccountTokens: tokens,
		NodeTLS:              nodeTLS,
	})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}

	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{bundle.ServingCert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()

	loopbackHost := host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		loopbackHost = "127.0.0.1"
	}
	serverURL := "https://" + net.JoinHostPort(loopbackHost, port)
	kubeconfig := filepath.Join(opts.DataDir, "kubeconfig.yaml")
	if err := pki.WriteKubeconfig(kubeconfig, serverURL, bundle.CAPEM, bundle.Token); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}

	loopback := &rest.Config{
		Host:            serverURL,
		BearerToken:     bundle.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: bundle.CAPEM},
		QPS:             200,
		Burst:           400,
		UserAgent:       "peapod-server",
	}
	client, err := kube.NewForConfig(loopback)
	if err != nil {
		return fmt.Errorf("loopback client: %w", err)
	}
	if err := createSystemNamespaces(ctx, client); err != nil {
		return err
	}
	bootstrapped.Store(true)
	log.Info("peapod server ready", "listen", ln.Addr().String(), "kubeconfig", kubeconfig)
	fmt.Fprintf(out, "peapod API server listening on %s\nAdmin kubeconfig: %s\n  export KUBECONFIG=%s\n  kubectl get pods\n",
		serverURL, kubeconfig, kubeconfig)

	ctrlErr := make(chan error, 1)
	metadataClient, err := metadata.NewForConfig(loopback)
	if err != nil {
		return fmt.Errorf("loopback metadata client: %w", err)
	}
	go func() {
		ctrlErr <- controller.Run(ctx, client, metadataClient, bundle.CAPEM, log.With("component", "controller"))
	}()
	if !opts.DisableScheduler {
		if err := runScheduler(ctx, client, log.With("component", "scheduler")); err != nil {
			return err
		}
	}
	agentErr := make(chan error, 1)
	if !opts.DisableAgent {
		cfg := opts.Agent
		if cfg.DataDir == "" {
			cfg.DataDir = filepath.Join(opts.DataDir, "agent")
		}
		cfg.Logger = log.With("component", "agent")
		if cfg, err = agent.WithDefaults(cfg); err != nil {
			return fmt.Errorf("node agent: %w", err)
		}
		if cfg.ServingTLS, err = nodeServingTLS(opts.DataDir, cfg, bundle.CAPEM); err != nil {
			return fmt.Errorf("node agent: %w", err)
		}
		nodeAgent, err := agent.New(ctx, cfg, client)
		if err != nil {
			return fmt.Errorf("node agent: %w", err)
		}
		go func() { agentErr <- nodeAgent.Run(ctx) }()
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case err := <-ctrlErr:
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("controllers: %w", err)
		}
		<-ctx.Done()
	case err := <-agentErr:
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("node agent: %w", err)
		}
		<-ctx.Done()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close() // long-running watches do not end on their own
	}
	return ctx.Err()
}

// nodeServingTLS is the TLS of this machine's node endpoint: a serving certificate for the node's name and
// addresses from the cluster CA, and the CA to check the API server's client certificate.
func nodeServingTLS(dataDir string, cfg agent.Config, caPEM []byte) (*tls.Config, error) {
	var addresses []string
	for _, ip := range cfg.NodeIPs {
		addresses = append(addresses, ip.String())
	}
	serving, err := pki.EnsureNodeServing(dataDir, cfg.NodeName, addresses)
	if err != nil {
		return nil, err
	}
	return nodeapi.ServerTLS(serving, caPEM)
}

// runScheduler starts the scheduler, and the node lifecycle checks it relies on, with informers of their
// own; they run until ctx ends.
func runScheduler(ctx context.Context, client kube.Interface, logger *slog.Logger) error {
	recorder, stopEvents, err := events.NewRecorder(ctx, client, corev1.EventSource{Component: scheduler.Name}, logger)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	factory := kube.NewInformerFactory(client)
	s, err := scheduler.New(client, factory, recorder, logger)
	if err != nil {
		stopEvents()
		return fmt.Errorf("scheduler: %w", err)
	}
	// Taints unreachable and not-ready nodes, which the scheduler's taint filter then avoids.
	health := nodelifecycle.New(client, factory, logger.With("controller", "node-lifecycle"))
	factory.Start(ctx)
	go func() {
		defer stopEvents()
		defer factory.Shutdown()
		var wg sync.WaitGroup
		wg.Go(func() { health.Run(ctx) })
		s.Run(ctx, 1)
		wg.Wait()
	}()
	return nil
}

// createSystemNamespaces makes the namespaces Kubernetes always has; existing ones are left alone.
func createSystemNamespaces(ctx context.Context, client kube.Interface) error {
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		_, err := client.Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: "peapod-server"})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// bearerAuthenticator accepts requests carrying the admin token.
func bearerAuthenticator(token string) func(r *http.Request) (string, bool) {
	want := []byte(token)
	return func(r *http.Request) (string, bool) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			return "", false
		}
		return "admin", true
	}
}

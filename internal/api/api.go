// Package api serves the Kubernetes REST API over the registry and the store: routing, discovery, content
// negotiation, tables, watch, patch, errors, authentication and metrics. It is generic: everything
// resource-specific comes from internal/registry.
package api

import (
	"crypto/tls"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/version"

	"github.com/peapod-dev/peapod/internal/pki/serviceaccount"
	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/storage"
)

// Config is everything the API handler needs.
type Config struct {
	Store    storage.Store
	Registry *registry.Registry
	// OpenAPI serves /openapi/v2 and /openapi/v3/... (internal/openapi).
	OpenAPI http.Handler
	// TypeConverter drives server-side apply and managedFields (internal/openapi).
	TypeConverter managedfields.TypeConverter
	// Authenticate returns the user name of an authenticated request, or ok=false (401 unless the
	// request carries a valid service-account token).
	Authenticate func(r *http.Request) (user string, ok bool)
	// ServiceAccountTokens signs the tokens of serviceaccounts/token and verifies bearer tokens; nil
	// serves no TokenRequest and authenticates no service account.
	ServiceAccountTokens *serviceaccount.Issuer
	// APIAudiences are the audiences a service-account token must name to authenticate here, and the
	// default audiences of a TokenRequest (kube-apiserver's --api-audiences; default: the issuer).
	APIAudiences []string
	// NodeTLS is how the API server reaches node agents (pods/log): the cluster CA as roots and the
	// kubelet-client certificate (pki.Bundle.NodeClientTLS); nil serves no logs.
	NodeTLS *tls.Config
	// Version is served on /version.
	Version version.Info
	// Metrics is where request metrics are registered; /metrics serves it.
	Metrics *prometheus.Registry
	// Ready reports readiness for /readyz (nil = always ready).
	Ready func() error
}

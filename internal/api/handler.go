package api

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod-dev/peapod/internal/api/mutate"
	"github.com/peapod-dev/peapod/internal/registry"
)

// minRequestTimeout is kube-apiserver's --min-request-timeout default: watches without timeoutSeconds last
// between one and two times this, randomised so that reconnecting clients spread out.
const minRequestTimeout = 30 * time.Minute

// bookmarkInterval is how often an idle watch that allows bookmarks receives one (kube-apiserver: ~1 min).
const bookmarkInterval = time.Minute

// handler serves the whole API. Everything resource-specific comes from the registry.
type handler struct {
	cfg      Config
	codec    objectCodec
	mutator  *mutate.Mutator
	groups   []*apiGroup // discovery order: the core group first, then as the registry lists them
	versions map[schema.GroupVersion]*apiGroupVersion
	metrics  *metrics
	gatherer prometheus.Gatherer
	// namespaces is the core namespaces resource, nil when the registry does not serve it (then creation
	// is not checked against namespace existence).
	namespaces *registry.Resource
	// params decodes query parameters into the meta/v1 options types.
	params runtime.ParameterCodec
	// nodes reach node agents; nil when Config.NodeTLS is.
	nodes *nodeClients

	bookmarkInterval time.Duration
	watchTimeout     func() time.Duration
}

// New builds the Kubernetes-compatible REST handler over cfg.Store and cfg.Registry.
func New(cfg Config) (http.Handler, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func newHandler(cfg Config) (*handler, error) {
	if cfg.Store == nil || cfg.Registry == nil || cfg.Registry.Scheme == nil {
		return nil, errors.New("api: Config needs Store, Registry and Registry.Scheme")
	}
	tc := cfg.TypeConverter
	if tc == nil {
		return nil, errors.New("api: Config needs a TypeConverter")
	}
	h := &handler{
		cfg:              cfg,
		codec:            newObjectCodec(cfg.Registry.Scheme),
		mutator:          mutate.New(cfg.Registry.Scheme, tc),
		versions:         map[schema.GroupVersion]*apiGroupVersion{},
		params:           newParameterCodec(),
		nodes:            newNodeClients(cfg),
		bookmarkInterval: bookmarkInterval,
		watchTimeout: func() time.Duration {
			return time.Duration(float64(minRequestTimeout) * (1 + rand.Float64()))
		},
	}
	if err := h.buildDiscovery(cfg.Registry.Resources); err != nil {
		return nil, err
	}
	reg := cfg.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg, cfg.Store)
	if err != nil {
		return nil, err
	}
	h.metrics, h.gatherer = m, reg
	return h, nil
}

// optionsVersion is the group version the options types are decoded in; every group serves the same ones.
var optionsVersion = schema.GroupVersion{Version: "v1"}

// newParameterCodec decodes ListOptions, DeleteOptions, ... from a query with the conversions meta/v1
// registers into each group version.
func newParameterCodec() runtime.ParameterCodec {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, optionsVersion)
	return runtime.NewParameterCodec(scheme)
}

// ServeHTTP routes a request: unauthenticated health and version endpoints, then authentication, then
// metrics, OpenAPI, discovery and resources.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	info := requestInfo{method: r.Method}
	defer func() { h.metrics.observe(info, rec.code, start) }()

	path := r.URL.Path
	switch {
	case path == "/version" || path == "/version/":
		writeJSON(rec, r, http.StatusOK, h.cfg.Version)
		return
	case isHealthPath(path):
		h.serveHealth(rec, r)
		return
	}
	if !h.authenticate(r) {
		writeError(rec, r, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	switch {
	case path == "/metrics":
		promhttp.HandlerFor(h.gatherer, promhttp.HandlerOpts{}).ServeHTTP(rec, r)
	case strings.HasPrefix(path, "/debug/pprof/"):
		// Profiling for authenticated clients, as kube-apiserver's default --profiling=true serves it.
		servePprof(rec, r)
	case path == "/openapi" || strings.HasPrefix(path, "/openapi/"):
		if h.cfg.OpenAPI == nil {
			writeError(rec, r, notFoundPath())
			return
		}
		h.cfg.OpenAPI.ServeHTTP(rec, r)
	case path == "/api" || path == "/api/" || strings.HasPrefix(path, "/api/"),
		path == "/apis" || path == "/apis/" || strings.HasPrefix(path, "/apis/"):
		h.serveAPI(rec, r, &info)
	default:
		writeError(rec, r, notFoundPath())
	}
}

// serveAPI serves everything under /api and /apis: discovery documents and resource requests.
func (h *handler) serveAPI(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	segments := splitPath(r.URL.Path)
	switch {
	case len(segments) == 1 && segments[0] == "api":
		h.serveCoreVersions(w, r)
		return
	case len(segments) == 1:
		h.serveGroupList(w, r)
		return
	case len(segments) == 2 && segments[0] == "apis":
		h.serveGroup(w, r, segments[1])
		return
	}
	var gv schema.GroupVersion
	var rest []string
	if segments[0] == "api" {
		gv, rest = schema.GroupVersion{Version: segments[1]}, segments[2:]
	} else {
		gv, rest = schema.GroupVersion{Group: segments[1], Version: segments[2]}, segments[3:]
	}
	agv, ok := h.versions[gv]
	if !ok {
		writeError(w, r, notFoundPath())
		return
	}
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{}, r.Method))
			return
		}
		writeJSON(w, r, http.StatusOK, agv.resourceList)
		return
	}
	rq, err := parseResourceRequest(agv, r, rest)
	if err != nil {
		writeError(w, r, err)
		return
	}
	rq.method = r.Method
	*info = rq.requestInfo
	h.serveResource(w, r, rq)
}

// serveResource dispatches a parsed resource request to its verb.
func (h *handler) serveResource(w http.ResponseWriter, r *http.Request, rq *request) {
	if rq.subresource != "" {
		h.serveSubresource(w, r, rq)
		return
	}
	switch rq.verb {
	case "get":
		h.get(w, r, rq)
	case "list":
		h.list(w, r, rq)
	case "watch":
		h.watch(w, r, rq)
	case "create":
		h.create(w, r, rq)
	case "update":
		h.update(w, r, rq)
	case "patch":
		h.patch(w, r, rq)
	case "delete":
		h.delete(w, r, rq)
	case "deletecollection":
		h.deleteCollection(w, r, rq)
	default:
		writeError(w, r, apierrors.NewMethodNotSupported(rq.groupResource(), r.Method))
	}
}

// servedSubresources are the subresources this handler implements.
var servedSubresources = []string{"status", "binding", "finalize", "token", "log"}

// serveSubresource serves status, binding, finalize, token and log; other declared subresources (log, exec, ...) are
// not served by this handler.
func (h *handler) serveSubresource(w http.ResponseWriter, r *http.Request, rq *request) {
	switch {
	case rq.subresource == "status" && rq.verb == "get":
		h.get(w, r, rq)
	case rq.subresource == "status" && rq.verb == "update":
		h.update(w, r, rq)
	case rq.subresource == "status" && rq.verb == "patch":
		h.patch(w, r, rq)
	case rq.subresource == "binding" && rq.verb == "create":
		h.bind(w, r, rq)
	case rq.subresource == "finalize" && rq.verb == "update":
		h.update(w, r, rq)
	case rq.subresource == "token" && rq.verb == "create" && rq.res.GroupVersion.Group == "" && rq.res.Name == "serviceaccounts":
		h.createToken(w, r, rq)
	case rq.subresource == "log" && rq.verb == "get" && rq.res.GroupVersion.Group == "" && rq.res.Name == "pods":
		h.podLog(w, r, rq)
	case slices.Contains(servedSubresources, rq.subresource):
		writeError(w, r, apierrors.NewMethodNotSupported(
			schema.GroupResource{Group: rq.res.GroupVersion.Group, Resource: rq.res.Name + "/" + rq.subresource}, rq.verb))
	default:
		writeError(w, r, notFoundPath())
	}
}

// notFoundPath is kube-apiserver's answer for a path no route serves.
func notFoundPath() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "", 0, false)
}

func splitPath(path string) []string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// statusRecorder remembers the response code for metrics and keeps streaming working.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (deadlines, hijacking for streams).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod-dev/peapod/internal/registry"
)

// namespaceSubresources are the subresources of a namespace, which kube-apiserver's request parser tells
// apart from a resource inside the namespace (/api/v1/namespaces/x/status vs /api/v1/namespaces/x/pods).
var namespaceSubresources = []string{"status", "finalize"}

// requestInfo is what metrics record about a request.
type requestInfo struct {
	method      string
	verb        string
	resource    string
	subresource string
}

// request is a parsed resource request.
type request struct {
	requestInfo
	res       *registry.Resource
	namespace string // "" for cluster-scoped resources and all-namespace lists
	name      string
	query     url.Values
}

func (rq *request) groupResource() schema.GroupResource {
	return rq.res.GroupVersionResource().GroupResource()
}

// key is the storage key of the named object.
func (rq *request) key() string { return objectKey(rq.res, rq.namespace, rq.name) }

// objectKey is /registry/<resource>/<namespace>/<name>, or /registry/<resource>/<name> cluster-scoped.
func objectKey(res *registry.Resource, namespace, name string) string {
	if res.Namespaced {
		return "/registry/" + res.Name + "/" + namespace + "/" + name
	}
	return "/registry/" + res.Name + "/" + name
}

// collectionPrefix is the key prefix of every object in namespace ("" = all namespaces).
func collectionPrefix(res *registry.Resource, namespace string) string {
	if res.Namespaced && namespace != "" {
		return "/registry/" + res.Name + "/" + namespace + "/"
	}
	return "/registry/" + res.Name + "/"
}

// parseResourceRequest parses the path segments after /api/v1 or /apis/<g>/<v> the way kube-apiserver's
// RequestInfoFactory does, including the legacy /watch/ prefix, and checks the verb is served.
func parseResourceRequest(agv *apiGroupVersion, r *http.Request, parts []string) (*request, error) {
	query := r.URL.Query()
	legacyWatch := false
	if parts[0] == "watch" {
		legacyWatch, parts = true, parts[1:]
		if len(parts) == 0 {
			return nil, notFoundPath()
		}
	}
	namespace := ""
	if parts[0] == "namespaces" && len(parts) > 1 {
		namespace = parts[1]
		if len(parts) > 2 && !slices.Contains(namespaceSubresources, parts[2]) {
			parts = parts[2:]
		}
	}
	if len(parts) > 3 {
		return nil, notFoundPath()
	}
	res, ok := agv.resources[parts[0]]
	if !ok {
		return nil, notFoundPath()
	}
	rq := &request{res: res, query: query}
	rq.resource = res.Name
	if len(parts) > 1 {
		rq.name = parts[1]
	}
	if len(parts) > 2 {
		rq.subresource = parts[2]
		if !slices.Contains(res.Subresources, rq.subresource) && !slices.ContainsFunc(res.KindSubresources, func(k registry.KindSubresource) bool { return k.Name == rq.subresource }) {
			return nil, notFoundPath()
		}
	}
	if res.Namespaced {
		rq.namespace = namespace
		if rq.namespace == "" && rq.name != "" {
			// /api/v1/pods/x: a namespaced resource has no cluster-level objects.
			return nil, notFoundPath()
		}
	}

	watch := legacyWatch
	if v := query.Get("watch"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid value for watch: %q", v))
		}
		watch = watch || b
	}
	rq.verb = verbFor(r.Method, rq.name != "", rq.subresource != "", watch)
	if rq.verb == "" {
		return nil, apierrors.NewMethodNotSupported(rq.groupResource(), r.Method)
	}
	if rq.subresource == "" && !slices.Contains(res.Verbs, rq.verb) {
		return nil, apierrors.NewMethodNotSupported(rq.groupResource(), rq.verb)
	}
	if res.Namespaced && rq.namespace == "" && rq.verb != "list" && rq.verb != "watch" {
		return nil, apierrors.NewMethodNotSupported(rq.groupResource(), rq.verb)
	}
	return rq, nil
}

// verbFor maps an HTTP method on a collection or object to the Kubernetes verb ("" = not served).
func verbFor(method string, named, subresource, watch bool) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watch && !subresource:
			return "watch"
		case named:
			return "get"
		default:
			return "list"
		}
	case http.MethodPost:
		if named && !subresource {
			return ""
		}
		return "create"
	case http.MethodPut:
		if !named {
			return ""
		}
		return "update"
	case http.MethodPatch:
		if !named {
			return ""
		}
		return "patch"
	case http.MethodDelete:
		if subresource {
			return ""
		}
		if named {
			return "delete"
		}
		return "deletecollection"
	}
	return ""
}

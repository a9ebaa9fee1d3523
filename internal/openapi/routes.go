package openapi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kube-openapi/pkg/common"

	"github.com/peapod-dev/peapod/internal/registry"
)

// objectMediaTypes are the media types of kube-apiserver's JSON, YAML and protobuf serializers.
func objectMediaTypes() []string {
	return []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
}

// allMediaTypes adds the watch streams to objectMediaTypes.
func allMediaTypes() []string {
	return append(objectMediaTypes(), "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
}

func patchMediaTypes() []string {
	return []string{
		string(types.JSONPatchType), string(types.MergePatchType),
		string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType),
	}
}

const (
	extensionGVK    = "x-kubernetes-group-version-kind"
	extensionAction = "x-kubernetes-action"
	prettyDoc       = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."
)

// groupRoutes is one group version's routes: the unit of an OpenAPI v3 document. It implements
// common.RouteContainer, which kube-openapi's builders read (kube-apiserver feeds them go-restful web services).
type groupRoutes struct {
	gv     schema.GroupVersion
	root   string // "/api/v1", "/apis/coordination.k8s.io/v1"
	routes []common.Route
}

func (g *groupRoutes) RootPath() string                   { return g.root }
func (g *groupRoutes) PathParameters() []common.Parameter { return nil }
func (g *groupRoutes) Routes() []common.Route             { return g.routes }

// v3Name is the group version's key in the /openapi/v3 index: "api/v1" or "apis/<group>/<version>".
func (g *groupRoutes) v3Name() string { return strings.TrimPrefix(g.root, "/") }

func rootPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// route implements common.Route.
type route struct {
	method, path, operation, doc string
	params                       []common.Parameter
	consumes, produces           []string
	metadata                     map[string]interface{}
	reads, writes                interface{}
	responses                    []common.StatusCodeResponse
}

func (r *route) Method() string                                   { return r.method }
func (r *route) Path() string                                     { return r.path }
func (r *route) OperationName() string                            { return r.operation }
func (r *route) Parameters() []common.Parameter                   { return r.params }
func (r *route) Description() string                              { return r.doc }
func (r *route) Consumes() []string                               { return r.consumes }
func (r *route) Produces() []string                               { return r.produces }
func (r *route) Metadata() map[string]interface{}                 { return r.metadata }
func (r *route) RequestPayloadSample() interface{}                { return r.reads }
func (r *route) ResponsePayloadSample() interface{}               { return r.writes }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// parameter implements common.Parameter.
type parameter struct {
	name, doc string
	required  bool
	kind      common.ParameterKind
	dataType  string
}

func (p *parameter) Name() string               { return p.name }
func (p *parameter) Description() string        { return p.doc }
func (p *parameter) Required() bool             { return p.required }
func (p *parameter) Kind() common.ParameterKind { return p.kind }
func (p *parameter) DataType() string           { return p.dataType }
func (p *parameter) AllowMultiple() bool        { return false }

// response implements common.StatusCodeResponse.
type response struct {
	code    int
	message string
	model   interface{}
}

func (r response) Code() int          { return r.code }
func (r response) Message() string    { return r.message }
func (r response) Model() interface{} { return r.model }

func queryParam(name, doc, dataType string) *parameter {
	return &parameter{name: name, doc: doc, kind: common.QueryParameterKind, dataType: dataType}
}

func pathParam(name, doc string) *parameter {
	return &parameter{name: name, doc: doc, required: true, kind: common.PathParameterKind, dataType: "string"}
}

// bodyParam is the request body parameter; the builders take its schema from the route's reads sample.
func bodyParam(required bool) *parameter {
	return &parameter{name: "body", required: required, kind: common.BodyParameterKind}
}

// objectParams turns the top-level scalar fields of an options struct (ListOptions, PatchOptions ...) into query
// parameters named and described as kube-apiserver's installer names and describes them.
func objectParams(options runtime.Object, exclude ...string) []common.Parameter {
	var docs map[string]string
	if d, ok := options.(interface{ SwaggerDoc() map[string]string }); ok {
		docs = d.SwaggerDoc()
	}
	t := reflect.TypeOf(options).Elem()
	timeType := reflect.TypeOf(metav1.Time{})
	var params []common.Parameter
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Pointer && ft.Elem() == timeType:
			ft = ft.Elem() // *metav1.Time (sinceTime) is the one struct sent as a query parameter
		case ft.Kind() == reflect.Pointer && (ft.Elem().Kind() == reflect.Struct || ft.Elem().Kind() == reflect.Interface),
			ft.Kind() == reflect.Struct, ft.Kind() == reflect.Interface:
			continue // TypeMeta, Preconditions ...: not expressible as a query parameter
		case ft.Kind() == reflect.Pointer:
			ft = ft.Elem()
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || slices.Contains(exclude, name) {
			continue
		}
		params = append(params, queryParam(name, docs[name], jsonType(ft)))
	}
	return params
}

// jsonType is the OpenAPI type of a query parameter; a repeated parameter is described by its element type,
// as kube-apiserver does.
func jsonType(t reflect.Type) string {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	default:
		return "string"
	}
}

// endpoint is what one resource or subresource serves, in the terms kube-apiserver's installer uses.
type endpoint struct {
	resource, subresource string
	namespaced            bool
	kind                  string                  // the parent kind, used in operation names and docs
	gvk                   schema.GroupVersionKind // the served object's kind, x-kubernetes-group-version-kind
	newObject             func() runtime.Object   // request and response body
	list                  interface{}             // list response body (list verb only)
	verbs                 []string                // discovery verbs; "connect" for exec-like subresources
	connectOptions        runtime.Object          // query parameters of a connect (exec, attach, portforward)
	getOptions            runtime.Object          // query parameters of a get with options (log)
	produces              []string                // extra media types in front of the serializer's, e.g. text/plain for logs
	producesObject        interface{}             // overrides object as the response of get, e.g. "string" for logs
	deleteReturnsObject   bool
}

// subresourceEndpoint describes the subresources peapod knows, as Kubernetes serves them.
func subresourceEndpoint(parent *registry.Resource, sub string) (endpoint, error) {
	e := endpoint{
		resource:    parent.Name,
		subresource: sub,
		namespaced:  parent.Namespaced,
		kind:        parent.Kind,
		gvk:         parent.GroupVersionKind(),
		newObject:   parent.New,
	}
	switch sub {
	case "status", "ephemeralcontainers", "resize":
		e.verbs = []string{"get", "patch", "update"}
	case "finalize":
		e.verbs = []string{"update"}
	case "binding":
		e.verbs = []string{"create"}
		e.gvk = parent.GroupVersion.WithKind("Binding")
		e.newObject = func() runtime.Object { return &corev1.Binding{} }
	case "log":
		e.verbs = []string{"get"}
		e.getOptions = &corev1.PodLogOptions{}
		e.produces = []string{"text/plain"}
		e.producesObject = "string"
	case "exec":
		e.verbs = []string{"connect"}
		e.connectOptions = &corev1.PodExecOptions{}
	case "attach":
		e.verbs = []string{"connect"}
		e.connectOptions = &corev1.PodAttachOptions{}
	case "portforward":
		e.verbs = []string{"connect"}
		e.connectOptions = &corev1.PodPortForwardOptions{}
	default:
		return endpoint{}, fmt.Errorf("subresource %s/%s: no OpenAPI description for it", parent.Name, sub)
	}
	return e, nil
}

// resourceEndpoint describes a main resource.
func resourceEndpoint(r *registry.Resource) endpoint {
	e := endpoint{
		resource:   r.Name,
		namespaced: r.Namespaced,
		kind:       r.Kind,
		gvk:        r.GroupVersionKind(),
		newObject:  r.New,
		verbs:      r.Verbs,
		// Kubernetes' pod and service account registries answer DELETE with the object, the others with a Status.
		deleteReturnsObject: r.GroupVersion.Group == "" && (r.Name == "pods" || r.Name == "serviceaccounts"),
	}
	if r.NewList != nil {
		e.list = objectValue(r.NewList())
	}
	return e
}

// objectValue dereferences a typed object pointer, since kube-openapi names a model after its Go type.
func objectValue(obj runtime.Object) interface{} {
	return reflect.Indirect(reflect.ValueOf(obj)).Interface()
}

type action struct {
	verb          string // LIST POST DELETECOLLECTION WATCHLIST GET PUT PATCH DELETE WATCH CONNECT
	path          string // below the group version root
	params        []common.Parameter
	allNamespaces bool
}

// actions lists the endpoint's operations the way kube-apiserver's installer registers them, including the
// deprecated /watch/ paths and the all-namespaces list.
func (e endpoint) actions() []action {
	has := func(verb string) bool { return slices.Contains(e.verbs, verb) }
	nameParam := pathParam("name", "name of the "+e.kind)
	resourcePath, resourceParams := e.resource, []common.Parameter(nil)
	if e.namespaced {
		nsParam := pathParam("namespace", "object name and auth scope, such as for teams and projects")
		resourcePath = "namespaces/{namespace}/" + e.resource
		resourceParams = []common.Parameter{nsParam}
	}
	itemPath := resourcePath + "/{name}"
	nameParams := append(resourceParams[:len(resourceParams):len(resourceParams)], nameParam)
	if e.subresource != "" {
		itemPath += "/" + e.subresource
		resourcePath, resourceParams = itemPath, nameParams
	}

	var out []action
	add := func(ok bool, a action) {
		if ok {
			out = append(out, a)
		}
	}
	add(has("list"), action{"LIST", resourcePath, resourceParams, false})
	add(has("create"), action{"POST", resourcePath, resourceParams, false})
	add(has("deletecollection"), action{"DELETECOLLECTION", resourcePath, resourceParams, false})
	add(has("list") && has("watch"), action{"WATCHLIST", "watch/" + resourcePath, resourceParams, false})
	add(has("get"), action{"GET", itemPath, nameParams, false})
	add(has("update"), action{"PUT", itemPath, nameParams, false})
	add(has("patch"), action{"PATCH", itemPath, nameParams, false})
	add(has("delete"), action{"DELETE", itemPath, nameParams, false})
	add(has("watch"), action{"WATCH", "watch/" + itemPath, nameParams, false})
	add(has("connect"), action{"CONNECT", itemPath, nameParams, false})
	if e.namespaced && e.subresource == "" {
		add(has("list"), action{"LIST", e.resource, nil, true})
		add(has("list") && has("watch"), action{"WATCHLIST", "watch/" + e.resource, nil, true})
	}
	return out
}

// routes builds the endpoint's routes below root, with kube-apiserver's operation names, docs, parameters,
// media types, responses and x-kubernetes-action / x-kubernetes-group-version-kind extensions.
func (e endpoint) routes(root string) ([]common.Route, error) {
	var out []common.Route
	for _, a := range e.actions() {
		namespaced, suffix := "", ""
		if e.namespaced {
			namespaced = "Namespaced"
		}
		if a.allNamespaces {
			namespaced, suffix = "", "ForAllNamespaces"
		}
		opKind := namespaced + e.kind + title(e.subresource) + suffix
		object := objectValue(e.newObject())
		produced := object
		if e.producesObject != nil {
			produced = e.producesObject
		}
		pretty := queryParam("pretty", prettyDoc, "string")
		r := &route{path: root + "/" + a.path, consumes: []string{"*/*"}}
		var built []*route // more than r for connect, which has a route per method
		switch a.verb {
		case "GET":
			r.method, r.operation = "GET", "read"+opKind
			r.doc = e.doc("read the specified "+e.kind, "read "+e.subresource+" of the specified "+e.kind)
			r.produces = append(e.produces[:len(e.produces):len(e.produces)], objectMediaTypes()...)
			r.writes, r.responses = produced, []common.StatusCodeResponse{response{200, "OK", produced}}
			r.params = append([]common.Parameter{pretty}, objectParamsOrNil(e.getOptions)...)
		case "LIST":
			r.method, r.operation = "GET", "list"+opKind
			r.doc = "list objects of kind " + e.kind
			if slices.Contains(e.verbs, "watch") {
				r.doc = "list or watch objects of kind " + e.kind
			}
			r.produces = allMediaTypes()
			r.writes, r.responses = e.list, []common.StatusCodeResponse{response{200, "OK", e.list}}
			r.params = append([]common.Parameter{pretty}, objectParams(&metav1.ListOptions{})...)
		case "PUT":
			r.method, r.operation = "PUT", "replace"+opKind
			r.doc = e.doc("replace the specified "+e.kind, "replace "+e.subresource+" of the specified "+e.kind)
			r.produces, r.reads, r.writes = objectMediaTypes(), object, produced
			r.responses = []common.StatusCodeResponse{response{200, "OK", produced}, response{201, "Created", produced}}
			r.params = append([]common.Parameter{pretty, bodyParam(true)}, objectParams(&metav1.UpdateOptions{})...)
		case "PATCH":
			r.method, r.operation = "PATCH", "patch"+opKind
			r.doc = e.doc("partially update the specified "+e.kind, "partially update "+e.subresource+" of the specified "+e.kind)
			r.consumes, r.produces, r.reads, r.writes = patchMediaTypes(), objectMediaTypes(), metav1.Patch{}, produced
			r.responses = []common.StatusCodeResponse{response{200, "OK", produced}, response{201, "Created", produced}}
			r.params = append([]common.Parameter{pretty, bodyParam(true)}, objectParams(&metav1.PatchOptions{})...)
		case "POST":
			article := articleFor(e.kind)
			r.method, r.operation = "POST", "create"+opKind
			r.doc = e.doc("create"+article+e.kind, "create "+e.subresource+" of"+article+e.kind)
			r.produces, r.reads, r.writes = objectMediaTypes(), object, produced
			r.responses = []common.StatusCodeResponse{
				response{200, "OK", produced}, response{201, "Created", produced}, response{202, "Accepted", produced},
			}
			r.params = append([]common.Parameter{pretty, bodyParam(true)}, objectParams(&metav1.CreateOptions{})...)
		case "DELETE":
			article := articleFor(e.kind)
			deleted := interface{}(metav1.Status{})
			if e.deleteReturnsObject {
				deleted = produced
			}
			r.method, r.operation = "DELETE", "delete"+opKind
			r.doc = e.doc("delete"+article+e.kind, "delete "+e.subresource+" of"+article+e.kind)
			r.produces, r.reads, r.writes = objectMediaTypes(), metav1.DeleteOptions{}, deleted
			r.responses = []common.StatusCodeResponse{response{200, "OK", deleted}, response{202, "Accepted", deleted}}
			r.params = append([]common.Parameter{pretty, bodyParam(false)}, objectParams(&metav1.DeleteOptions{})...)
		case "DELETECOLLECTION":
			r.method, r.operation = "DELETE", "deletecollection"+opKind
			r.doc = "delete collection of " + e.kind
			r.produces, r.reads, r.writes = objectMediaTypes(), metav1.DeleteOptions{}, metav1.Status{}
			r.responses = []common.StatusCodeResponse{response{200, "OK", metav1.Status{}}}
			r.params = append([]common.Parameter{pretty, bodyParam(false)}, objectParams(&metav1.DeleteOptions{})...)
			r.params = append(r.params, objectParams(&metav1.ListOptions{}, "watch", "allowWatchBookmarks")...)
		case "WATCH", "WATCHLIST":
			r.method, r.operation = "GET", "watch"+namespaced+e.kind+title(e.subresource)
			if a.verb == "WATCHLIST" {
				r.operation += "List"
				r.doc = "watch individual changes to a list of " + e.kind + ". deprecated: use the 'watch' parameter with a list operation instead."
			} else {
				r.doc = "watch changes to an object of kind " + e.kind + ". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
			}
			r.operation += suffix
			r.produces, r.writes = allMediaTypes(), metav1.WatchEvent{}
			r.responses = []common.StatusCodeResponse{response{200, "OK", metav1.WatchEvent{}}}
			r.params = append([]common.Parameter{pretty}, objectParams(&metav1.ListOptions{})...)
		case "CONNECT":
			for _, method := range []string{"GET", "POST"} {
				built = append(built, &route{
					method:    method,
					path:      r.path,
					operation: "connect" + title(strings.ToLower(method)) + opKind,
					doc:       "connect " + method + " requests to " + e.subresource + " of " + e.kind,
					consumes:  []string{"*/*"},
					produces:  []string{"*/*"},
					writes:    "string",
					params:    objectParamsOrNil(e.connectOptions),
				})
			}
		default:
			return nil, fmt.Errorf("unknown action %s", a.verb)
		}
		if built == nil {
			built = []*route{r}
		}
		for _, rt := range built {
			rt.params = append(rt.params, a.params...)
			rt.metadata = map[string]interface{}{
				extensionGVK:    metav1.GroupVersionKind{Group: e.gvk.Group, Version: e.gvk.Version, Kind: e.gvk.Kind},
				extensionAction: strings.ToLower(a.verb),
			}
			out = append(out, rt)
		}
	}
	return out, nil
}

// doc picks the main-resource or the subresource wording.
func (e endpoint) doc(main, sub string) string {
	if e.subresource != "" {
		return sub
	}
	return main
}

func objectParamsOrNil(options runtime.Object) []common.Parameter {
	if options == nil {
		return nil
	}
	return objectParams(options)
}

// discoveryRoute is the group version's resource list, GET /api/v1/ (getCoreV1APIResources).
func discoveryRoute(root string) common.Route {
	return &route{
		method:    "GET",
		path:      root + "/",
		operation: "getAPIResources",
		doc:       "get available resources",
		consumes:  objectMediaTypes(),
		produces:  objectMediaTypes(),
		writes:    metav1.APIResourceList{},
		responses: []common.StatusCodeResponse{response{200, "OK", metav1.APIResourceList{}}},
	}
}

// articleFor returns " a ", " an " or, for a plural noun, " ", as kube-apiserver words its docs.
func articleFor(noun string) string {
	if !strings.HasSuffix(noun, "ss") && strings.HasSuffix(noun, "s") {
		return " "
	}
	if noun != "" && strings.ContainsRune("aeiouAEIOU", rune(noun[0])) {
		return " an "
	}
	return " a "
}

// title upper-cases the first letter (strings.Title without its deprecation).
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

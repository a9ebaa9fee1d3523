// Package openapi builds the OpenAPI documents of the resources peapod serves and serves them the way
// kube-apiserver does: /openapi/v2 (JSON, or protobuf for kubectl 1.27/1.28) and /openapi/v3 (an index of
// per group version documents addressed by hash, read by kubectl 1.29+). The schemas come from the k8s.io/api
// Go types through kube-openapi's openapi-gen (package generated); the paths mirror kube-apiserver's installer,
// down to the fieldValidation parameter of every patch operation, which tells kubectl to leave validation to
// the server. The same schemas drive the type converter of server-side apply.
package openapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/NYTimes/gziphandler"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v4/typed"

	"github.com/peapod-dev/peapod/internal/openapi/generated"
	"github.com/peapod-dev/peapod/internal/registry"
)

// Paths the documents are served on.
const (
	V2Path = "/openapi/v2"
	V3Path = "/openapi/v3"
)

// Docs serves the documents and provides the type converter. It is safe for concurrent use.
//
// New only checks the resources and lays out their routes (about a millisecond): building the specs takes
// tens of milliseconds and megabytes of garbage, which the server start and the idle footprint cannot afford
// for documents that only kubectl explain, validation and server-side apply read. So each is built on first
// use, exactly once: the v2 document on the first /openapi/v2 request, the v3 documents and the type
// converter together on the first /openapi/v3 request or type conversion. A built document is serialized to
// JSON at once and only the bytes are kept (protobuf is derived from them on first demand). The type converter
// is built on its own, on the first conversion (the server's first write), from the served kinds'
// definitions alone: server-side apply must not make every start build and serialize the v3 documents.
type Docs struct {
	namer  *definitionNamer
	groups []*groupRoutes
	gzip   http.Handler

	v2Once sync.Once
	v2     *serialized
	v2Err  error

	v3Once sync.Once
	v3     *v3Build
	v3Err  error

	tcOnce sync.Once
	tc     managedfields.TypeConverter
	tcErr  error
}

// v3Build is the outcome of building the v3 documents.
type v3Build struct {
	index         *serialized
	groupVersions map[string]*serialized // by index key: "api/v1", "apis/coordination.k8s.io/v1"
}

// New lays out the OpenAPI v2 document and one v3 document per group version for the given resources, with
// the operations kube-apiserver serves for them and only the definitions those operations reach.
func New(resources []*registry.Resource) (*Docs, error) {
	for _, r := range resources {
		if r.New == nil {
			return nil, fmt.Errorf("resource %s: no New function", r.Name)
		}
		if r.NewList == nil && slices.Contains(r.Verbs, "list") {
			return nil, fmt.Errorf("resource %s: lists but has no NewList function", r.Name)
		}
	}
	scheme, err := newScheme(resources)
	if err != nil {
		return nil, err
	}
	groups, err := buildRoutes(resources)
	if err != nil {
		return nil, err
	}
	d := &Docs{namer: newDefinitionNamer(scheme), groups: groups}
	d.gzip = gziphandler.GzipHandler(http.HandlerFunc(d.serve))
	return d, nil
}

func (d *Docs) buildV2() (*serialized, error) {
	d.v2Once.Do(func() {
		containers := make([]common.RouteContainer, len(d.groups))
		for i, g := range d.groups {
			containers[i] = g
		}
		swagger, err := builder.BuildOpenAPISpecFromRoutes(containers, v2Config(d.namer))
		if err != nil {
			d.v2Err = fmt.Errorf("build OpenAPI v2: %w", err)
			return
		}
		data, err := swagger.MarshalJSON()
		if err != nil {
			d.v2Err = fmt.Errorf("serialize OpenAPI v2: %w", err)
			return
		}
		d.v2 = newSerialized(data, handler.ToProtoBinary)
	})
	return d.v2, d.v2Err
}

// buildV3 builds every group version's v3 document (the index needs all of their hashes anyway), once.
func (d *Docs) buildV3() (*v3Build, error) {
	d.v3Once.Do(func() {
		d.v3, d.v3Err = d.doBuildV3()
	})
	return d.v3, d.v3Err
}

func (d *Docs) doBuildV3() (*v3Build, error) {
	cfg := v3Config(d.namer)
	built := &v3Build{groupVersions: map[string]*serialized{}}
	index := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
	for _, g := range d.groups {
		doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{g}, cfg)
		if err != nil {
			return nil, fmt.Errorf("build OpenAPI v3 for %s: %w", g.gv, err)
		}
		data, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("serialize OpenAPI v3 for %s: %w", g.gv, err)
		}
		served := newSerialized(data, handler3.ToV3ProtoBinary)
		built.groupVersions[g.v3Name()] = served
		index.Paths[g.v3Name()] = handler3.OpenAPIV3DiscoveryGroupVersion{
			ServerRelativeURL: serverRelativeURL(g.v3Name(), served.etag),
		}
	}
	data, err := json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("serialize OpenAPI v3 index: %w", err)
	}
	built.index = newSerialized(data, nil)
	return built, nil
}

// buildTypeConverter builds the type converter once. kube-apiserver builds its converter from the v3
// component schemas: they carry the list-type and map-key extensions structured merge needs, and the kinds
// to index them by. This makes the same schemas as the v3 builder does (v3 references, the kinds as
// x-kubernetes-group-version-kind), but only for the served kinds and what they
// reference, without routes, documents or JSON. References are not wrapped in allOf as in the documents:
// the conversion to structured-merge-diff schemas reads both forms the same, and wrapping would be most of
// the cost.
func (d *Docs) buildTypeConverter() (managedfields.TypeConverter, error) {
	d.tcOnce.Do(func() {
		d.tc, d.tcErr = managedfields.NewTypeConverter(d.converterSchemas(), false)
		if d.tcErr != nil {
			d.tcErr = fmt.Errorf("build type converter: %w", d.tcErr)
		}
	})
	return d.tc, d.tcErr
}

// converterSchemas returns the v3 component schemas of every kind in the scheme and of the definitions they
// depend on, by definition name.
func (d *Docs) converterSchemas() map[string]*spec.Schema {
	definitions := generated.GetOpenAPIDefinitions(func(name string) spec.Ref {
		defName, _ := d.namer.name(name)
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(defName))
	})
	schemas := map[string]*spec.Schema{}
	var add func(typeName string)
	add = func(typeName string) {
		name, extensions := d.namer.name(typeName)
		definition, ok := definitions[typeName]
		if _, done := schemas[name]; done || !ok {
			return
		}
		s := &spec.Schema{
			VendorExtensible:   spec.VendorExtensible{Extensions: maps.Clone(definition.Schema.Extensions)},
			SchemaProps:        definition.Schema.SchemaProps,
			SwaggerSchemaProps: definition.Schema.SwaggerSchemaProps,
		}
		if len(extensions) > 0 && s.Extensions == nil {
			s.Extensions = spec.Extensions{}
		}
		maps.Copy(s.Extensions, extensions)
		delete(s.Extensions, common.ExtensionV2Schema)
		schemas[name] = s
		for _, dependency := range definition.Dependencies {
			add(dependency)
		}
	}
	for _, typeName := range d.namer.typeNames() {
		add(typeName)
	}
	return schemas
}

// ServeHTTP serves /openapi/v2, the /openapi/v3 index and /openapi/v3/<group version path>, gzipped when
// the client accepts it.
func (d *Docs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.gzip.ServeHTTP(w, r)
}

func (d *Docs) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == V2Path:
		doc, err := d.buildV2()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		doc.serve(w, r, v2Formats())
	case p == V3Path || strings.HasPrefix(p, V3Path+"/"):
		built, err := d.buildV3()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if p == V3Path {
			built.index.serve(w, r, jsonOnly())
			return
		}
		gv := strings.TrimPrefix(p, V3Path+"/")
		doc, ok := built.groupVersions[gv]
		if !ok {
			http.NotFound(w, r)
			return
		}
		doc.serveImmutable(w, r, gv)
	default:
		http.NotFound(w, r)
	}
}

// TypeConverter converts objects of the served kinds to and from structured-merge-diff typed values, for
// server-side apply and managedFields. It is built on its first conversion.
func (d *Docs) TypeConverter() managedfields.TypeConverter {
	return lazyTypeConverter{d}
}

// lazyTypeConverter builds the real converter on first use.
type lazyTypeConverter struct{ d *Docs }

func (l lazyTypeConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	tc, err := l.d.buildTypeConverter()
	if err != nil {
		return nil, err
	}
	return tc.ObjectToTyped(obj, opts...)
}

func (l lazyTypeConverter) TypedToObject(value *typed.TypedValue) (runtime.Object, error) {
	tc, err := l.d.buildTypeConverter()
	if err != nil {
		return nil, err
	}
	return tc.TypedToObject(value)
}

// newScheme registers the served kinds, their lists, the subresource kinds and the meta.k8s.io options and
// watch events of each group version: the kinds x-kubernetes-group-version-kind lists.
func newScheme(resources []*registry.Resource) (scheme *runtime.Scheme, err error) {
	// AddKnownTypeWithName panics on a kind registered twice with different types: a bad resource table.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("register kinds: %v", p)
		}
	}()
	scheme = runtime.NewScheme()
	seen := map[schema.GroupVersion]bool{}
	for _, r := range resources {
		if !seen[r.GroupVersion] {
			metav1.AddToGroupVersion(scheme, r.GroupVersion)
			seen[r.GroupVersion] = true
		}
		scheme.AddKnownTypeWithName(r.GroupVersionKind(), r.New())
		if r.NewList != nil {
			scheme.AddKnownTypeWithName(r.GroupVersion.WithKind(r.Kind+"List"), r.NewList())
		}
		for _, sub := range r.Subresources {
			if sub == "binding" {
				scheme.AddKnownTypeWithName(r.GroupVersion.WithKind("Binding"), &corev1.Binding{})
			}
		}
	}
	return scheme, nil
}

// buildRoutes groups the resources' routes by group version, sorted by path so that the documents are
// deterministic.
func buildRoutes(resources []*registry.Resource) ([]*groupRoutes, error) {
	byGV := map[schema.GroupVersion]*groupRoutes{}
	var groups []*groupRoutes
	for _, r := range resources {
		g := byGV[r.GroupVersion]
		if g == nil {
			root := rootPath(r.GroupVersion)
			g = &groupRoutes{gv: r.GroupVersion, root: root, routes: []common.Route{discoveryRoute(root)}}
			byGV[r.GroupVersion] = g
			groups = append(groups, g)
		}
		endpoints := []endpoint{resourceEndpoint(r)}
		for _, sub := range r.Subresources {
			e, err := subresourceEndpoint(r, sub)
			if err != nil {
				return nil, err
			}
			endpoints = append(endpoints, e)
		}
		for _, e := range endpoints {
			routes, err := e.routes(g.root)
			if err != nil {
				return nil, fmt.Errorf("resource %s: %w", r.Name, err)
			}
			g.routes = append(g.routes, routes...)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].root < groups[j].root })
	return groups, nil
}

const (
	apiTitle   = "Kubernetes"
	apiVersion = "unversioned"
)

func v2Config(namer *definitionNamer) *common.Config {
	return &common.Config{
		ProtocolList: []string{"https"},
		Info:         &spec.Info{InfoProps: spec.InfoProps{Title: apiTitle, Version: apiVersion}},
		DefaultResponse: &spec.Response{
			ResponseProps: spec.ResponseProps{Description: "Default Response."},
		},
		CommonResponses: map[int]spec.Response{
			http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}},
		},
		SecurityDefinitions: &spec.SecurityDefinitions{"BearerToken": &spec.SecurityScheme{
			SecuritySchemeProps: spec.SecuritySchemeProps{
				Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
			},
		}},
		DefaultSecurity:                []map[string][]string{{"BearerToken": {}}},
		GetDefinitions:                 generated.GetOpenAPIDefinitions,
		GetDefinitionName:              namer.name,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
	}
}

// v3Config computes the v3 definitions once for every group version document (v2 refs differ).
func v3Config(namer *definitionNamer) *common.OpenAPIV3Config {
	return &common.OpenAPIV3Config{
		Info: &spec.Info{InfoProps: spec.InfoProps{Title: apiTitle, Version: apiVersion}},
		DefaultResponse: &spec3.Response{
			ResponseProps: spec3.ResponseProps{Description: "Default Response."},
		},
		CommonResponses: map[int]*spec3.Response{
			http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}},
		},
		SecuritySchemes: spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{
			SecuritySchemeProps: spec3.SecuritySchemeProps{
				Type: "apiKey", Name: "authorization", In: "header", Description: "Bearer Token authentication",
			},
		}},
		Definitions: generated.GetOpenAPIDefinitions(func(name string) spec.Ref {
			defName, _ := namer.name(name)
			return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(defName))
		}),
		GetDefinitionName:              namer.name,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
	}
}

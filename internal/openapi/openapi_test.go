package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"

	"github.com/peapod-dev/peapod/internal/openapi/generated"
	"github.com/peapod-dev/peapod/internal/registry"
)

func newDocs(t testing.TB) *Docs {
	t.Helper()
	d, err := New(testResources())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// get serves one request and returns the recorded response.
func get(d http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, req)
	return rec
}

func getV2(t *testing.T, d *Docs) *spec.Swagger {
	t.Helper()
	rec := get(d, "/openapi/v2")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi/v2: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var s spec.Swagger
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatalf("decode v2: %v", err)
	}
	return &s
}

func getV3(t *testing.T, d *Docs) (handler3.OpenAPIV3Discovery, map[string]*spec3.OpenAPI) {
	t.Helper()
	rec := get(d, "/openapi/v3")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi/v3: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var index handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(rec.Body.Bytes(), &index); err != nil {
		t.Fatalf("decode v3 index: %v", err)
	}
	docs := map[string]*spec3.OpenAPI{}
	for gv, entry := range index.Paths {
		rec := get(d, entry.ServerRelativeURL)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", entry.ServerRelativeURL, rec.Code)
		}
		var doc spec3.OpenAPI
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("decode %s: %v", gv, err)
		}
		docs[gv] = &doc
	}
	return index, docs
}

// gvkOf reads a definition's or operation's x-kubernetes-group-version-kind as kubectl does.
func gvkOf(t *testing.T, ext spec.Extensions) []schema.GroupVersionKind {
	t.Helper()
	raw, ok := ext[extensionGVK]
	if !ok {
		return nil
	}
	data, _ := json.Marshal(raw)
	if !strings.HasPrefix(string(data), "[") {
		data = []byte("[" + string(data) + "]")
	}
	var list []schema.GroupVersionKind
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("x-kubernetes-group-version-kind %s: %v", data, err)
	}
	return list
}

func TestDefinitions(t *testing.T) {
	d := newDocs(t)
	v2 := getV2(t, d)
	_, v3 := getV3(t, d)
	v3core := v3["api/v1"].Components.Schemas
	v3coord := v3["apis/coordination.k8s.io/v1"].Components.Schemas

	tests := []struct {
		doc  string
		defs map[string]*spec.Schema
		name string
		gvk  schema.GroupVersionKind
	}{
		{"v2", ptrs(v2.Definitions), "io.k8s.api.core.v1.Pod", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}},
		{"v2", ptrs(v2.Definitions), "io.k8s.api.core.v1.PodList", schema.GroupVersionKind{Version: "v1", Kind: "PodList"}},
		{"v2", ptrs(v2.Definitions), "io.k8s.api.core.v1.Namespace", schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}},
		{"v2", ptrs(v2.Definitions), "io.k8s.api.core.v1.Binding", schema.GroupVersionKind{Version: "v1", Kind: "Binding"}},
		{"v2", ptrs(v2.Definitions), "io.k8s.api.coordination.v1.Lease", schema.GroupVersionKind{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"}},
		{"v3 api/v1", v3core, "io.k8s.api.core.v1.Pod", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}},
		{"v3 api/v1", v3core, "io.k8s.api.core.v1.Node", schema.GroupVersionKind{Version: "v1", Kind: "Node"}},
		{"v3 api/v1", v3core, "io.k8s.apimachinery.pkg.apis.meta.v1.Status", schema.GroupVersionKind{Version: "v1", Kind: "Status"}},
		{"v3 coordination", v3coord, "io.k8s.api.coordination.v1.Lease", schema.GroupVersionKind{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"}},
	}
	for _, tt := range tests {
		t.Run(tt.doc+" "+tt.name, func(t *testing.T) {
			def, ok := tt.defs[tt.name]
			if !ok {
				t.Fatalf("no definition %s", tt.name)
			}
			if def.Description == "" {
				t.Errorf("%s has no description", tt.name)
			}
			gvks := gvkOf(t, def.Extensions)
			if len(gvks) != 1 || gvks[0] != tt.gvk {
				t.Errorf("%s x-kubernetes-group-version-kind = %v, want [%v]", tt.name, gvks, tt.gvk)
			}
		})
	}

	t.Run("v3 nests references in allOf with descriptions", func(t *testing.T) {
		specProp := v3core["io.k8s.api.core.v1.Pod"].Properties["spec"]
		if len(specProp.AllOf) != 1 || specProp.AllOf[0].Ref.String() != "#/components/schemas/io.k8s.api.core.v1.PodSpec" {
			t.Errorf("Pod.spec = %+v, want allOf [$ref PodSpec]", specProp.SchemaProps)
		}
		if !strings.Contains(specProp.Description, "Specification of the desired behavior of the pod") {
			t.Errorf("Pod.spec description = %q", specProp.Description)
		}
	})
	t.Run("list-type and merge-key extensions kept", func(t *testing.T) {
		containers := v3core["io.k8s.api.core.v1.PodSpec"].Properties["containers"]
		for k, want := range map[string]interface{}{
			"x-kubernetes-list-type": "map", "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
		} {
			if containers.Extensions[k] != want {
				t.Errorf("PodSpec.containers %s = %v, want %v", k, containers.Extensions[k], want)
			}
		}
	})
	t.Run("only reachable definitions", func(t *testing.T) {
		all := len(generated.GetOpenAPIDefinitions(func(string) spec.Ref { return spec.Ref{} }))
		for _, name := range []string{"io.k8s.api.core.v1.Service", "io.k8s.api.core.v1.PersistentVolume"} {
			if _, ok := v2.Definitions[name]; ok {
				t.Errorf("v2 has unserved %s", name)
			}
		}
		if len(v2.Definitions) >= all {
			t.Errorf("v2 has %d of %d generated definitions", len(v2.Definitions), all)
		}
		if _, ok := v3coord["io.k8s.api.core.v1.Pod"]; ok {
			t.Error("coordination.k8s.io/v1 document has the Pod definition")
		}
	})
}

func ptrs(defs spec.Definitions) map[string]*spec.Schema {
	out := make(map[string]*spec.Schema, len(defs))
	for name := range defs {
		s := defs[name]
		out[name] = &s
	}
	return out
}

// TestPatchOperationsHaveFieldValidation checks what kubectl checks before it leaves validation to the server:
// every patch operation of a kind (kubectl looks at the first one it meets) has a fieldValidation query
// parameter, in v2 (possibly by reference to a shared parameter) and in v3.
func TestPatchOperationsHaveFieldValidation(t *testing.T) {
	d := newDocs(t)
	v2 := getV2(t, d)
	_, v3 := getV3(t, d)

	wantKinds := map[schema.GroupVersionKind]bool{}
	for _, r := range testResources() {
		wantKinds[r.GroupVersionKind()] = true
	}

	v2Kinds := map[schema.GroupVersionKind]bool{}
	for path, item := range v2.Paths.Paths {
		if item.Patch == nil {
			continue
		}
		gvks := gvkOf(t, item.Patch.Extensions)
		if len(gvks) != 1 {
			t.Fatalf("v2 PATCH %s: x-kubernetes-group-version-kind %v", path, gvks)
		}
		if item.Patch.Extensions[extensionAction] != "patch" {
			t.Errorf("v2 PATCH %s: x-kubernetes-action %v", path, item.Patch.Extensions[extensionAction])
		}
		if !hasV2QueryParam(v2, item.Patch.Parameters, "fieldValidation") {
			t.Errorf("v2 PATCH %s has no fieldValidation parameter", path)
		}
		if !hasV2QueryParam(v2, item.Patch.Parameters, "force") {
			t.Errorf("v2 PATCH %s has no force parameter", path)
		}
		v2Kinds[gvks[0]] = true
	}

	v3Kinds := map[schema.GroupVersionKind]bool{}
	for gv, doc := range v3 {
		for path, item := range doc.Paths.Paths {
			if item.Patch == nil {
				continue
			}
			gvks := gvkOf(t, item.Patch.Extensions)
			if len(gvks) != 1 {
				t.Fatalf("v3 %s PATCH %s: x-kubernetes-group-version-kind %v", gv, path, gvks)
			}
			found := false
			for _, p := range item.Patch.Parameters {
				found = found || p.Name == "fieldValidation" && p.In == "query"
			}
			if !found {
				t.Errorf("v3 %s PATCH %s has no fieldValidation parameter", gv, path)
			}
			if _, ok := item.Patch.RequestBody.Content["application/apply-patch+yaml"]; !ok {
				t.Errorf("v3 %s PATCH %s does not take application/apply-patch+yaml", gv, path)
			}
			v3Kinds[gvks[0]] = true
		}
	}
	for gvk := range wantKinds {
		if !v2Kinds[gvk] {
			t.Errorf("v2: no patch operation for %v", gvk)
		}
		if !v3Kinds[gvk] {
			t.Errorf("v3: no patch operation for %v", gvk)
		}
	}
}

func hasV2QueryParam(doc *spec.Swagger, params []spec.Parameter, name string) bool {
	for _, p := range params {
		if ref := p.Ref.String(); ref != "" {
			p = doc.Parameters[strings.TrimPrefix(ref, "#/parameters/")]
		}
		if p.Name == name && p.In == "query" {
			return true
		}
	}
	return false
}

// TestOperations checks the operations kube-apiserver's installer would serve: ids, actions, parameters.
func TestOperations(t *testing.T) {
	d := newDocs(t)
	v2 := getV2(t, d)

	tests := []struct {
		path, method, id, action string
		params                   []string // query parameters the operation must take
	}{
		{"/api/v1/namespaces/{namespace}/pods", "GET", "listCoreV1NamespacedPod", "list",
			[]string{"labelSelector", "fieldSelector", "resourceVersion", "watch", "limit", "continue", "timeoutSeconds", "allowWatchBookmarks"}},
		{"/api/v1/namespaces/{namespace}/pods", "POST", "createCoreV1NamespacedPod", "post", []string{"dryRun", "fieldManager", "fieldValidation"}},
		{"/api/v1/namespaces/{namespace}/pods", "DELETE", "deleteCoreV1CollectionNamespacedPod", "deletecollection",
			[]string{"gracePeriodSeconds", "propagationPolicy", "labelSelector", "fieldSelector"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}", "GET", "readCoreV1NamespacedPod", "get", nil},
		{"/api/v1/namespaces/{namespace}/pods/{name}", "PUT", "replaceCoreV1NamespacedPod", "put", []string{"dryRun", "fieldManager", "fieldValidation"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}", "DELETE", "deleteCoreV1NamespacedPod", "delete", []string{"gracePeriodSeconds", "propagationPolicy", "dryRun"}},
		{"/api/v1/pods", "GET", "listCoreV1PodForAllNamespaces", "list", []string{"labelSelector"}},
		{"/api/v1/watch/namespaces/{namespace}/pods", "GET", "watchCoreV1NamespacedPodList", "watchlist", []string{"watch"}},
		{"/api/v1/watch/namespaces/{namespace}/pods/{name}", "GET", "watchCoreV1NamespacedPod", "watch", nil},
		{"/api/v1/namespaces/{namespace}/pods/{name}/status", "PATCH", "patchCoreV1NamespacedPodStatus", "patch", []string{"fieldValidation", "force"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/binding", "POST", "createCoreV1NamespacedPodBinding", "post", nil},
		{"/api/v1/namespaces/{namespace}/pods/{name}/log", "GET", "readCoreV1NamespacedPodLog", "get", []string{"container", "follow", "previous", "tailLines", "timestamps", "sinceSeconds", "sinceTime", "limitBytes"}},
		{"/api/v1/namespaces/{name}/finalize", "PUT", "replaceCoreV1NamespaceFinalize", "put", nil},
		{"/api/v1/nodes/{name}/status", "PUT", "replaceCoreV1NodeStatus", "put", []string{"fieldValidation"}},
		{"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}", "PATCH", "patchCoordinationV1NamespacedLease", "patch", []string{"fieldValidation"}},
		{"/api/v1/", "GET", "getCoreV1APIResources", "", nil},
		{"/api/v1/namespaces/{namespace}/pods/{name}/exec", "GET", "connectCoreV1GetNamespacedPodExec", "connect",
			[]string{"command", "container", "stdin", "stdout", "stderr", "tty"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/attach", "POST", "connectCoreV1PostNamespacedPodAttach", "connect", []string{"container", "stdin"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/portforward", "GET", "connectCoreV1GetNamespacedPodPortforward", "connect", []string{"ports"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/ephemeralcontainers", "PATCH", "patchCoreV1NamespacedPodEphemeralcontainers", "patch", []string{"fieldValidation"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			item, ok := v2.Paths.Paths[tt.path]
			if !ok {
				t.Fatalf("no path %s", tt.path)
			}
			op := map[string]*spec.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete}[tt.method]
			if op == nil {
				t.Fatalf("no %s operation", tt.method)
			}
			if op.ID != tt.id {
				t.Errorf("operationId = %q, want %q", op.ID, tt.id)
			}
			if got, _ := op.Extensions[extensionAction].(string); got != tt.action {
				t.Errorf("x-kubernetes-action = %q, want %q", got, tt.action)
			}
			params := append(append([]spec.Parameter(nil), item.Parameters...), op.Parameters...)
			for _, name := range tt.params {
				if !hasV2QueryParam(v2, params, name) {
					t.Errorf("no query parameter %s", name)
				}
			}
		})
	}

	// Paths of verbs the resource does not serve must not appear: namespaces have no deletecollection.
	if item := v2.Paths.Paths["/api/v1/namespaces"]; item.Delete != nil {
		t.Error("DELETE /api/v1/namespaces (deletecollection) is described though namespaces do not serve it")
	}
}

func TestV2Protobuf(t *testing.T) {
	d := newDocs(t)
	jsonRec := get(d, "/openapi/v2")
	for _, accept := range []string{
		"application/com.github.proto-openapi.spec.v2@v1.0+protobuf", // kubectl's spelling
		"application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
		"application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json;q=0.5",
	} {
		t.Run(accept, func(t *testing.T) {
			rec := get(d, "/openapi/v2", "Accept", accept)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" {
				t.Errorf("Content-Type = %q", ct)
			}
			if rec.Header().Get("Etag") != jsonRec.Header().Get("Etag") || rec.Header().Get("Etag") == "" {
				t.Errorf("Etag %q, JSON's %q", rec.Header().Get("Etag"), jsonRec.Header().Get("Etag"))
			}
			var doc openapi_v2.Document
			if err := proto.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("unmarshal protobuf: %v", err)
			}
			var pod *openapi_v2.Schema
			for _, def := range doc.GetDefinitions().GetAdditionalProperties() {
				if def.GetName() == "io.k8s.api.core.v1.Pod" {
					pod = def.GetValue()
				}
			}
			if pod == nil {
				t.Fatal("protobuf document has no io.k8s.api.core.v1.Pod")
			}
			if !strings.Contains(pod.GetDescription(), "collection of containers") {
				t.Errorf("Pod description = %q", pod.GetDescription())
			}
			gvk := ""
			for _, ext := range pod.GetVendorExtension() {
				if ext.GetName() == extensionGVK {
					gvk = ext.GetValue().GetYaml()
				}
			}
			if !strings.Contains(gvk, "kind: Pod") || !strings.Contains(gvk, "version: v1") {
				t.Errorf("Pod x-kubernetes-group-version-kind = %q", gvk)
			}
		})
	}
}

func TestNegotiationAndCaching(t *testing.T) {
	d := newDocs(t)
	index, _ := getV3(t, d)
	coreURL := index.Paths["api/v1"].ServerRelativeURL
	if !strings.HasPrefix(coreURL, "/openapi/v3/api/v1?hash=") {
		t.Fatalf("api/v1 serverRelativeURL = %q", coreURL)
	}
	etag := get(d, "/openapi/v2").Header().Get("Etag")

	tests := []struct {
		name        string
		method      string
		path        string
		header      []string
		code        int
		contentType string
		location    string
	}{
		{"v2 default JSON", "GET", "/openapi/v2", nil, 200, "application/json", ""},
		{"v2 wildcard", "GET", "/openapi/v2", []string{"Accept", "*/*"}, 200, "application/json", ""},
		{"v2 unacceptable", "GET", "/openapi/v2", []string{"Accept", "text/html"}, 406, "", ""},
		{"v2 not modified", "GET", "/openapi/v2", []string{"If-None-Match", etag}, 304, "", ""},
		{"v2 POST", "POST", "/openapi/v2", nil, 405, "", ""},
		{"v3 current hash", "GET", coreURL, nil, 200, "application/json", ""},
		{"v3 stale hash redirects", "GET", "/openapi/v3/api/v1?hash=0123", nil, 301, "", coreURL},
		{"v3 without hash", "GET", "/openapi/v3/api/v1", nil, 200, "application/json", ""},
		{"v3 protobuf", "GET", coreURL, []string{"Accept", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"}, 200,
			"application/com.github.proto-openapi.spec.v3.v1.0+protobuf", ""},
		{"v3 unknown group version", "GET", "/openapi/v3/apis/apps/v1", nil, 404, "", ""},
		{"elsewhere", "GET", "/openapi/v4", nil, 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d", rec.Code, tt.code)
			}
			if tt.contentType != "" && rec.Header().Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.contentType)
			}
			if tt.location != "" && rec.Header().Get("Location") != tt.location {
				t.Errorf("Location %q, want %q", rec.Header().Get("Location"), tt.location)
			}
		})
	}

	t.Run("hashed v3 document is immutable", func(t *testing.T) {
		rec := get(d, coreURL)
		if cc := rec.Header().Get("Cache-Control"); cc != "public, immutable" {
			t.Errorf("Cache-Control %q", cc)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		plain := get(d, coreURL)
		rec := get(d, coreURL, "Accept-Encoding", "gzip")
		if rec.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", rec.Header().Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, plain.Body.Bytes()) || rec.Body.Len() >= len(body)/2 {
			t.Errorf("gzip body: %d bytes for %d, equal=%v", rec.Body.Len(), len(body), bytes.Equal(body, plain.Body.Bytes()))
		}
	})
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *registry.Resource)
		want   string
	}{
		{"unknown subresource", func(r *registry.Resource) { r.Subresources = []string{"scale"} }, "scale"},
		{"no New", func(r *registry.Resource) { r.New = nil }, "New"},
		{"lists without NewList", func(r *registry.Resource) { r.NewList = nil }, "NewList"},
		{"kind served by another type", func(r *registry.Resource) {
			r.New = func() runtime.Object { return &corev1.Node{} }
		}, "register kinds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resources := testResources()
			// A second Pod resource makes the type conflict of the last case.
			extra := *resources[0]
			tt.mutate(&extra)
			_, err := New(append(resources, &extra))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestTypeConverter(t *testing.T) {
	tc := newDocs(t).TypeConverter()
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "kubia", Namespace: "default", Labels: map[string]string{"run": "kubia"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "kubia", Image: "luksa/kubia", Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}},
			{Name: "sidecar", Image: "busybox"},
		}},
	}
	typed, err := tc.ObjectToTyped(pod)
	if err != nil {
		t.Fatalf("ObjectToTyped(Pod): %v", err)
	}
	set, err := typed.ToFieldSet()
	if err != nil {
		t.Fatalf("ToFieldSet: %v", err)
	}
	// Containers are a map keyed by name, ports by containerPort and protocol: the extensions made it through.
	for _, path := range []fieldpath.Path{
		fieldpath.MakePathOrDie("spec", "containers", fieldpath.KeyByFields("name", "sidecar"), "image"),
		fieldpath.MakePathOrDie("spec", "containers", fieldpath.KeyByFields("name", "kubia"), "ports",
			fieldpath.KeyByFields("containerPort", int64(8080), "protocol", "TCP"), "containerPort"),
		fieldpath.MakePathOrDie("metadata", "labels", "run"),
	} {
		if !set.Has(path) {
			t.Errorf("field set lacks %s:\n%s", path, set.String())
		}
	}
	back, err := tc.TypedToObject(typed)
	if err != nil {
		t.Fatalf("TypedToObject: %v", err)
	}
	u, ok := back.(runtime.Unstructured)
	if !ok {
		t.Fatalf("TypedToObject returned %T", back)
	}
	if img, _, _ := unstructuredString(u.UnstructuredContent(), "spec", "containers"); img != "luksa/kubia" {
		t.Errorf("round trip first container image = %q", img)
	}

	lease := &coordinationv1.Lease{TypeMeta: metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"}}
	if _, err := tc.ObjectToTyped(lease); err != nil {
		t.Errorf("ObjectToTyped(Lease): %v", err)
	}
	unserved := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}}
	if _, err := tc.ObjectToTyped(unserved); err == nil {
		t.Error("ObjectToTyped(Service) succeeded for a kind peapod does not serve")
	}
	bad := &corev1.Pod{TypeMeta: pod.TypeMeta, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "a"}}}}
	if _, err := tc.ObjectToTyped(bad); err == nil {
		t.Error("ObjectToTyped accepted duplicate container names (list-map keys lost)")
	}
}

// unstructuredString returns the image of the first element of the list at path.
func unstructuredString(obj map[string]interface{}, path ...string) (string, bool, error) {
	var cur interface{} = obj
	for _, p := range path {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return "", false, nil
		}
		cur = m[p]
	}
	list, ok := cur.([]interface{})
	if !ok || len(list) == 0 {
		return "", false, nil
	}
	first, _ := list[0].(map[string]interface{})
	img, ok := first["image"].(string)
	return img, ok, nil
}

// TestConcurrentFirstUse races the first requests and conversions: each document is built once and every
// caller sees the same bytes.
func TestConcurrentFirstUse(t *testing.T) {
	d := newDocs(t)
	tc := d.TypeConverter()
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	const workers = 8
	etags := make(chan string, 2*workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			etags <- "v2 " + get(d, "/openapi/v2").Header().Get("Etag")
			etags <- "v3 " + get(d, "/openapi/v3").Header().Get("Etag")
			_, err := tc.ObjectToTyped(pod)
			errs <- err
		}()
	}
	wg.Wait()
	close(etags)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("ObjectToTyped: %v", err)
		}
	}
	seen := map[string]bool{}
	for e := range etags {
		if strings.HasSuffix(e, " ") {
			t.Errorf("%sresponse without ETag", e)
		}
		seen[e] = true
	}
	if len(seen) != 2 {
		t.Errorf("distinct v2/v3 ETags across concurrent first requests: %v", seen)
	}
}

package api

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod-dev/peapod/internal/storage/bolt"
)

func TestDiscoveryDocuments(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		path, want string
	}{
		{"/api", `"kind":"APIVersions","versions":["v1"]`},
		{"/apis", `{"kind":"APIGroupList","apiVersion":"v1","groups":[]}`},
		{"/api/v1", `"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1"`},
		{"/api/v1", `{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["po"],"categories":["all"],"storageVersionHash":"xPOwRZ+Yhw8="}`},
		{"/api/v1", `{"name":"pods/status","singularName":"","namespaced":true,"kind":"Pod","verbs":["get","patch","update"]}`},
		{"/api/v1", `{"name":"pods/binding","singularName":"","namespaced":true,"kind":"Binding","verbs":["create"]}`},
		{"/api/v1", `{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace"`},
	}
	for _, tc := range tests {
		code, header, body := ts.do(http.MethodGet, tc.path, "", "", "")
		if code != http.StatusOK || header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %q", tc.path, code, header.Get("Content-Type"))
		}
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s = %s\nwant it to contain %s", tc.path, body, tc.want)
		}
	}
}

func TestDiscoveryThroughClientGo(t *testing.T) {
	ts := newTestServer(t)
	list, err := ts.client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	namespaced := map[string]bool{}
	for _, r := range list.APIResources {
		namespaced[r.Name] = r.Namespaced
	}
	want := map[string]bool{"pods": true, "pods/status": true, "namespaces": false, "namespaces/finalize": false, "configmaps": true}
	for name, ns := range want {
		if got, ok := namespaced[name]; !ok || got != ns {
			t.Errorf("%s: namespaced=%v present=%v, want namespaced=%v", name, got, ok, ns)
		}
	}
}

func TestStorageVersionHashMatchesKubernetes(t *testing.T) {
	// Values served by kube-apiserver 1.33.
	tests := map[schema.GroupVersionKind]string{
		{Version: "v1", Kind: "Pod"}:                                 "xPOwRZ+Yhw8=",
		{Version: "v1", Kind: "Namespace"}:                           "Q3oi5N2YM8M=",
		{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"}: "gqkMMb/YqFM=",
	}
	for gvk, want := range tests {
		if got := storageVersionHash(gvk); got != want {
			t.Errorf("%v: %s, want %s", gvk, got, want)
		}
	}
}

func TestUnauthenticatedRequests(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		path     string
		wantCode int
		contains string
	}{
		{"/api/v1/pods", http.StatusUnauthorized, `"reason":"Unauthorized"`},
		{"/metrics", http.StatusUnauthorized, `"message":"Unauthorized"`},
		{"/debug/pprof/heap", http.StatusUnauthorized, `"message":"Unauthorized"`},
		{"/version", http.StatusOK, `"gitVersion":"v1.33.0+peapod"`},
		{"/healthz", http.StatusOK, "ok"},
		{"/readyz?verbose", http.StatusOK, "[+]ping ok\n[+]etcd ok\nreadyz check passed\n"},
		{"/livez/ping", http.StatusOK, "ok"},
	}
	for _, tc := range tests {
		resp, err := http.Get(ts.url + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantCode || !strings.Contains(body.String(), tc.contains) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, resp.StatusCode, body.String(), tc.wantCode, tc.contains)
		}
	}
}

func TestProfilingNeedsAuthentication(t *testing.T) {
	ts := newTestServer(t)
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile: total",
	} {
		if code, _, body := ts.do(http.MethodGet, path, "", "", ""); code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d, body without %q", path, code, want)
		}
	}
}

func TestReadyzReportsNotReady(t *testing.T) {
	ts := newTestServer(t, func(c *Config, _ *bolt.Options) {
		c.Ready = func() error { return errors.New("not yet") }
	})
	code, _, body := ts.do(http.MethodGet, "/readyz?verbose", "", "", "")
	if code != http.StatusInternalServerError || !strings.Contains(string(body), "[-]bootstrap failed: reason withheld") {
		t.Errorf("readyz = %d %s", code, body)
	}
}

func TestUnknownPathsAreStatusNotFound(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/nope", "/api/v2", "/api/v1/widgets", "/apis/apps/v1", "/api/v1/namespaces/default/pods/x/nosuch"} {
		code, header, body := ts.do(http.MethodGet, path, "", "", "")
		status := decodeStatus(t, body)
		if code != http.StatusNotFound || header.Get("Content-Type") != "application/json" || status.Reason != metav1.StatusReasonNotFound {
			t.Errorf("GET %s = %d %q %s", path, code, header.Get("Content-Type"), body)
		}
	}
}

func TestMetricsCountRequests(t *testing.T) {
	ts := newTestServer(t)
	ts.createPod("m", nil)
	code, _, body := ts.do(http.MethodGet, "/metrics", "", "", "")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`apiserver_request_total{code="201",resource="pods",subresource="",verb="POST"} 1`,
		`apiserver_request_duration_seconds_bucket{resource="pods",subresource="",verb="POST",le="+Inf"} 1`,
		`peapod_storage_revision `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

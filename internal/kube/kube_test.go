package kube

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// recorder is an API server stand-in that answers every request with an empty object of the kind the
// path names and remembers what was asked.
type recorder struct {
	mu       sync.Mutex
	requests []string // "METHOD path?query"
	accepts  []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	line := req.Method + " " + req.URL.Path
	if req.URL.RawQuery != "" {
		line += "?" + req.URL.RawQuery
	}
	r.requests = append(r.requests, line)
	r.accepts = append(r.accepts, req.Header.Get("Accept"))
	r.mu.Unlock()
	kind, apiVersion := "Namespace", "v1"
	switch {
	case strings.Contains(req.URL.Path, "/binding"):
		kind = "Status"
	case strings.Contains(req.URL.Path, "/leases"):
		kind, apiVersion = "Lease", "coordination.k8s.io/v1"
	case strings.Contains(req.URL.Path, "/nodes"):
		kind = "Node"
	case strings.Contains(req.URL.Path, "/configmaps"):
		kind = "ConfigMapList"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": kind, "apiVersion": apiVersion, "metadata": map[string]any{"name": "x"}})
}

func (r *recorder) last() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.requests) == 0 {
		return "", ""
	}
	return r.requests[len(r.requests)-1], r.accepts[len(r.accepts)-1]
}

func newTestClientset(t *testing.T, handler http.Handler) *Clientset {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := NewForConfig(&rest.Config{Host: srv.URL, QPS: 100, Burst: 100})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTypedClientsAddressTheServedResources(t *testing.T) {
	rec := &recorder{}
	c := newTestClientset(t, rec)
	ctx := context.Background()
	named := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"finalize a namespace", func() error {
			_, err := c.Namespaces().Finalize(ctx, &corev1.Namespace{ObjectMeta: named("doomed")}, metav1.UpdateOptions{})
			return err
		}, "PUT /api/v1/namespaces/doomed/finalize"},
		{"bind a pod", func() error {
			return c.Pods("team").Bind(ctx, &corev1.Binding{ObjectMeta: named("web"), Target: corev1.ObjectReference{Name: "node1"}}, metav1.CreateOptions{})
		}, "POST /api/v1/namespaces/team/pods/web/binding"},
		{"update a node's status", func() error {
			_, err := c.Nodes().UpdateStatus(ctx, &corev1.Node{ObjectMeta: named("node1")}, metav1.UpdateOptions{})
			return err
		}, "PUT /api/v1/nodes/node1/status"},
		{"renew a lease", func() error {
			_, err := c.Leases("kube-node-lease").Update(ctx, &coordinationv1.Lease{ObjectMeta: named("node1")}, metav1.UpdateOptions{})
			return err
		}, "PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1"},
		{"list configmaps with a selector", func() error {
			_, err := c.ConfigMaps("team").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			return err
		}, "GET /api/v1/namespaces/team/configmaps?labelSelector=app%3Dweb"},
		{"create a namespace with a field manager", func() error {
			_, err := c.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: named("team")}, metav1.CreateOptions{FieldManager: "peapod"})
			return err
		}, "POST /api/v1/namespaces?fieldManager=peapod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			got, accept := rec.last()
			if got != tt.want {
				t.Errorf("request %q, want %q", got, tt.want)
			}
			// Built-in kinds are asked for in protobuf first, as client-go's clientset does.
			if !strings.HasPrefix(accept, "application/vnd.kubernetes.protobuf") {
				t.Errorf("Accept %q, want protobuf first", accept)
			}
		})
	}
}

// discoveryServer serves discovery documents by path; paths in failing answer 503.
func discoveryServer(documents map[string]any, failing ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(failing, r.URL.Path) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(metav1.Status{
				TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status:   metav1.StatusFailure, Code: http.StatusServiceUnavailable, Reason: metav1.StatusReasonServiceUnavailable,
			})
			return
		}
		doc, ok := documents[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	})
}

func groupVersions(group, preferred string, versions ...string) metav1.APIGroup {
	g := metav1.APIGroup{Name: group}
	for _, v := range versions {
		gv := metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v}
		g.Versions = append(g.Versions, gv)
		if v == preferred {
			g.PreferredVersion = gv
		}
	}
	return g
}

func resource(name string, namespaced bool) metav1.APIResource {
	return metav1.APIResource{Name: name, Namespaced: namespaced, Verbs: metav1.Verbs{"delete", "list"}}
}

func TestServerPreferredNamespacedResources(t *testing.T) {
	documents := map[string]any{
		"/api": metav1.APIVersions{Versions: []string{"v1"}},
		"/apis": metav1.APIGroupList{Groups: []metav1.APIGroup{
			groupVersions("coordination.k8s.io", "v1", "v1"),
			groupVersions("multi.example.com", "v2", "v1", "v2"),
			groupVersions("broken.example.com", "v1", "v1"),
		}},
		"/api/v1": metav1.APIResourceList{GroupVersion: "v1", APIResources: []metav1.APIResource{
			resource("pods", true), resource("pods/status", true), resource("namespaces", false), resource("configmaps", true),
		}},
		"/apis/coordination.k8s.io/v1": metav1.APIResourceList{APIResources: []metav1.APIResource{resource("leases", true)}},
		// widgets are in both versions and must come from the preferred one; gadgets only in v1.
		"/apis/multi.example.com/v1": metav1.APIResourceList{APIResources: []metav1.APIResource{resource("widgets", true), resource("gadgets", true)}},
		"/apis/multi.example.com/v2": metav1.APIResourceList{APIResources: []metav1.APIResource{resource("widgets", true), resource("clusterthings", false)}},
	}
	c := newTestClientset(t, discoveryServer(documents, "/apis/broken.example.com/v1"))

	lists, err := c.Discovery().ServerPreferredNamespacedResources(context.Background())
	var groupErr *ErrGroupDiscoveryFailed
	if !errors.As(err, &groupErr) {
		t.Fatalf("err = %v, want ErrGroupDiscoveryFailed", err)
	}
	broken := schema.GroupVersion{Group: "broken.example.com", Version: "v1"}
	if len(groupErr.Groups) != 1 || groupErr.Groups[broken] == nil {
		t.Errorf("failed groups = %v, want only %s", groupErr.Groups, broken)
	}
	var got []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			got = append(got, l.GroupVersion+" "+r.Name)
		}
	}
	want := []string{"v1 pods", "v1 configmaps", "coordination.k8s.io/v1 leases", "multi.example.com/v1 gadgets", "multi.example.com/v2 widgets"}
	if !slices.Equal(got, want) {
		t.Errorf("resources = %q, want %q", got, want)
	}
}

func TestDiscoveryFailsWithoutGroupList(t *testing.T) {
	c := newTestClientset(t, discoveryServer(map[string]any{"/api": metav1.APIVersions{Versions: []string{"v1"}}}, "/apis"))
	lists, err := c.Discovery().ServerPreferredNamespacedResources(context.Background())
	var groupErr *ErrGroupDiscoveryFailed
	if err == nil || errors.As(err, &groupErr) || lists != nil {
		t.Fatalf("got %v, %v; want no lists and a plain error", lists, err)
	}
}

package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/peapod-dev/peapod/internal/storage/bolt"
)

const testToken = "test-token"

// testServer is the handler over a real bolt store in a temporary directory, served by httptest.
type testServer struct {
	t       testing.TB
	url     string
	handler *handler
	store   *bolt.Store
	client  kubernetes.Interface
	metrics *prometheus.Registry
}

type serverOption func(*Config, *bolt.Options)

func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	cfg := Config{
		Registry:      testRegistry(),
		TypeConverter: managedfields.NewDeducedTypeConverter(),
		Authenticate: func(r *http.Request) (string, bool) {
			return "admin", r.Header.Get("Authorization") == "Bearer "+testToken
		},
		Version: version.Info{Major: "1", Minor: "33", GitVersion: "v1.33.0+peapod"},
		Metrics: prometheus.NewRegistry(),
	}
	boltOpts := bolt.Options{}
	for _, o := range opts {
		o(&cfg, &boltOpts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := bolt.Open(ctx, filepath.Join(t.TempDir(), "store.db"), boltOpts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	cfg.Store = store
	h, err := newHandler(cfg)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		_ = store.Close()
	})
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, BearerToken: testToken, QPS: -1})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	ts := &testServer{t: t, url: srv.URL, handler: h, store: store, client: client, metrics: cfg.Metrics}
	for _, ns := range []string{"default", "kube-system"} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
	return ts
}

// do sends a raw request with the test token and returns status, headers and body.
func (ts *testServer) do(method, path, contentType, accept, body string) (int, http.Header, []byte) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.url+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatalf("request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, data
}

// status decodes a Status body.
func decodeStatus(t testing.TB, body []byte) metav1.Status {
	t.Helper()
	var s metav1.Status
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("decode Status %s: %v", body, err)
	}
	return s
}

func testPod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func (ts *testServer) createPod(name string, labels map[string]string) *corev1.Pod {
	ts.t.Helper()
	pod, err := ts.client.CoreV1().Pods("default").Create(context.Background(), testPod(name, labels), metav1.CreateOptions{})
	if err != nil {
		ts.t.Fatalf("create pod %s: %v", name, err)
	}
	return pod
}

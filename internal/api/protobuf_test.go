package api

import (
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/peapod-dev/peapod/internal/registry/all"
)

// TestSingleObjectsInProtobuf: a client that prefers Kubernetes protobuf (client-go's built-in clients)
// gets single objects in it; lists, tables and clients preferring JSON get JSON.
func TestSingleObjectsInProtobuf(t *testing.T) {
	ts := newTestServer(t)
	ts.createPod("proto", map[string]string{"a": "b"})
	const clientGoAccept = "application/vnd.kubernetes.protobuf, */*"
	for _, tc := range []struct {
		path, accept, contentType string
	}{
		{"/api/v1/namespaces/default/pods/proto", clientGoAccept, runtime.ContentTypeProtobuf},
		{"/api/v1/namespaces/default/pods/proto", "application/json, application/vnd.kubernetes.protobuf", "application/json"},
		{"/api/v1/namespaces/default/pods/proto", "", "application/json"},
		{"/api/v1/namespaces/default/pods", clientGoAccept, "application/json"},
		{"/api/v1/namespaces/default/pods/proto", kubectlTableAccept, "application/json"},
		{"/api/v1/namespaces/default/pods/missing", clientGoAccept, "application/json"},
	} {
		code, header, body := ts.do(http.MethodGet, tc.path, "", tc.accept, "")
		if got := header.Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s with Accept %q: Content-Type %q, want %q (code %d)", tc.path, tc.accept, got, tc.contentType, code)
			continue
		}
		if tc.contentType != runtime.ContentTypeProtobuf {
			continue
		}
		scheme := all.New().Scheme
		var pod corev1.Pod
		if _, _, err := protobuf.NewSerializer(scheme, scheme).Decode(body, nil, &pod); err != nil {
			t.Fatalf("decode protobuf answer: %v", err)
		}
		if pod.Name != "proto" || pod.Labels["a"] != "b" || pod.ResourceVersion == "" || !strings.HasPrefix(pod.APIVersion, "v1") {
			t.Errorf("decoded pod %s rv %q labels %v apiVersion %q", pod.Name, pod.ResourceVersion, pod.Labels, pod.APIVersion)
		}
	}
}

package openapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/peapod-dev/peapod/internal/registry"
)

// kubectlBinary returns the versioned kubectl ("kubectl.1.27") next to the real kubectl, or skips the test.
func kubectlBinary(t *testing.T, minor int) string {
	t.Helper()
	dispatcher, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	real, err := filepath.EvalSymlinks(dispatcher)
	if err != nil {
		t.Skipf("resolve kubectl: %v", err)
	}
	bin := filepath.Join(filepath.Dir(real), fmt.Sprintf("kubectl.1.%d", minor))
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s not installed", bin)
	}
	return bin
}

// fakeAPIServer serves the least kubectl needs for explain and create: version, discovery, the OpenAPI
// documents and a pod create that echoes the body. It records the pod creates it received.
type fakeAPIServer struct {
	mu       sync.Mutex
	creates  []string // bodies of POST .../pods
	openapis []string // "<path> <Accept>" of the OpenAPI requests
}

func (f *fakeAPIServer) handler(t *testing.T, minor int, resources []*registry.Resource, docs *Docs) http.Handler {
	writeJSON := func(w http.ResponseWriter, code int, v interface{}) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if err := json.NewEncoder(w).Encode(v); err != nil {
			t.Errorf("encode response: %v", err)
		}
	}
	lists := map[string]*metav1.APIResourceList{}
	for _, r := range resources {
		gv := r.GroupVersion.String()
		if lists[gv] == nil {
			lists[gv] = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
		}
		lists[gv].APIResources = append(lists[gv].APIResources, metav1.APIResource{
			Name: r.Name, SingularName: r.SingularName, Namespaced: r.Namespaced, Kind: r.Kind, Verbs: r.Verbs,
		})
	}

	recordOpenAPI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.openapis = append(f.openapis, r.URL.RequestURI()+" "+r.Header.Get("Accept"))
		f.mu.Unlock()
		docs.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	mux.Handle("/openapi/", recordOpenAPI)
	mux.Handle("/openapi/v2", recordOpenAPI)
	mux.Handle("/openapi/v3", recordOpenAPI)
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, version.Info{Major: "1", Minor: fmt.Sprint(minor), GitVersion: fmt.Sprintf("v1.%d.0+peapod", minor)})
	})
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
	})
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) {
		gv := metav1.GroupVersionForDiscovery{GroupVersion: "coordination.k8s.io/v1", Version: "v1"}
		writeJSON(w, 200, metav1.APIGroupList{
			TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
			Groups:   []metav1.APIGroup{{Name: "coordination.k8s.io", Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv}},
		})
	})
	for gv, list := range lists {
		path := "/apis/" + gv
		if gv == "v1" {
			path = "/api/v1"
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, list) })
	}
	mux.HandleFunc("POST /api/v1/namespaces/default/pods", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read create body: %v", err)
		}
		f.mu.Lock()
		f.creates = append(f.creates, string(body))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
			Reason: metav1.StatusReasonNotFound, Code: 404, Message: "the server could not find the requested resource",
		})
	})
	return mux
}

// podWithUnknownField has a field no Pod has: kubectl rejects it itself when it validates client side
// ("unknown field"), and sends it when the OpenAPI tells it the server validates (fieldValidation).
const podWithUnknownField = `apiVersion: v1
kind: Pod
metadata:
  name: kubia-manual
spec:
  containers:
  - image: luksa/kubia
    name: kubia
    notAField: 1
    ports:
    - containerPort: 8080
      protocol: TCP
`

// TestKubectl runs the oldest and newest supported kubectl against the documents: 1.27 reads /openapi/v2 as
// protobuf, 1.33 reads /openapi/v3.
func TestKubectl(t *testing.T) {
	for _, tc := range []struct {
		minor   int
		openapi string // a request kubectl must have made for its documents
	}{
		{27, `^/openapi/v2(\?\S*)? application/com\.github\.proto-openapi\.spec\.v2@v1\.0\+protobuf`},
		{33, `^/openapi/v3/api/v1\?hash=[0-9A-F]{128}\S* application/json`},
	} {
		minor := tc.minor
		t.Run(fmt.Sprintf("1.%d", minor), func(t *testing.T) {
			bin := kubectlBinary(t, minor)
			resources := testResources()
			docs, err := New(resources)
			if err != nil {
				t.Fatal(err)
			}
			fake := &fakeAPIServer{}
			srv := httptest.NewServer(fake.handler(t, minor, resources, docs))
			defer srv.Close()

			home := t.TempDir()
			manifest := filepath.Join(home, "pod.yaml")
			if err := os.WriteFile(manifest, []byte(podWithUnknownField), 0o600); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				args = append([]string{"--server", srv.URL, "--cache-dir", filepath.Join(home, "cache")}, args...)
				cmd := exec.CommandContext(ctx, bin, args...)
				cmd.Env = []string{"HOME=" + home, "KUBECONFIG=" + filepath.Join(home, "kubeconfig")}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("kubectl %v: %v\n%s", args, err, out)
				}
				return string(out)
			}

			tests := []struct {
				args []string
				want []string // regular expressions the output must match
			}{
				{[]string{"explain", "pod"}, []string{`KIND:\s+Pod`, `VERSION:\s+v1`, `collection of containers`, `FIELDS:`, `spec\s+<PodSpec>`}},
				{[]string{"explain", "pod.spec"}, []string{`KIND:\s+Pod`, `FIELD:\s+spec`, `containers\s+<\[\]Container>\s+-required-`, `restartPolicy`}},
				{[]string{"explain", "lease.spec"}, []string{`KIND:\s+Lease`, `holderIdentity`}},
				// The old explain renders the v2 protobuf document.
				{[]string{"explain", "pod.spec", "--output", "plaintext-openapiv2"},
					[]string{`KIND:     Pod`, `RESOURCE: spec <Object>`, `containers\s+<\[\]Object> -required-`, `restartPolicy`}},
				{[]string{"create", "-f", manifest}, []string{`pod/kubia-manual created`}},
			}
			for _, tt := range tests {
				out := run(tt.args...)
				for _, re := range tt.want {
					if !regexp.MustCompile(re).MatchString(out) {
						t.Errorf("kubectl %v: output does not match %q:\n%s", tt.args, re, out)
					}
				}
			}

			fake.mu.Lock()
			defer fake.mu.Unlock()
			if len(fake.creates) != 1 || !regexp.MustCompile(`notAField`).MatchString(fake.creates[0]) {
				t.Errorf("kubectl validated client side instead of leaving it to the server: creates %q", fake.creates)
			}
			used := false
			for _, req := range fake.openapis {
				used = used || regexp.MustCompile(tc.openapi).MatchString(req)
			}
			if !used {
				t.Errorf("kubectl 1.%d made no OpenAPI request matching %q: %q", minor, tc.openapi, fake.openapis)
			}
		})
	}
}

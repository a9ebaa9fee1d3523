package mutate

import (
	"net/http"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

func TestDecode(t *testing.T) {
	m := newTestMutator(t)
	protoBody := func() []byte {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "proto", Labels: map[string]string{"a": "b"}}}
		enc := m.codecs.EncoderForVersion(protobuf.NewSerializer(m.scheme, m.scheme), corev1.SchemeGroupVersion)
		body, err := runtime.Encode(enc, ns)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}()

	const (
		podJSON         = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kubia"},"spec":{"containers":[{"name":"kubia","image":"luksa/kubia"}]}}`
		podUnknownJSON  = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kubia"},"spec":{"foo":1,"containers":[{"name":"kubia","image":"luksa/kubia"}]}}`
		podDupJSON      = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","name":"kubia"},"spec":{"containers":[{"name":"kubia","image":"luksa/kubia"}]}}`
		podYAML         = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\nspec:\n  containers:\n  - name: kubia\n    image: luksa/kubia\n"
		podBadYAML      = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  name: kubia\nspec:\n  foo: 1\n  containers:\n  - name: kubia\n    image: luksa/kubia\n"
		noTypeMetaJSON  = `{"metadata":{"name":"kubia"},"spec":{"containers":[{"name":"kubia","image":"luksa/kubia"}]}}`
		configMapJSON   = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kubia"}}`
		wrongVersionPod = `{"apiVersion":"v2","kind":"Pod","metadata":{"name":"kubia"}}`
	)

	tests := []struct {
		name            string
		contentType     string
		body            []byte
		into            runtime.Object
		fieldValidation string
		wantName        string
		wantWarnings    []string
		wantCode        int32
		wantMessage     string
	}{
		{name: "json", contentType: "application/json", body: []byte(podJSON), into: &corev1.Pod{}, fieldValidation: "Strict", wantName: "kubia"},
		{name: "json with charset", contentType: "application/json; charset=utf-8", body: []byte(podJSON), into: &corev1.Pod{}, wantName: "kubia"},
		{name: "no content type is json", body: []byte(podJSON), into: &corev1.Pod{}, wantName: "kubia"},
		{name: "yaml", contentType: "application/yaml", body: []byte(podYAML), into: &corev1.Pod{}, fieldValidation: "Strict", wantName: "kubia"},
		{name: "protobuf", contentType: "application/vnd.kubernetes.protobuf", body: protoBody, into: &corev1.Namespace{}, fieldValidation: "Strict", wantName: "proto"},
		{name: "apiVersion and kind default to the resource's", contentType: "application/json", body: []byte(noTypeMetaJSON), into: &corev1.Pod{}, fieldValidation: "Strict", wantName: "kubia"},

		{name: "unknown field strict", contentType: "application/json", body: []byte(podUnknownJSON), into: &corev1.Pod{}, fieldValidation: "Strict",
			wantCode: http.StatusBadRequest, wantMessage: `Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo"`},
		{name: "unknown field warn", contentType: "application/json", body: []byte(podUnknownJSON), into: &corev1.Pod{}, fieldValidation: "Warn",
			wantName: "kubia", wantWarnings: []string{`unknown field "spec.foo"`}},
		{name: "unknown field default is warn", contentType: "application/json", body: []byte(podUnknownJSON), into: &corev1.Pod{},
			wantName: "kubia", wantWarnings: []string{`unknown field "spec.foo"`}},
		{name: "unknown field ignore", contentType: "application/json", body: []byte(podUnknownJSON), into: &corev1.Pod{}, fieldValidation: "Ignore", wantName: "kubia"},
		{name: "duplicate field strict", contentType: "application/json", body: []byte(podDupJSON), into: &corev1.Pod{}, fieldValidation: "Strict",
			wantCode: http.StatusBadRequest, wantMessage: `Pod in version "v1" cannot be handled as a Pod: strict decoding error: duplicate field "metadata.name"`},
		{name: "duplicate field warn keeps the last value", contentType: "application/json", body: []byte(podDupJSON), into: &corev1.Pod{}, fieldValidation: "Warn",
			wantName: "kubia", wantWarnings: []string{`duplicate field "metadata.name"`}},
		{name: "duplicate field ignore", contentType: "application/json", body: []byte(podDupJSON), into: &corev1.Pod{}, fieldValidation: "Ignore", wantName: "kubia"},
		{name: "yaml duplicate and unknown strict", contentType: "application/yaml", body: []byte(podBadYAML), into: &corev1.Pod{}, fieldValidation: "Strict",
			wantCode: http.StatusBadRequest, wantMessage: "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: yaml: unmarshal errors:\n  line 5: key \"name\" already set in map, unknown field \"spec.foo\""},
		{name: "yaml duplicate and unknown warn, one warning a line", contentType: "application/yaml", body: []byte(podBadYAML), into: &corev1.Pod{}, fieldValidation: "Warn",
			wantName: "kubia", wantWarnings: []string{`line 5: key "name" already set in map`, `unknown field "spec.foo"`}},

		{name: "another kind", contentType: "application/json", body: []byte(configMapJSON), into: &corev1.Pod{}, fieldValidation: "Strict",
			wantCode: http.StatusBadRequest, wantMessage: `ConfigMap in version "v1" cannot be handled as a Pod: converting (v1.ConfigMap) to (v1.Pod): unknown conversion`},
		{name: "unknown version", contentType: "application/json", body: []byte(wrongVersionPod), into: &corev1.Pod{}, fieldValidation: "Strict",
			wantCode: http.StatusBadRequest, wantMessage: `Pod in version "v2" cannot be handled as a Pod: no kind "Pod" is registered for version "v2" in scheme "pkg/runtime/scheme.go:110"`},
		{name: "not json", contentType: "application/json", body: []byte(`{"metadata":`), into: &corev1.Pod{},
			wantCode: http.StatusBadRequest, wantMessage: `the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: unexpected end of JSON input ({"metadata":)`},
		{name: "unknown content type", contentType: "text/plain", body: []byte(podJSON), into: &corev1.Pod{},
			wantCode: http.StatusUnsupportedMediaType, wantMessage: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"},
		{name: "unknown directive", contentType: "application/json", body: []byte(podJSON), into: &corev1.Pod{}, fieldValidation: "Loud",
			wantCode: http.StatusBadRequest, wantMessage: `fieldValidation: Unsupported value: "Loud": supported values: "", "Ignore", "Strict", "Warn"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings, err := m.Decode(tt.contentType, tt.body, tt.into, tt.fieldValidation)
			if tt.wantCode != 0 {
				status := statusOf(t, err)
				if status.Code != tt.wantCode || status.Message != tt.wantMessage {
					t.Fatalf("got %d %q\nwant %d %q", status.Code, status.Message, tt.wantCode, tt.wantMessage)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !slices.Equal(warnings, tt.wantWarnings) {
				t.Errorf("warnings %q, want %q", warnings, tt.wantWarnings)
			}
			if name := tt.into.(metav1.Object).GetName(); name != tt.wantName {
				t.Errorf("decoded name %q, want %q", name, tt.wantName)
			}
		})
	}
}

func TestDecodeFillsTypedFields(t *testing.T) {
	m := newTestMutator(t)
	pod := &corev1.Pod{}
	body := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kubia\n  labels:\n    app: kubia\nspec:\n  containers:\n  - name: kubia\n    image: luksa/kubia\n    ports:\n    - containerPort: 8080\n"
	if _, err := m.Decode("application/yaml", []byte(body), pod, "Strict"); err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers
	if len(c) != 1 || c[0].Image != "luksa/kubia" || len(c[0].Ports) != 1 || c[0].Ports[0].ContainerPort != 8080 || pod.Labels["app"] != "kubia" {
		t.Fatalf("decoded pod %+v", pod)
	}
}

func TestManagerName(t *testing.T) {
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		fieldManager, userAgent, want string
	}{
		{"kubectl-create", "kubectl/v1.33.0 (linux/amd64) kubernetes/abcdef", "kubectl-create"},
		{"", "kubectl/v1.33.0 (linux/amd64) kubernetes/abcdef", "kubectl"},
		{"", "peapod-agent", "peapod-agent"},
		{"", "bad\x00agent/1.0", "badagent"},
		{"", string(long), string(long[:128])},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := ManagerName(tt.fieldManager, tt.userAgent); got != tt.want {
			t.Errorf("ManagerName(%q, %q) = %q, want %q", tt.fieldManager, tt.userAgent, got, tt.want)
		}
	}
}

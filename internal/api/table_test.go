package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectlTableAccept is the Accept header kubectl get sends.
const kubectlTableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

func TestTableList(t *testing.T) {
	ts := newTestServer(t)
	ts.createPod("t1", map[string]string{"app": "a"})
	ts.createPod("t2", nil)

	tests := []struct {
		name, query string
		wantObject  string // substring of the first row's object, "" = null
	}{
		{"metadata", "", `"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"t1"`},
		{"object", "?includeObject=Object", `"kind":"Pod","apiVersion":"v1","metadata":{"name":"t1"`},
		{"none", "?includeObject=None", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, header, body := ts.do(http.MethodGet, "/api/v1/namespaces/default/pods"+tc.query, "", kubectlTableAccept, "")
			if code != 200 || header.Get("Content-Type") != "application/json" {
				t.Fatalf("= %d %q %s", code, header.Get("Content-Type"), body)
			}
			var table struct {
				Kind       string                         `json:"kind"`
				APIVersion string                         `json:"apiVersion"`
				Metadata   metav1.ListMeta                `json:"metadata"`
				Columns    []metav1.TableColumnDefinition `json:"columnDefinitions"`
				Rows       []struct {
					Cells  []interface{}   `json:"cells"`
					Object json.RawMessage `json:"object"`
				} `json:"rows"`
			}
			if err := json.Unmarshal(body, &table); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" || table.Metadata.ResourceVersion == "" {
				t.Errorf("header: %s %s rv %q", table.Kind, table.APIVersion, table.Metadata.ResourceVersion)
			}
			if len(table.Columns) != 4 || table.Columns[3].Name != "Node" || table.Columns[3].Priority != 1 {
				t.Errorf("columns %+v", table.Columns)
			}
			if len(table.Rows) != 2 || table.Rows[0].Cells[0] != "t1" || table.Rows[0].Cells[1] != "Pending" || table.Rows[0].Cells[3] != "<none>" {
				t.Fatalf("rows %s", body)
			}
			object := string(table.Rows[0].Object)
			if tc.wantObject == "" && object != "null" || !strings.Contains(object, tc.wantObject) {
				t.Errorf("row object %s, want %s", object, tc.wantObject)
			}
		})
	}
}

func TestTableSingleObjectAndPartialMetadata(t *testing.T) {
	ts := newTestServer(t)
	pod := ts.createPod("one", map[string]string{"k": "v"})
	_, _, body := ts.do(http.MethodGet, "/api/v1/namespaces/default/pods/one", "", kubectlTableAccept, "")
	if !strings.HasPrefix(string(body), `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"`+pod.ResourceVersion+`"}`) {
		t.Errorf("single table %s", body)
	}
	_, _, body = ts.do(http.MethodGet, "/api/v1/namespaces/default/pods/one", "", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", "")
	if !strings.HasPrefix(string(body), `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"one"`) || strings.Contains(string(body), `"spec"`) {
		t.Errorf("partial %s", body)
	}
	_, _, body = ts.do(http.MethodGet, "/api/v1/namespaces/default/pods", "", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", "")
	if !strings.HasPrefix(string(body), `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":`) ||
		!strings.Contains(string(body), `"items":[{"kind":"PartialObjectMetadata"`) {
		t.Errorf("partial list %s", body)
	}
	_, _, body = ts.do(http.MethodGet, "/api/v1/namespaces/default/pods", "", "application/json", "")
	if !strings.HasPrefix(string(body), `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":`) {
		t.Errorf("plain list %s", body)
	}
	_, _, body = ts.do(http.MethodGet, "/api/v1/namespaces/default/pods/one?pretty=true", "", "", "")
	if !strings.HasPrefix(string(body), "{\n  \"kind\": \"Pod\",") {
		t.Errorf("pretty %s", body)
	}
}

func TestNegotiateOutput(t *testing.T) {
	tests := []struct {
		accept string
		target target
		want   outputKind
	}{
		{"", targetList, outputObject},
		{kubectlTableAccept, targetList, outputTable},
		{"application/json;as=Table;v=v2;g=meta.k8s.io, application/json", targetList, outputObject},
		{"application/json;as=Table;v=v1;g=other.io", targetObject, outputObject},
		{"application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json", targetList, outputObject},
		{"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", targetList, outputPartialList},
		{"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", targetWatch, outputPartial},
		{"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io", targetObject, outputTable},
		{"text/html;q=1,application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5", targetObject, outputTable},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest(http.MethodGet, "/api/v1/pods", nil)
		r.Header.Set("Accept", tc.accept)
		got, err := negotiateOutput(r, tc.target)
		if err != nil || got.kind != tc.want {
			t.Errorf("%q (%d) = %d %v, want %d", tc.accept, tc.target, got.kind, err, tc.want)
		}
	}
}

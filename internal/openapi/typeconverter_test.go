package openapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/builder3"
	builderutil "k8s.io/kube-openapi/pkg/builder3/util"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/schemaconv"
	"k8s.io/kube-openapi/pkg/validation/spec"
	smdschema "sigs.k8s.io/structured-merge-diff/v4/schema"
)

// TestConverterSchemasMatchV3Components checks that the type converter, built without the v3 documents,
// sees the schemas the documents serve: every kind the documents carry is there, every schema both have is
// the same once its references are wrapped as the documents wrap them, and the wrapping makes no
// difference to the structured-merge-diff schema.
func TestConverterSchemasMatchV3Components(t *testing.T) {
	d := newDocs(t)
	unwrapped := d.converterSchemas()
	ours := map[string]*spec.Schema{}
	for name, s := range unwrapped {
		ours[name] = builderutil.WrapRefs(s)
	}
	fromUnwrapped, err := schemaconv.ToSchemaFromOpenAPI(unwrapped, false)
	if err != nil {
		t.Fatal(err)
	}
	fromWrapped, err := schemaconv.ToSchemaFromOpenAPI(ours, false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sorted(fromUnwrapped), sorted(fromWrapped)) {
		t.Error("wrapping references changes the structured-merge-diff schema")
	}
	served := map[string]*spec.Schema{}
	for _, g := range d.groups {
		doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{g}, v3Config(d.namer))
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(served, doc.Components.Schemas)
	}
	kinds := 0
	for name, want := range served {
		got, ok := ours[name]
		if !ok {
			if _, isKind := want.Extensions[extensionGVK]; isKind {
				t.Errorf("the converter lacks kind %s", name)
			}
			continue
		}
		if _, isKind := want.Extensions[extensionGVK]; isKind {
			kinds++
		}
		gotJSON, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("schema %s differs from the v3 document's:\n got %s\nwant %s", name, gotJSON, wantJSON)
		}
	}
	if kinds < 8 {
		t.Errorf("only %d kinds compared; the served resources alone are 8", kinds)
	}
}

// TestConversionLeavesTheDocumentsUnbuilt checks that a write's conversion does not build the v3
// documents, and that the documents are served the same after it.
func TestConversionLeavesTheDocumentsUnbuilt(t *testing.T) {
	d := newDocs(t)
	before := get(newDocs(t), "/openapi/v3").Body.String()
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	if _, err := d.TypeConverter().ObjectToTyped(pod); err != nil {
		t.Fatal(err)
	}
	if d.v3 != nil {
		t.Error("converting an object built the v3 documents")
	}
	rec := get(d, "/openapi/v3")
	if rec.Code != http.StatusOK || rec.Body.String() != before {
		t.Errorf("v3 index after a conversion: %d, same as without one: %v", rec.Code, rec.Body.String() == before)
	}
}

// sorted orders the types and the fields of s by name: the conversion emits both in map order.
func sorted(s *smdschema.Schema) *smdschema.Schema {
	byName := func(a, b string) int { return strings.Compare(a, b) }
	var sortAtom func(a *smdschema.Atom)
	sortAtom = func(a *smdschema.Atom) {
		if a.List != nil {
			sortAtom(&a.List.ElementType.Inlined)
		}
		if a.Map == nil {
			return
		}
		slices.SortFunc(a.Map.Fields, func(x, y smdschema.StructField) int { return byName(x.Name, y.Name) })
		for i := range a.Map.Fields {
			sortAtom(&a.Map.Fields[i].Type.Inlined)
		}
		sortAtom(&a.Map.ElementType.Inlined)
	}
	slices.SortFunc(s.Types, func(x, y smdschema.TypeDef) int { return byName(x.Name, y.Name) })
	for i := range s.Types {
		sortAtom(&s.Types[i].Atom)
	}
	return s
}

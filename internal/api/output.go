package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod-dev/peapod/internal/registry"
)

// writeObject writes one object in the negotiated form: itself, a one-row Table or its
// PartialObjectMetadata.
func (h *handler) writeObject(w http.ResponseWriter, r *http.Request, res *registry.Resource, code int, obj runtime.Object, out output) {
	if out.protobuf && out.kind == outputObject {
		h.writeProtobuf(w, r, res, code, obj)
		return
	}
	data, err := encodeObject(res, obj, out, true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeRawJSON(w, r, code, data)
}

// writeProtobuf writes obj in Kubernetes' protobuf envelope, what client-go asks for first: cheaper to
// encode here and to decode there than JSON.
func (h *handler) writeProtobuf(w http.ResponseWriter, r *http.Request, res *registry.Resource, code int, obj runtime.Object) {
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	var buf bytes.Buffer
	if err := h.codec.serializer.Encode(obj, &buf); err != nil {
		writeError(w, r, apierrors.NewInternalError(fmt.Errorf("encode %s: %w", res.Kind, err)))
		return
	}
	w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// encodeObject encodes one object as out asks. withColumns=false leaves a Table's columnDefinitions out
// (watch events after the first).
func encodeObject(res *registry.Resource, obj runtime.Object, out output, withColumns bool) ([]byte, error) {
	switch out.kind {
	case outputTable:
		rv := ""
		if accessor, err := meta.Accessor(obj); err == nil {
			rv = accessor.GetResourceVersion()
		}
		return encodeTable(res, []runtime.Object{obj}, metav1.ListMeta{ResourceVersion: rv}, out, withColumns)
	case outputPartial:
		return encodePartial(obj, out)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("encode %s: %w", res.Kind, err))
	}
	return data, nil
}

// writeList writes a page of a collection as the typed list, a Table or a PartialObjectMetadataList.
func (h *handler) writeList(w http.ResponseWriter, r *http.Request, res *registry.Resource, list listResult, out output) {
	var data []byte
	var err error
	switch out.kind {
	case outputTable:
		data, err = encodeTable(res, list.items, list.meta, out, true)
	default:
		data, err = encodeList(res, list, out)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeRawJSON(w, r, http.StatusOK, data)
}

// encodeList streams `{"kind":"<Kind>List","apiVersion":...,"metadata":...,"items":[...]}` without building
// a typed list, so each item is encoded once.
func encodeList(res *registry.Resource, list listResult, out output) ([]byte, error) {
	kind, apiVersion := res.Kind+"List", res.GroupVersion.String()
	if out.kind == outputPartialList {
		kind, apiVersion = "PartialObjectMetadataList", out.metaVersion.String()
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"kind":%q,"apiVersion":%q,"metadata":`, kind, apiVersion)
	if err := appendJSON(&buf, list.meta); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	buf.WriteString(`,"items":[`)
	err := encodeItems(&buf, len(list.items), func(buf *bytes.Buffer, i int) error {
		item := list.items[i]
		if out.kind != outputPartialList {
			return appendJSON(buf, item)
		}
		data, err := encodePartial(item, out)
		if err != nil {
			return err
		}
		buf.Write(data)
		return nil
	})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("encode %s: %w", res.Kind, err))
	}
	buf.WriteString("]}")
	return buf.Bytes(), nil
}

// encodePartial encodes obj's metadata as a meta.k8s.io PartialObjectMetadata.
func encodePartial(obj runtime.Object, out output) ([]byte, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	partial := meta.AsPartialObjectMetadata(accessor)
	version := out.metaVersion
	if version.Empty() {
		version = metav1.SchemeGroupVersion
	}
	partial.GetObjectKind().SetGroupVersionKind(version.WithKind("PartialObjectMetadata"))
	data, err := json.Marshal(partial)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return data, nil
}

// encodeTable streams a meta.k8s.io Table: columns from the strategy, one row per object with the row
// object as includeObject asks (PartialObjectMetadata by default).
func encodeTable(res *registry.Resource, objs []runtime.Object, listMeta metav1.ListMeta, out output, withColumns bool) ([]byte, error) {
	version := out.metaVersion
	if version.Empty() {
		version = metav1.SchemeGroupVersion
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"kind":"Table","apiVersion":%q,"metadata":`, version.String())
	if err := appendJSON(&buf, listMeta); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	buf.WriteString(`,"columnDefinitions":`)
	var columns []metav1.TableColumnDefinition
	if withColumns {
		columns = res.Strategy.TableColumns()
	}
	if err := appendJSON(&buf, columns); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	buf.WriteString(`,"rows":[`)
	err := encodeItems(&buf, len(objs), func(buf *bytes.Buffer, i int) error {
		return appendTableRow(buf, res, objs[i], out.includeObject, version)
	})
	if err != nil {
		return nil, err
	}
	buf.WriteString("]}")
	return buf.Bytes(), nil
}

// appendTableRow writes obj's row: its cells and the row object includeObject asks for.
func appendTableRow(buf *bytes.Buffer, res *registry.Resource, obj runtime.Object, include metav1.IncludeObjectPolicy, version schema.GroupVersion) error {
	cells, err := res.Strategy.TableRow(obj)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("table row of %s: %w", res.Kind, err))
	}
	buf.WriteString(`{"cells":`)
	if err := appendJSON(buf, cells); err != nil {
		return apierrors.NewInternalError(fmt.Errorf("table row of %s: %w", res.Kind, err))
	}
	buf.WriteString(`,"object":`)
	switch include {
	case metav1.IncludeNone:
		buf.WriteString("null")
	case metav1.IncludeObject:
		if err := appendJSON(buf, obj); err != nil {
			return apierrors.NewInternalError(fmt.Errorf("encode %s: %w", res.Kind, err))
		}
	default:
		data, err := encodePartial(obj, output{metaVersion: version})
		if err != nil {
			return err
		}
		buf.Write(data)
	}
	buf.WriteByte('}')
	return nil
}

// appendJSON writes v's JSON to buf without the newline json.Encoder adds, so that every watch event stays
// on one line.
func appendJSON(buf *bytes.Buffer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf.Write(data)
	return nil
}

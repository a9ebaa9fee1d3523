package api

import (
	"bytes"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/storage"
)

// objectCodec turns objects into stored values and back: Kubernetes protobuf, resourceVersion cleared on
// the way in and set from the key's ModRevision on the way out, as kube-apiserver's etcd3 store does.
type objectCodec struct {
	serializer *protobuf.Serializer
}

func newObjectCodec(scheme *runtime.Scheme) objectCodec {
	return objectCodec{serializer: protobuf.NewSerializer(scheme, scheme)}
}

// encode returns the stored form of obj. obj's resourceVersion is left as it was.
func (c objectCodec) encode(res *registry.Resource, obj runtime.Object) ([]byte, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", res.Kind, err)
	}
	rv := accessor.GetResourceVersion()
	accessor.SetResourceVersion("")
	defer accessor.SetResourceVersion(rv)
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	var buf bytes.Buffer
	if err := c.serializer.Encode(obj, &buf); err != nil {
		return nil, fmt.Errorf("encode %s: %w", res.Kind, err)
	}
	return buf.Bytes(), nil
}

// decode returns the object stored in kv, with resourceVersion = kv.ModRevision.
func (c objectCodec) decode(res *registry.Resource, kv storage.KeyValue) (runtime.Object, error) {
	obj := res.New()
	if _, _, err := c.serializer.Decode(kv.Value, nil, obj); err != nil {
		return nil, fmt.Errorf("decode %s at %s: %w", res.Kind, kv.Key, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	if err := setResourceVersion(obj, kv.ModRevision); err != nil {
		return nil, err
	}
	return obj, nil
}

func setResourceVersion(obj runtime.Object, rev int64) error {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("set resourceVersion: %w", err)
	}
	accessor.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

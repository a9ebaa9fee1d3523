// Package mutate turns request bodies into typed objects the way kube-apiserver does: it decodes JSON, YAML
// and protobuf bodies under the fieldValidation directive (Strict, Warn, Ignore), applies the four patch
// types (JSON patch, merge patch, strategic merge patch, server-side apply) and keeps metadata.managedFields
// up to date. It knows nothing about storage: the API layer hands it the live object and stores the result.
package mutate

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"

	"github.com/peapod-dev/peapod/internal/registry"
)

// Mutator decodes request bodies and applies patches. It is safe for concurrent use.
type Mutator struct {
	scheme        *runtime.Scheme
	codecs        serializer.CodecFactory
	typeConverter managedfields.TypeConverter

	mu       sync.Mutex
	managers map[fieldManagerKey]*managedfields.FieldManager
	// emptyNodes holds, per kind, the field set of its empty object with inner nodes (createManagedFields).
	emptyNodes map[schema.GroupVersionKind]*fieldpath.Set
}

// fieldManagerKey identifies one FieldManager: kube-apiserver keeps a separate one per resource and
// subresource, because each has its own reset fields.
type fieldManagerKey struct {
	gvk         schema.GroupVersionKind
	subresource string
}

// New builds a Mutator. scheme has every served type; tc drives server-side apply and managedFields.
func New(scheme *runtime.Scheme, tc managedfields.TypeConverter) *Mutator {
	return &Mutator{
		scheme:        scheme,
		codecs:        serializer.NewCodecFactory(scheme),
		typeConverter: tc,
		managers:      map[fieldManagerKey]*managedfields.FieldManager{},
		emptyNodes:    map[schema.GroupVersionKind]*fieldpath.Set{},
	}
}

// ManagerName returns the field manager recorded for a write: the fieldManager query parameter when given,
// else the part of the User-Agent before the first "/", printable characters only and at most 128 bytes, as
// kube-apiserver does (kubectl 1.33 with no fieldManager becomes "kubectl").
func ManagerName(fieldManager, userAgent string) string {
	if fieldManager != "" {
		return fieldManager
	}
	product, _, _ := strings.Cut(userAgent, "/")
	var buf bytes.Buffer
	for _, r := range product {
		if !unicode.IsPrint(r) {
			continue
		}
		if buf.Len()+utf8.RuneLen(r) > metav1validation.FieldManagerMaxLength {
			break
		}
		buf.WriteRune(r)
	}
	return buf.String()
}

// fieldManager returns the cached FieldManager of res (or of its subresource), building it on first use.
func (m *Mutator) fieldManager(res *registry.Resource, subresource string) (*managedfields.FieldManager, error) {
	key := fieldManagerKey{gvk: res.GroupVersionKind(), subresource: subresource}
	m.mu.Lock()
	defer m.mu.Unlock()
	if fm, ok := m.managers[key]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(m.typeConverter, m.scheme, strategyDefaulter{res},
		m.scheme, key.gvk, res.GroupVersion, subresource, resetFields(res.GroupVersion, subresource))
	if err != nil {
		return nil, fmt.Errorf("field manager for %v %q: %w", key.gvk, subresource, err)
	}
	m.managers[key] = fm
	return fm, nil
}

// resetFields are the fields a write may not own because the strategy resets them: a main-resource write
// never sets status, a status write sets nothing but status (what Kubernetes' strategies declare through
// GetResetFields).
func resetFields(gv schema.GroupVersion, subresource string) map[fieldpath.APIVersion]fieldpath.Filter {
	var filter fieldpath.Filter
	if subresource == "status" {
		filter = fieldpath.NewIncludeMatcherFilter(fieldpath.MakePrefixMatcherOrDie("status"))
	} else {
		filter = fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))
	}
	return map[fieldpath.APIVersion]fieldpath.Filter{fieldpath.APIVersion(gv.String()): filter}
}

// strategyDefaulter defaults objects with the resource's strategy: the scheme has no defaulting functions
// (they live in k8s.io/kubernetes), so the registry is where Kubernetes' defaults come from.
type strategyDefaulter struct{ res *registry.Resource }

func (d strategyDefaulter) Default(obj runtime.Object) {
	if d.res.Strategy != nil {
		d.res.Strategy.Default(obj)
	}
}

// validationDirective returns the effective fieldValidation directive ("" means Warn since Kubernetes
// 1.27), or a 400 for an unknown one. Callers that parse Create/Update/PatchOptions get Kubernetes' 422
// earlier through metav1validation; this is the guard for those that do not.
func validationDirective(value string) (string, error) {
	if errs := metav1validation.ValidateFieldValidation(field.NewPath("fieldValidation"), value); len(errs) > 0 {
		return "", apierrors.NewBadRequest(errs.ToAggregate().Error())
	}
	if value == "" {
		return metav1.FieldValidationWarn, nil
	}
	return value, nil
}

// asStatusError turns err into the *apierrors.StatusError kube-apiserver would send: status errors pass
// through, anything else is a 500 with no reason (kubectl prints it as "Error from server: <message>").
func asStatusError(err error) error {
	if err == nil {
		return nil
	}
	if se, ok := err.(*apierrors.StatusError); ok {
		return se
	}
	if s, ok := err.(apierrors.APIStatus); ok {
		return &apierrors.StatusError{ErrStatus: s.Status()}
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusInternalServerError,
		Reason:  metav1.StatusReasonUnknown,
		Message: err.Error(),
	}}
}

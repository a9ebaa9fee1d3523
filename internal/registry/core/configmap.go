package core

import (
	"context"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
)

// maxDataSize is Kubernetes' limit on the summed size of a ConfigMap's or Secret's values (1 MiB).
const maxDataSize = 1 << 20

// ConfigMaps is the configmaps resource.
func ConfigMaps() *registry.Resource {
	return &registry.Resource{
		GroupVersion: groupVersion(),
		Kind:         "ConfigMap",
		Name:         "configmaps",
		SingularName: "configmap",
		ShortNames:   []string{"cm"},
		Namespaced:   true,
		Verbs:        allVerbs(),
		New:          func() runtime.Object { return &corev1.ConfigMap{} },
		NewList:      func() runtime.Object { return &corev1.ConfigMapList{} },
		Strategy:     ConfigMapStrategy{registry.DefaultStrategy{Namespaced: true}},
	}
}

// ConfigMapStrategy is Kubernetes' configmap strategy (pkg/registry/core/configmap).
type ConfigMapStrategy struct{ registry.DefaultStrategy }

// PrepareForCreate does nothing: Kubernetes tracks no generation for configmaps.
func (ConfigMapStrategy) PrepareForCreate(context.Context, runtime.Object) {}

func (s ConfigMapStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return typeError("ConfigMap", obj)
	}
	return s.validateConfigMap(cm)
}

// validateConfigMap checks keys (IsConfigMapKey), that no key is in both data and binaryData, and the 1 MiB
// limit on the values.
func (s ConfigMapStrategy) validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	allErrs := s.ValidateMeta(cm)
	total := 0
	for key, value := range cm.Data {
		keyPath := field.NewPath("data").Key(key)
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(keyPath, key, msg))
		}
		if _, dup := cm.BinaryData[key]; dup {
			allErrs = append(allErrs, field.Invalid(keyPath, key, "duplicate of key present in binaryData"))
		}
		total += len(value)
	}
	for key, value := range cm.BinaryData {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("binaryData").Key(key), key, msg))
		}
		total += len(value)
	}
	if total > maxDataSize {
		// Kubernetes reports the whole object (an empty path) as too long.
		allErrs = append(allErrs, field.TooLong(field.NewPath(""), "", maxDataSize))
	}
	return allErrs
}

// ValidateUpdate adds the immutable rule: once immutable is true, data, binaryData and immutable stay.
func (s ConfigMapStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	cm, ok1 := obj.(*corev1.ConfigMap)
	oldCM, ok2 := old.(*corev1.ConfigMap)
	if !ok1 || !ok2 {
		return typeError("ConfigMap", obj)
	}
	allErrs := s.ValidateMetaUpdate(obj, old)
	if isTrue(oldCM.Immutable) {
		if !isTrue(cm.Immutable) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !reflect.DeepEqual(cm.Data, oldCM.Data) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
		if !reflect.DeepEqual(cm.BinaryData, oldCM.BinaryData) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("binaryData"), "field is immutable when `immutable` is set"))
		}
	}
	return append(allErrs, s.validateConfigMap(cm)...)
}

func isTrue(b *bool) bool { return b != nil && *b }

func (ConfigMapStrategy) TableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Data", Type: "string", Description: corev1.ConfigMap{}.SwaggerDoc()["data"]},
		ageColumn(),
	}
}

func (ConfigMapStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil, unexpectedType("ConfigMap", obj)
	}
	return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), registry.Age(cm.CreationTimestamp)}, nil
}

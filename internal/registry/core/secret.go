package core

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
)

// Secrets is the secrets resource (no short name, as in Kubernetes).
func Secrets() *registry.Resource {
	return &registry.Resource{
		GroupVersion: groupVersion(),
		Kind:         "Secret",
		Name:         "secrets",
		SingularName: "secret",
		Namespaced:   true,
		Verbs:        allVerbs(),
		New:          func() runtime.Object { return &corev1.Secret{} },
		NewList:      func() runtime.Object { return &corev1.SecretList{} },
		Strategy:     SecretStrategy{registry.DefaultStrategy{Namespaced: true}},
	}
}

// SecretStrategy is Kubernetes' secret strategy (pkg/registry/core/secret).
type SecretStrategy struct{ registry.DefaultStrategy }

// Default sets type Opaque and folds stringData into data, as Kubernetes' v1 defaulting and conversion do:
// stringData is write-only and never stored; on a shared key it wins over data.
func (SecretStrategy) Default(obj runtime.Object) {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	if secret.Type == "" {
		secret.Type = corev1.SecretTypeOpaque
	}
	if len(secret.StringData) > 0 {
		if secret.Data == nil {
			secret.Data = make(map[string][]byte, len(secret.StringData))
		}
		for k, v := range secret.StringData {
			secret.Data[k] = []byte(v)
		}
	}
	secret.StringData = nil
}

// PrepareForCreate does nothing: Kubernetes tracks no generation for secrets.
func (SecretStrategy) PrepareForCreate(context.Context, runtime.Object) {}

// PrepareForUpdate keeps the old type when the update leaves it empty.
func (SecretStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	secret, ok1 := obj.(*corev1.Secret)
	oldSecret, ok2 := old.(*corev1.Secret)
	if ok1 && ok2 && secret.Type == "" {
		secret.Type = oldSecret.Type
	}
}

func (s SecretStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return typeError("Secret", obj)
	}
	return s.validateSecret(secret)
}

// validateSecret checks keys, the 1 MiB limit and the keys each built-in secret type requires.
func (s SecretStrategy) validateSecret(secret *corev1.Secret) field.ErrorList {
	allErrs := s.ValidateMeta(secret)
	dataPath := field.NewPath("data")
	total := 0
	for key, value := range secret.Data {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), key, msg))
		}
		total += len(value)
	}
	if total > maxDataSize {
		allErrs = append(allErrs, field.TooLong(dataPath, "", maxDataSize))
	}

	switch secret.Type {
	case corev1.SecretTypeServiceAccountToken:
		if secret.Annotations[corev1.ServiceAccountNameKey] == "" {
			allErrs = append(allErrs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		allErrs = append(allErrs, validateJSONKey(secret.Data, corev1.DockerConfigKey, dataPath)...)
	case corev1.SecretTypeDockerConfigJson:
		allErrs = append(allErrs, validateJSONKey(secret.Data, corev1.DockerConfigJsonKey, dataPath)...)
	case corev1.SecretTypeBasicAuth:
		_, hasUser := secret.Data[corev1.BasicAuthUsernameKey]
		_, hasPassword := secret.Data[corev1.BasicAuthPasswordKey]
		// Either may be empty, but one of them must be present.
		if !hasUser && !hasPassword {
			allErrs = append(allErrs,
				field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""),
				field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(secret.Data[corev1.SSHAuthPrivateKey]) == 0 {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		if _, ok := secret.Data[corev1.TLSCertKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSCertKey), ""))
		}
		if _, ok := secret.Data[corev1.TLSPrivateKeyKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSPrivateKeyKey), ""))
		}
	}
	return allErrs
}

// validateJSONKey requires data[key] to be present and a JSON object, without echoing the secret.
func validateJSONKey(data map[string][]byte, key string, dataPath *field.Path) field.ErrorList {
	raw, ok := data[key]
	if !ok {
		return field.ErrorList{field.Required(dataPath.Key(key), "")}
	}
	if err := json.Unmarshal(raw, &map[string]interface{}{}); err != nil {
		return field.ErrorList{field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error())}
	}
	return nil
}

// ValidateUpdate adds the type's immutability and the immutable rule for data.
func (s SecretStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	secret, ok1 := obj.(*corev1.Secret)
	oldSecret, ok2 := old.(*corev1.Secret)
	if !ok1 || !ok2 {
		return typeError("Secret", obj)
	}
	allErrs := s.ValidateMetaUpdate(obj, old)
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(secret.Type, oldSecret.Type, field.NewPath("type"))...)
	if isTrue(oldSecret.Immutable) {
		if !isTrue(secret.Immutable) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !reflect.DeepEqual(secret.Data, oldSecret.Data) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return append(allErrs, s.validateSecret(secret)...)
}

// Warnings: a kubernetes.io/tls secret whose certificate and key do not form a pair.
func (SecretStrategy) Warnings(_ context.Context, obj, _ runtime.Object) []string {
	secret, ok := obj.(*corev1.Secret)
	if !ok || secret.Type != corev1.SecretTypeTLS {
		return nil
	}
	if _, err := tls.X509KeyPair(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]); err != nil {
		return []string{err.Error()}
	}
	return nil
}

func (SecretStrategy) TableColumns() []metav1.TableColumnDefinition {
	doc := corev1.Secret{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Type", Type: "string", Description: doc["type"]},
		{Name: "Data", Type: "string", Description: doc["data"]},
		ageColumn(),
	}
}

func (SecretStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return nil, unexpectedType("Secret", obj)
	}
	return []interface{}{secret.Name, string(secret.Type), int64(len(secret.Data)), registry.Age(secret.CreationTimestamp)}, nil
}

// SelectableFields adds type.
func (SecretStrategy) SelectableFields(obj runtime.Object) fields.Set {
	set := registry.MetaFields(obj)
	if secret, ok := obj.(*corev1.Secret); ok {
		set["type"] = string(secret.Type)
	}
	return set
}

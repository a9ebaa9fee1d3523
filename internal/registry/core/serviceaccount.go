package core

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
)

// enforceMountableSecretsAnnotation limited a service account's pods to its listed secrets; deprecated.
const enforceMountableSecretsAnnotation = "kubernetes.io/enforce-mountable-secrets"

// ServiceAccounts is the serviceaccounts resource.
func ServiceAccounts() *registry.Resource {
	return &registry.Resource{
		GroupVersion: groupVersion(),
		Kind:         "ServiceAccount",
		Name:         "serviceaccounts",
		SingularName: "serviceaccount",
		ShortNames:   []string{"sa"},
		Namespaced:   true,
		Verbs:        allVerbs(),
		KindSubresources: []registry.KindSubresource{{
			Name: "token", Kind: authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), Verbs: []string{"create"},
		}},
		New:     func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
		Strategy: ServiceAccountStrategy{registry.DefaultStrategy{
			Namespaced: true, NameValidator: apivalidation.ValidateServiceAccountName,
		}},
	}
}

// ServiceAccountStrategy is Kubernetes' serviceaccount strategy (pkg/registry/core/serviceaccount).
type ServiceAccountStrategy struct{ registry.DefaultStrategy }

// PrepareForCreate reduces secret references to their names. No generation, as in Kubernetes.
func (ServiceAccountStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	cleanSecretReferences(obj)
}

// PrepareForUpdate reduces secret references to their names.
func (ServiceAccountStrategy) PrepareForUpdate(_ context.Context, obj, _ runtime.Object) {
	cleanSecretReferences(obj)
}

// cleanSecretReferences keeps only the name of each secret reference: the namespace is the service
// account's and nothing else is meaningful.
func cleanSecretReferences(obj runtime.Object) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return
	}
	for i, ref := range sa.Secrets {
		sa.Secrets[i] = corev1.ObjectReference{Name: ref.Name}
	}
}

// ValidateUpdate validates the new object's metadata as on create, besides the update rules.
func (s ServiceAccountStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return append(s.ValidateMetaUpdate(obj, old), s.ValidateMeta(obj)...)
}

// Warnings flags the deprecated enforce-mountable-secrets annotation when it is newly set.
func (ServiceAccountStrategy) Warnings(_ context.Context, obj, old runtime.Object) []string {
	if oldSA, ok := old.(*corev1.ServiceAccount); ok {
		if _, had := oldSA.Annotations[enforceMountableSecretsAnnotation]; had {
			return nil
		}
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil
	}
	if _, has := sa.Annotations[enforceMountableSecretsAnnotation]; has {
		return []string{fmt.Sprintf("metadata.annotations[%s]: deprecated in v1.32+; prefer separate namespaces to isolate access to mounted secrets", enforceMountableSecretsAnnotation)}
	}
	return nil
}

func (ServiceAccountStrategy) TableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]},
		ageColumn(),
	}
}

func (ServiceAccountStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil, unexpectedType("ServiceAccount", obj)
	}
	return []interface{}{sa.Name, int64(len(sa.Secrets)), registry.Age(sa.CreationTimestamp)}, nil
}

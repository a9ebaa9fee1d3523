// Package core holds the rules of the core/v1 resources other than pods: namespaces, nodes, events,
// configmaps, secrets and serviceaccounts. Each file pairs a constructor returning the resource as
// kube-apiserver's discovery lists it with a Strategy that defaults, validates, prints and selects the way
// Kubernetes' own registry (pkg/registry/core/...) and printers (pkg/printers/internalversion) do.
package core

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// groupVersion is the legacy core group, served under /api/v1.
func groupVersion() schema.GroupVersion { return schema.GroupVersion{Version: "v1"} }

// allVerbs are the verbs of a plain core resource as discovery lists them (sorted, as kube-apiserver does).
func allVerbs() []string {
	return []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
}

// nameColumn and ageColumn are the columns every Kubernetes printer starts and (usually) ends with.
func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
}

func ageColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
}

// unexpectedType is the error a strategy returns when handed an object of another kind.
func unexpectedType(want string, obj runtime.Object) error {
	return fmt.Errorf("expected *v1.%s, got %T", want, obj)
}

// typeError is the field error a validation returns when handed an object of another kind.
func typeError(want string, obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, unexpectedType(want, obj))}
}

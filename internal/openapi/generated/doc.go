// Package generated holds the OpenAPI definitions of the k8s.io/api and apimachinery types peapod serves,
// written by kube-openapi's openapi-gen (hack/gen-openapi.sh). Do not edit zz_generated.openapi.go by hand.
package generated

// Package serviceaccount gives every active namespace a "default" ServiceAccount, creating it when the
// namespace appears and again whenever it is deleted, as kube-controller-manager's serviceaccounts
// controller does. Terminating namespaces are left alone.
package serviceaccount

import (
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod-dev/peapod/internal/controller/perns"
	"github.com/peapod-dev/peapod/internal/kube"
)

// DefaultName is the ServiceAccount every namespace gets, and pods use when they name none.
const DefaultName = "default"

// New returns a controller fed by the namespace and ServiceAccount informers; it creates
// ServiceAccounts through client. An existing default ServiceAccount is never changed: its secrets
// and settings belong to the user.
func New(client kube.Interface, namespaces kube.Informer[*corev1.Namespace],
	serviceAccounts kube.Informer[*corev1.ServiceAccount], logger *slog.Logger) (*perns.Controller[*corev1.ServiceAccount], error) {
	return perns.New(perns.Config[*corev1.ServiceAccount]{
		Name:       "serviceaccount",
		ObjectName: DefaultName,
		Desired: func(namespace string) *corev1.ServiceAccount {
			return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: namespace}}
		},
		Client: func(namespace string) perns.Writer[*corev1.ServiceAccount] {
			return client.ServiceAccounts(namespace)
		},
		Namespaces: namespaces,
		Objects:    serviceAccounts.Informer(),
		Logger:     logger,
	})
}

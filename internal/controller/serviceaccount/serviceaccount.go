// Package serviceaccount gives every active namespace a "default" ServiceAccount, creating it when the
// namespace appears and again whenever it is deleted, as kube-controller-manager's serviceaccounts
// controller does. Terminating namespaces are left alone.
package serviceaccount

import (
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/peapod-dev/peapod/internal/controller/perns"
)

// DefaultName is the ServiceAccount every namespace gets, and pods use when they name none.
const DefaultName = "default"

// New returns a controller fed by the namespace and ServiceAccount informers; it creates
// ServiceAccounts through client. An existing default ServiceAccount is never changed: its secrets
// and settings belong to the user.
func New(client kubernetes.Interface, namespaces coreinformers.NamespaceInformer,
	serviceAccounts coreinformers.ServiceAccountInformer, logger *slog.Logger) (*perns.Controller[*corev1.ServiceAccount], error) {
	return perns.New(perns.Config[*corev1.ServiceAccount]{
		Name:       "serviceaccount",
		ObjectName: DefaultName,
		Desired: func(namespace string) *corev1.ServiceAccount {
			return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: namespace}}
		},
		Client: func(namespace string) perns.Writer[*corev1.ServiceAccount] {
			return client.CoreV1().ServiceAccounts(namespace)
		},
		Namespaces: namespaces,
		Objects:    serviceAccounts.Informer(),
		Logger:     logger,
	})
}

// Package rootca publishes the cluster CA to every active namespace as the ConfigMap
// "kube-root-ca.crt", where pods' kube-api-access volumes read it, as kube-controller-manager's
// root-ca-cert-publisher does: the ConfigMap is created when missing and written back when its data or
// description annotation is changed. Terminating namespaces are left alone.
package rootca

import (
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod-dev/peapod/internal/controller/perns"
	"github.com/peapod-dev/peapod/internal/kube"
)

const (
	// ConfigMapName is the ConfigMap published in every namespace.
	ConfigMapName = "kube-root-ca.crt"
	// DataKey holds the CA bundle in PEM.
	DataKey = "ca.crt"
	// DescriptionAnnotation and Description tell users what the ConfigMap is for, in Kubernetes' words.
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// New returns a publisher of caPEM fed by the namespace and ConfigMap informers; it writes
// ConfigMaps through client.
func New(client kube.Interface, caPEM []byte, namespaces kube.Informer[*corev1.Namespace],
	configMaps kube.Informer[*corev1.ConfigMap], logger *slog.Logger) (*perns.Controller[*corev1.ConfigMap], error) {
	return perns.New(perns.Config[*corev1.ConfigMap]{
		Name:       "root_ca_cert_publisher",
		ObjectName: ConfigMapName,
		Desired: func(namespace string) *corev1.ConfigMap {
			return &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{
					Name: ConfigMapName, Namespace: namespace,
					Annotations: map[string]string{DescriptionAnnotation: Description},
				},
				Data: map[string]string{DataKey: string(caPEM)},
			}
		},
		Restore: restore,
		Client: func(namespace string) perns.Writer[*corev1.ConfigMap] {
			return client.ConfigMaps(namespace)
		},
		Namespaces: namespaces,
		Objects:    configMaps.Informer(),
		Logger:     logger,
	})
}

// restore returns existing with the desired data and a description annotation, and whether that
// differs from existing. Like Kubernetes it accepts any non-empty description and keeps labels,
// other annotations and binaryData.
func restore(existing, desired *corev1.ConfigMap) (*corev1.ConfigMap, bool) {
	if maps.Equal(existing.Data, desired.Data) && existing.Annotations[DescriptionAnnotation] != "" {
		return existing, false
	}
	// The informer's copy is shared and must not be modified.
	restored := existing.DeepCopy()
	restored.Data = maps.Clone(desired.Data)
	if restored.Annotations == nil {
		restored.Annotations = map[string]string{}
	}
	restored.Annotations[DescriptionAnnotation] = desired.Annotations[DescriptionAnnotation]
	return restored, true
}

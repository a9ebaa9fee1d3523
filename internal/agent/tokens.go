package agent

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/internal/agent/volume"
)

// tokenFunc mints tokens bound to pod for its projected volumes, through the TokenRequest API as the
// kubelet does.
func (w *podWorker) tokenFunc(pod *corev1.Pod) volume.TokenFunc {
	return func(ctx context.Context, audience string, expirationSeconds int64) (string, error) {
		req := &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{
				ExpirationSeconds: ptr.To(expirationSeconds),
				BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			},
		}
		if audience != "" {
			req.Spec.Audiences = []string{audience}
		}
		sa := pod.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		out, err := w.a.client.ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
		if err != nil {
			return "", fmt.Errorf("request service account token: %w", err)
		}
		return out.Status.Token, nil
	}
}

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/internal/agent/volume"
)

// tokenClient mints service account tokens through the TokenRequest API (serviceaccounts/token), as the
// kubelet does for projected serviceAccountToken volumes.
type tokenClient struct {
	host string
	http *http.Client
}

func newTokenClient(config *rest.Config) (*tokenClient, error) {
	httpClient, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, fmt.Errorf("token client: %w", err)
	}
	return &tokenClient{host: config.Host, http: httpClient}, nil
}

func (t *tokenClient) create(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("%s/api/v1/namespaces/%s/serviceaccounts/%s/token", t.host, url.PathEscape(namespace), url.PathEscape(serviceAccount))
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := t.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("request service account token: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("request service account token: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		var status metav1.Status
		if json.Unmarshal(data, &status) == nil && status.Message != "" {
			return nil, fmt.Errorf("request service account token: %s", status.Message)
		}
		return nil, fmt.Errorf("request service account token: HTTP %d", resp.StatusCode)
	}
	var out authenticationv1.TokenRequest
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("request service account token: %w", err)
	}
	return &out, nil
}

// tokenFunc mints tokens bound to pod for its projected volumes.
func (w *podWorker) tokenFunc(pod *corev1.Pod) volume.TokenFunc {
	return func(ctx context.Context, audience string, expirationSeconds int64) (string, error) {
		if w.a.tokens == nil {
			return "", fmt.Errorf("no token client")
		}
		req := &authenticationv1.TokenRequest{
			TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenRequest"},
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
		out, err := w.a.tokens.create(ctx, pod.Namespace, sa, req)
		if err != nil {
			return "", err
		}
		return out.Status.Token, nil
	}
}

package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/internal/pki/serviceaccount"
	"github.com/peapod-dev/peapod/internal/storage/bolt"
)

// withTokens serves the real registry with a service-account token issuer.
func withTokens(t testing.TB) serverOption {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := serviceaccount.New(key, serviceaccount.DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	real := withRealRegistry(t)
	return func(c *Config, o *bolt.Options) {
		real(c, o)
		c.ServiceAccountTokens = issuer
	}
}

// tokenFixture is a server with a service account "builder", a pod "web" running as it on node "node1",
// and a secret "s".
type tokenFixture struct {
	*testServer
	sa     *corev1.ServiceAccount
	pod    *corev1.Pod
	node   *corev1.Node
	secret *corev1.Secret
}

func newTokenFixture(t *testing.T) *tokenFixture {
	t.Helper()
	ts := newTestServer(t, withTokens(t))
	ctx := context.Background()
	f := &tokenFixture{testServer: ts}
	var err error
	if f.sa, err = ts.client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.node, err = ts.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := testPod("web", nil)
	pod.Spec.ServiceAccountName = "builder"
	pod.Spec.NodeName = "node1"
	if f.pod, err = ts.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.secret, err = ts.client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *tokenFixture) request(spec authenticationv1.TokenRequestSpec) (*authenticationv1.TokenRequest, error) {
	return f.client.CoreV1().ServiceAccounts("default").CreateToken(context.Background(), "builder",
		&authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
}

// jwtClaims decodes a token's payload without verifying it.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenRequest(t *testing.T) {
	f := newTokenFixture(t)
	podRef := func(uid types.UID) *authenticationv1.BoundObjectReference {
		return &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: uid}
	}
	tests := []struct {
		name     string
		spec     authenticationv1.TokenRequestSpec
		wantCode int32
		wantMsg  string
		check    func(t *testing.T, tr *authenticationv1.TokenRequest, claims map[string]any)
	}{
		{name: "defaults", check: func(t *testing.T, tr *authenticationv1.TokenRequest, c map[string]any) {
			if tr.Name != "builder" || tr.Namespace != "default" || !reflect.DeepEqual(tr.Spec.Audiences, []string{serviceaccount.DefaultIssuer}) ||
				*tr.Spec.ExpirationSeconds != 3600 {
				t.Errorf("request %+v", tr)
			}
			if d := time.Until(tr.Status.ExpirationTimestamp.Time); d < 59*time.Minute || d > 61*time.Minute {
				t.Errorf("expires in %v", d)
			}
			want := map[string]any{"namespace": "default", "serviceaccount": map[string]any{"name": "builder", "uid": string(f.sa.UID)}}
			if !reflect.DeepEqual(c["kubernetes.io"], want) || c["sub"] != "system:serviceaccount:default:builder" {
				t.Errorf("claims %v", c)
			}
			if int64(c["exp"].(float64)) != tr.Status.ExpirationTimestamp.Unix() {
				t.Errorf("exp %v, status %v", c["exp"], tr.Status.ExpirationTimestamp)
			}
		}},
		{name: "audiences and expiration", spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: ptr.To[int64](600)},
			check: func(t *testing.T, tr *authenticationv1.TokenRequest, c map[string]any) {
				if !reflect.DeepEqual(c["aud"], []any{"vault"}) || int64(c["exp"].(float64)-c["iat"].(float64)) != 600 {
					t.Errorf("claims %v", c)
				}
			}},
		{name: "bound to the pod", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef(f.pod.UID)},
			check: func(t *testing.T, tr *authenticationv1.TokenRequest, c map[string]any) {
				k := c["kubernetes.io"].(map[string]any)
				if !reflect.DeepEqual(k["pod"], map[string]any{"name": "web", "uid": string(f.pod.UID)}) ||
					!reflect.DeepEqual(k["node"], map[string]any{"name": "node1", "uid": string(f.node.UID)}) {
					t.Errorf("kubernetes.io %v", k)
				}
			}},
		{name: "kubelet's 3607 seconds are extended", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef(""), ExpirationSeconds: ptr.To[int64](3607)},
			check: func(t *testing.T, tr *authenticationv1.TokenRequest, c map[string]any) {
				lifetime := int64(c["exp"].(float64) - c["iat"].(float64))
				warnAfter := int64(c["kubernetes.io"].(map[string]any)["warnafter"].(float64))
				if lifetime != 365*24*3600 || warnAfter != tr.Status.ExpirationTimestamp.Unix() {
					t.Errorf("lifetime %d, warnafter %d, status %v", lifetime, warnAfter, tr.Status.ExpirationTimestamp)
				}
			}},
		{name: "bound to the secret", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "s"}},
			check: func(t *testing.T, tr *authenticationv1.TokenRequest, c map[string]any) {
				if k := c["kubernetes.io"].(map[string]any); !reflect.DeepEqual(k["secret"], map[string]any{"name": "s", "uid": string(f.secret.UID)}) {
					t.Errorf("kubernetes.io %v", k)
				}
			}},
		{name: "too short", spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)}, wantCode: 422,
			wantMsg: `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes`},
		{name: "pod uid mismatch", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef("other")}, wantCode: 409,
			wantMsg: `Operation cannot be fulfilled on Pod "web": the UID in the bound object reference (other) does not match the UID in record. The object might have been deleted and then recreated`},
		{name: "missing pod", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "nope"}},
			wantCode: 404, wantMsg: `pods "nope" not found`},
		{name: "other kind", spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Name: "d"}},
			wantCode: 400, wantMsg: "cannot bind token to object of type apps/v1, Kind=Deployment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := f.request(tc.spec)
			if tc.wantCode != 0 {
				var status apierrors.APIStatus
				if !errors.As(err, &status) || status.Status().Code != tc.wantCode || status.Status().Message != tc.wantMsg {
					t.Fatalf("error %v, want %d %q", err, tc.wantCode, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tr, jwtClaims(t, tr.Status.Token))
		})
	}
}

func TestTokenRequestErrors(t *testing.T) {
	f := newTokenFixture(t)
	ctx := context.Background()
	other := testPod("other", nil)
	other.Spec.ServiceAccountName = "default"
	if _, err := f.client.CoreV1().Pods("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sa string
		req      authenticationv1.TokenRequest
		wantCode int32
		wantMsg  string
	}{
		{name: "missing service account", sa: "nope", wantCode: 404, wantMsg: `serviceaccounts "nope" not found`},
		{name: "name mismatch", sa: "builder", req: authenticationv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, wantCode: 422,
			wantMsg: `TokenRequest.authentication.k8s.io "builder" is invalid: metadata.name: Invalid value: "x": must match the service account name if specified`},
		{name: "pod of another service account", sa: "builder", wantCode: 400,
			req:     authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "other"}}},
			wantMsg: `cannot bind token for serviceaccount "builder" to pod running with different serviceaccount name.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.CoreV1().ServiceAccounts("default").CreateToken(ctx, tc.sa, &tc.req, metav1.CreateOptions{})
			var status apierrors.APIStatus
			if !errors.As(err, &status) || status.Status().Code != tc.wantCode || status.Status().Message != tc.wantMsg {
				t.Fatalf("error %v, want %d %q", err, tc.wantCode, tc.wantMsg)
			}
		})
	}
	if code, _, body := f.do(http.MethodGet, "/api/v1/namespaces/default/serviceaccounts/builder/token", "", "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET token: %d %s", code, body)
	}
}

func TestTokenDiscovery(t *testing.T) {
	f := newTokenFixture(t)
	code, _, body := f.do(http.MethodGet, "/api/v1", "", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1: %d", code)
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	want := metav1.APIResource{Name: "serviceaccounts/token", Namespaced: true, Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest", Verbs: []string{"create"}}
	for _, r := range list.APIResources {
		if r.Name == want.Name {
			if !reflect.DeepEqual(r, want) {
				t.Errorf("discovery %+v, want %+v", r, want)
			}
			return
		}
	}
	t.Errorf("serviceaccounts/token not in discovery")
}

// TestServiceAccountAuthentication: a token authenticates while what it names exists, and not after.
func TestServiceAccountAuthentication(t *testing.T) {
	f := newTokenFixture(t)
	ctx := context.Background()
	get := func(token string) int {
		req, err := http.NewRequest(http.MethodGet, f.url+"/api/v1/namespaces/default/pods", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	mint := func(spec authenticationv1.TokenRequestSpec) string {
		tr, err := f.request(spec)
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	plain := mint(authenticationv1.TokenRequestSpec{})
	podBound := mint(authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web"}})
	otherAudience := mint(authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})

	if code := get(plain); code != http.StatusOK {
		t.Errorf("service-account token: %d", code)
	}
	if code := get(podBound); code != http.StatusOK {
		t.Errorf("pod-bound token: %d", code)
	}
	if code := get(otherAudience); code != http.StatusUnauthorized {
		t.Errorf("token for another audience: %d", code)
	}
	if code := get(plain[:len(plain)-4] + "AAAA"); code != http.StatusUnauthorized {
		t.Errorf("token with a broken signature: %d", code)
	}
	if _, err := f.handler.authenticateServiceAccount(ctx, plain, time.Now().Add(2*time.Hour)); err == nil {
		t.Error("expired token authenticated")
	}
	user, err := f.handler.authenticateServiceAccount(ctx, plain, time.Now())
	if err != nil || user != "system:serviceaccount:default:builder" {
		t.Errorf("user %q, %v", user, err)
	}

	if err := f.client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if code := get(podBound); code != http.StatusUnauthorized {
		t.Errorf("token bound to a deleted pod: %d", code)
	}
	if code := get(plain); code != http.StatusOK {
		t.Errorf("unbound token after the pod's deletion: %d", code)
	}
	if err := f.client.CoreV1().ServiceAccounts("default").Delete(ctx, "builder", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := get(plain); code != http.StatusUnauthorized {
		t.Errorf("token of a recreated service account: %d", code)
	}
}

func TestKubectlCreateToken(t *testing.T) {
	for _, version := range kubectlVersions {
		t.Run(version, func(t *testing.T) {
			f := newTokenFixture(t)
			k := newKubectl(t, f.testServer, version)
			out := strings.TrimSpace(k.must([]string{"create", "token", "builder"}))
			if _, err := f.handler.authenticateServiceAccount(context.Background(), out, time.Now()); err != nil {
				t.Errorf("kubectl create token printed %q: %v", out, err)
			}
			out = strings.TrimSpace(k.must([]string{"create", "token", "builder", "--audience", "vault", "--duration", "20m",
				"--bound-object-kind", "Pod", "--bound-object-name", "web", "--bound-object-uid", string(f.pod.UID)}))
			c := jwtClaims(t, out)
			if int64(c["exp"].(float64)-c["iat"].(float64)) != 1200 || !reflect.DeepEqual(c["aud"], []any{"vault"}) {
				t.Errorf("claims %v", c)
			}
			if out, ok := k.run("create", "token", "builder", "--duration", "1m"); ok ||
				!strings.Contains(out, `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes`) {
				t.Errorf("--duration 1m: %s", out)
			}
			if out, ok := k.run("create", "token", "nope"); ok || !strings.Contains(out, `serviceaccounts "nope" not found`) {
				t.Errorf("missing service account: %s", out)
			}
		})
	}
}

// BenchmarkServiceAccountAuthentication is the cost a service-account token adds to a request: the
// signature check and the lookups of the service account and the bound pod.
func BenchmarkServiceAccountAuthentication(b *testing.B) {
	ts := newTestServer(b, withTokens(b))
	ctx := context.Background()
	sa, err := ts.client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	pod := testPod("web", nil)
	pod.Spec.ServiceAccountName = sa.Name
	if _, err := ts.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	tr, err := ts.client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "builder", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web"}},
	}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ts.handler.authenticateServiceAccount(ctx, tr.Status.Token, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

package volume

import (
	"context"
	"errors"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tokenCalls records what a projected volume asked the agent's token function for.
type tokenCalls struct {
	audiences   []string
	expirations []int64
	err         error
}

func (c *tokenCalls) token(_ context.Context, audience string, expirationSeconds int64) (string, error) {
	c.audiences = append(c.audiences, audience)
	c.expirations = append(c.expirations, expirationSeconds)
	if c.err != nil {
		return "", c.err
	}
	return fmt.Sprintf("token(%s,%d)", audience, expirationSeconds), nil
}

func TestProjectedPayload(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	cm := func(name string, items ...v1.KeyToPath) v1.VolumeProjection {
		return v1.VolumeProjection{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: name}, Items: items}}
	}
	secret := func(name string, items ...v1.KeyToPath) v1.VolumeProjection {
		return v1.VolumeProjection{Secret: &v1.SecretProjection{LocalObjectReference: v1.LocalObjectReference{Name: name}, Items: items}}
	}
	token := func(path, audience string, expiration *int64) v1.VolumeProjection {
		return v1.VolumeProjection{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: path, Audience: audience, ExpirationSeconds: expiration}}
	}
	tests := []struct {
		name            string
		src             v1.ProjectedVolumeSource
		want            map[string]File
		wantErr         string
		wantAudiences   []string
		wantExpirations []int64
	}{
		{
			name: "the service account volume shape: token, ca.crt, namespace",
			src: v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				token("token", "", nil),
				cm("cm", v1.KeyToPath{Key: "a", Path: "ca.crt"}),
				{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{
					{Path: "namespace", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
				}}},
			}},
			want: map[string]File{
				"token":     {Data: []byte("token(,3600)"), Mode: 0o644},
				"ca.crt":    {Data: []byte("alpha"), Mode: 0o644},
				"namespace": {Data: []byte("ns"), Mode: 0o644},
			},
			wantAudiences: []string{""}, wantExpirations: []int64{3600},
		},
		{
			name: "defaultMode applies to every source, item modes win",
			src: v1.ProjectedVolumeSource{DefaultMode: ptr[int32](0o420), Sources: []v1.VolumeProjection{
				secret("s", v1.KeyToPath{Key: "user", Path: "u"}, v1.KeyToPath{Key: "pass", Path: "p", Mode: ptr[int32](0o400)}),
				token("tok", "vault", ptr[int64](600)),
			}},
			want: map[string]File{
				"u":   {Data: []byte("admin"), Mode: 0o420},
				"p":   {Data: []byte("pw"), Mode: 0o400},
				"tok": {Data: []byte("token(vault,600)"), Mode: 0o420},
			},
			wantAudiences: []string{"vault"}, wantExpirations: []int64{600},
		},
		{
			name: "whole-key sources may overlap: the later one wins, as in the kubelet",
			src: v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				cm("cm"),
				secret("s", v1.KeyToPath{Key: "user", Path: "a"}),
			}},
			want: map[string]File{
				"a":   {Data: []byte("admin"), Mode: 0o644},
				"b":   {Data: []byte("beta"), Mode: 0o644},
				"bin": {Data: []byte{0, 1, 2}, Mode: 0o644},
			},
		},
		{
			name: "optional sources that are missing add nothing",
			src: v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
				{Secret: &v1.SecretProjection{LocalObjectReference: v1.LocalObjectReference{Name: "s"}, Optional: ptr(true),
					Items: []v1.KeyToPath{{Key: "user", Path: "u"}, {Key: "ghost", Path: "g"}}}},
			}},
			want: map[string]File{"u": {Data: []byte("admin"), Mode: 0o644}},
		},
		{
			name: "two items claiming one path",
			src: v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				cm("cm", v1.KeyToPath{Key: "a", Path: "conf/x"}),
				secret("s", v1.KeyToPath{Key: "user", Path: "conf/x"}),
			}},
			wantErr: `projected: Invalid value: "conf/x": conflicting duplicate paths`,
		},
		{
			name: "a token path colliding with a downwardAPI file",
			src: v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{
					{Path: "token", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				}}},
				token("./token", "", nil),
			}},
			wantErr: `projected: Invalid value: "token": conflicting duplicate paths`,
		},
		{
			name: "clusterTrustBundle is refused before anything is fetched",
			src: v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				token("token", "", nil),
				{ClusterTrustBundle: &v1.ClusterTrustBundleProjection{Path: "bundle.pem", Name: ptr("b")}},
			}},
			wantErr: "projected.sources[1].clusterTrustBundle: Forbidden: clusterTrustBundle sources are not supported by peapod yet",
		},
		{
			name: "every failing source is reported",
			src: v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				cm("nope"),
				secret("s", v1.KeyToPath{Key: "ghost", Path: "g"}),
				cm("cm", v1.KeyToPath{Key: "a", Path: "a"}),
			}},
			wantErr: `[configmap "nope" not found, references non-existent secret key: ghost]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := &tokenCalls{}
			in := Inputs{ConfigMaps: testObjects(), Secrets: testObjects(), Token: calls.token}
			got, err := ProjectedPayload(context.Background(), in, pod, &tt.src)
			checkPayload(t, got, err, tt.want, tt.wantErr)
			if fmt.Sprint(calls.audiences) != fmt.Sprint(tt.wantAudiences) || fmt.Sprint(calls.expirations) != fmt.Sprint(tt.wantExpirations) {
				t.Errorf("token calls audiences %q expirations %v, want %q %v", calls.audiences, calls.expirations, tt.wantAudiences, tt.wantExpirations)
			}
		})
	}
}

func TestProjectedTokenFailures(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	src := &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
		{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", Audience: "api"}},
	}}
	denied := errors.New("serviceaccounts \"default\" is forbidden")
	calls := &tokenCalls{err: denied}
	_, err := ProjectedPayload(context.Background(), Inputs{Token: calls.token}, pod, src)
	if !errors.Is(err, denied) {
		t.Errorf("err %v, want it to wrap %v", err, denied)
	}
	if _, err := ProjectedPayload(context.Background(), Inputs{}, pod, src); err == nil {
		t.Error("a token source without a TokenFunc did not fail")
	}
}

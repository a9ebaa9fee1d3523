package volume

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakeObjects serves ConfigMaps and Secrets from maps keyed "namespace/name", answering a missing one as the
// API server does (plural resource), so the tests see the builders reword it the kubelet's way.
type fakeObjects struct {
	configMaps map[string]*v1.ConfigMap
	secrets    map[string]*v1.Secret
	err        error
}

func (f *fakeObjects) GetConfigMap(_ context.Context, namespace, name string) (*v1.ConfigMap, error) {
	if f.err != nil {
		return nil, f.err
	}
	if cm, ok := f.configMaps[namespace+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f *fakeObjects) GetSecret(_ context.Context, namespace, name string) (*v1.Secret, error) {
	if f.err != nil {
		return nil, f.err
	}
	if s, ok := f.secrets[namespace+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func testObjects() *fakeObjects {
	return &fakeObjects{
		configMaps: map[string]*v1.ConfigMap{
			"ns/cm": {
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"},
				Data:       map[string]string{"a": "alpha", "b": "beta"},
				BinaryData: map[string][]byte{"bin": {0, 1, 2}},
			},
		},
		secrets: map[string]*v1.Secret{
			"ns/s": {
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
				Data:       map[string][]byte{"user": []byte("admin"), "pass": []byte("pw")},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func TestConfigMapPayload(t *testing.T) {
	tests := []struct {
		name    string
		src     v1.ConfigMapVolumeSource
		want    map[string]File
		wantErr string
	}{
		{
			name: "all keys of data and binaryData, default mode 0644",
			src:  v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}},
			want: map[string]File{
				"a":   {Data: []byte("alpha"), Mode: 0o644},
				"b":   {Data: []byte("beta"), Mode: 0o644},
				"bin": {Data: []byte{0, 1, 2}, Mode: 0o644},
			},
		},
		{
			name: "defaultMode",
			src:  v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, DefaultMode: ptr[int32](0o400)},
			want: map[string]File{
				"a":   {Data: []byte("alpha"), Mode: 0o400},
				"b":   {Data: []byte("beta"), Mode: 0o400},
				"bin": {Data: []byte{0, 1, 2}, Mode: 0o400},
			},
		},
		{
			name: "items map keys to paths, per-item mode beats defaultMode",
			src: v1.ConfigMapVolumeSource{
				LocalObjectReference: v1.LocalObjectReference{Name: "cm"},
				DefaultMode:          ptr[int32](0o440),
				Items: []v1.KeyToPath{
					{Key: "a", Path: "conf/a.txt", Mode: ptr[int32](0o600)},
					{Key: "bin", Path: "b.bin"},
				},
			},
			want: map[string]File{
				"conf/a.txt": {Data: []byte("alpha"), Mode: 0o600},
				"b.bin":      {Data: []byte{0, 1, 2}, Mode: 0o440},
			},
		},
		{
			name:    "missing configmap",
			src:     v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}},
			wantErr: `configmap "nope" not found`,
		},
		{
			name: "missing optional configmap is empty",
			src:  v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)},
			want: map[string]File{},
		},
		{
			name: "missing optional configmap with items is empty",
			src: v1.ConfigMapVolumeSource{
				LocalObjectReference: v1.LocalObjectReference{Name: "nope"}, Optional: ptr(true),
				Items: []v1.KeyToPath{{Key: "a", Path: "a"}},
			},
			want: map[string]File{},
		},
		{
			name: "missing key",
			src: v1.ConfigMapVolumeSource{
				LocalObjectReference: v1.LocalObjectReference{Name: "cm"},
				Items:                []v1.KeyToPath{{Key: "a", Path: "a"}, {Key: "k", Path: "k"}},
			},
			wantErr: "configmap references non-existent config key: k",
		},
		{
			name: "missing key of an optional configmap is skipped",
			src: v1.ConfigMapVolumeSource{
				LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Optional: ptr(true),
				Items: []v1.KeyToPath{{Key: "a", Path: "a"}, {Key: "k", Path: "k"}},
			},
			want: map[string]File{"a": {Data: []byte("alpha"), Mode: 0o644}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigMapPayload(context.Background(), testObjects(), "ns", &tt.src)
			checkPayload(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestSecretPayload(t *testing.T) {
	tests := []struct {
		name    string
		src     v1.SecretVolumeSource
		want    map[string]File
		wantErr string
	}{
		{
			name: "all keys, default mode 0644",
			src:  v1.SecretVolumeSource{SecretName: "s"},
			want: map[string]File{"user": {Data: []byte("admin"), Mode: 0o644}, "pass": {Data: []byte("pw"), Mode: 0o644}},
		},
		{
			name: "items and modes",
			src: v1.SecretVolumeSource{
				SecretName: "s", DefaultMode: ptr[int32](0o400),
				Items: []v1.KeyToPath{{Key: "pass", Path: "db/password"}, {Key: "user", Path: "u", Mode: ptr[int32](0o444)}},
			},
			want: map[string]File{"db/password": {Data: []byte("pw"), Mode: 0o400}, "u": {Data: []byte("admin"), Mode: 0o444}},
		},
		{
			name:    "missing secret",
			src:     v1.SecretVolumeSource{SecretName: "nope"},
			wantErr: `secret "nope" not found`,
		},
		{
			name: "missing optional secret",
			src:  v1.SecretVolumeSource{SecretName: "nope", Optional: ptr(true)},
			want: map[string]File{},
		},
		{
			name:    "missing key",
			src:     v1.SecretVolumeSource{SecretName: "s", Items: []v1.KeyToPath{{Key: "token", Path: "t"}}},
			wantErr: "references non-existent secret key: token",
		},
		{
			name: "missing key of an optional secret is skipped",
			src:  v1.SecretVolumeSource{SecretName: "s", Optional: ptr(true), Items: []v1.KeyToPath{{Key: "token", Path: "t"}}},
			want: map[string]File{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SecretPayload(context.Background(), testObjects(), "ns", &tt.src)
			checkPayload(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestNotFoundStaysRecognisable(t *testing.T) {
	_, err := SecretPayload(context.Background(), testObjects(), "ns", &v1.SecretVolumeSource{SecretName: "nope"})
	if !apierrors.IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}
}

func TestGetterFailures(t *testing.T) {
	boom := errors.New("connection refused")
	broken := &fakeObjects{err: boom}
	_, err := ConfigMapPayload(context.Background(), broken, "ns", &v1.ConfigMapVolumeSource{
		LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Optional: ptr(true),
	})
	if !errors.Is(err, boom) || err.Error() != "get configmap ns/cm: connection refused" {
		t.Errorf("configmap: err %v; an optional volume still fails on errors other than not found", err)
	}
	_, err = SecretPayload(context.Background(), broken, "ns", &v1.SecretVolumeSource{SecretName: "s"})
	if !errors.Is(err, boom) || err.Error() != "get secret ns/s: connection refused" {
		t.Errorf("secret: err %v", err)
	}
	if _, err := ConfigMapPayload(context.Background(), nil, "ns", &v1.ConfigMapVolumeSource{}); err == nil {
		t.Error("a nil ConfigMapGetter did not fail")
	}
}

func TestPayloadDispatch(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	in := Inputs{ConfigMaps: testObjects(), Secrets: testObjects()}
	tests := []struct {
		name    string
		vol     v1.Volume
		want    map[string]File
		wantErr string
	}{
		{
			name: "configMap",
			vol: v1.Volume{Name: "v", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
				LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Items: []v1.KeyToPath{{Key: "a", Path: "a"}},
			}}},
			want: map[string]File{"a": {Data: []byte("alpha"), Mode: 0o644}},
		},
		{
			name: "secret",
			vol: v1.Volume{Name: "v", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{
				SecretName: "s", Items: []v1.KeyToPath{{Key: "user", Path: "u"}},
			}}},
			want: map[string]File{"u": {Data: []byte("admin"), Mode: 0o644}},
		},
		{
			name: "downwardAPI default mode 0644",
			vol: v1.Volume{Name: "v", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{
				Items: []v1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			}}},
			want: map[string]File{"name": {Data: []byte("p"), Mode: 0o644}},
		},
		{
			name:    "other source",
			vol:     v1.Volume{Name: "v", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
			wantErr: `volume "v" is not a configMap, secret, downwardAPI or projected volume`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Payload(context.Background(), in, pod, &tt.vol)
			checkPayload(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func checkPayload(t *testing.T, got map[string]File, err error, want map[string]File, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Fatalf("err %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

package volume

import (
	"context"
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ConfigMapGetter reads a ConfigMap; a missing one is an error apierrors.IsNotFound recognises.
type ConfigMapGetter interface {
	GetConfigMap(ctx context.Context, namespace, name string) (*v1.ConfigMap, error)
}

// SecretGetter reads a Secret; a missing one is an error apierrors.IsNotFound recognises.
type SecretGetter interface {
	GetSecret(ctx context.Context, namespace, name string) (*v1.Secret, error)
}

// TokenFunc returns a service account token for the pod being set up, bound to it, for audience ("" means
// the API server's own audiences) and valid for expirationSeconds.
type TokenFunc func(ctx context.Context, audience string, expirationSeconds int64) (string, error)

// Inputs is what the payload builders read besides the pod: the agent provides them per pod.
type Inputs struct {
	ConfigMaps ConfigMapGetter
	Secrets    SecretGetter
	// Token serves projected serviceAccountToken sources.
	Token TokenFunc
	// NodeAllocatable stands in for a container's missing cpu, memory and ephemeral-storage limits in
	// resourceFieldRef items, as the kubelet does.
	NodeAllocatable v1.ResourceList
}

// Payload builds the files of vol, a configMap, secret, downwardAPI or projected volume of pod.
func Payload(ctx context.Context, in Inputs, pod *v1.Pod, vol *v1.Volume) (map[string]File, error) {
	switch {
	case vol.ConfigMap != nil:
		return ConfigMapPayload(ctx, in.ConfigMaps, pod.Namespace, vol.ConfigMap)
	case vol.Secret != nil:
		return SecretPayload(ctx, in.Secrets, pod.Namespace, vol.Secret)
	case vol.DownwardAPI != nil:
		return DownwardAPIPayload(pod, vol.DownwardAPI.Items, modeOr(vol.DownwardAPI.DefaultMode, v1.DownwardAPIVolumeSourceDefaultMode), in.NodeAllocatable)
	case vol.Projected != nil:
		return ProjectedPayload(ctx, in, pod, vol.Projected)
	}
	return nil, fmt.Errorf("volume %q is not a configMap, secret, downwardAPI or projected volume", vol.Name)
}

// ConfigMapPayload builds a configMap volume: every key of data and binaryData, or only items.
func ConfigMapPayload(ctx context.Context, get ConfigMapGetter, namespace string, src *v1.ConfigMapVolumeSource) (map[string]File, error) {
	optional := src.Optional != nil && *src.Optional
	cm, err := fetchConfigMap(ctx, get, namespace, src.Name, optional)
	if err != nil {
		return nil, err
	}
	return configMapFiles(cm, src.Items, modeOr(src.DefaultMode, v1.ConfigMapVolumeSourceDefaultMode), optional)
}

// SecretPayload builds a secret volume: every key of data, or only items.
func SecretPayload(ctx context.Context, get SecretGetter, namespace string, src *v1.SecretVolumeSource) (map[string]File, error) {
	optional := src.Optional != nil && *src.Optional
	secret, err := fetchSecret(ctx, get, namespace, src.SecretName, optional)
	if err != nil {
		return nil, err
	}
	return secretFiles(secret, src.Items, modeOr(src.DefaultMode, v1.SecretVolumeSourceDefaultMode), optional)
}

// fetchConfigMap returns the ConfigMap, an empty one when it is missing and optional, or the kubelet's
// `configmap "name" not found`.
func fetchConfigMap(ctx context.Context, get ConfigMapGetter, namespace, name string, optional bool) (*v1.ConfigMap, error) {
	if get == nil {
		return nil, errors.New("no ConfigMap source configured")
	}
	cm, err := get.GetConfigMap(ctx, namespace, name)
	switch {
	case apierrors.IsNotFound(err) && optional:
		return &v1.ConfigMap{}, nil
	case apierrors.IsNotFound(err):
		// The kubelet's watching ConfigMap manager words it with the singular resource.
		return nil, apierrors.NewNotFound(v1.Resource("configmap"), name)
	case err != nil:
		return nil, fmt.Errorf("get configmap %s/%s: %w", namespace, name, err)
	}
	return cm, nil
}

// fetchSecret is fetchConfigMap for Secrets: `secret "name" not found`.
func fetchSecret(ctx context.Context, get SecretGetter, namespace, name string, optional bool) (*v1.Secret, error) {
	if get == nil {
		return nil, errors.New("no Secret source configured")
	}
	secret, err := get.GetSecret(ctx, namespace, name)
	switch {
	case apierrors.IsNotFound(err) && optional:
		return &v1.Secret{}, nil
	case apierrors.IsNotFound(err):
		return nil, apierrors.NewNotFound(v1.Resource("secret"), name)
	case err != nil:
		return nil, fmt.Errorf("get secret %s/%s: %w", namespace, name, err)
	}
	return secret, nil
}

func configMapFiles(cm *v1.ConfigMap, items []v1.KeyToPath, defaultMode int32, optional bool) (map[string]File, error) {
	files := make(map[string]File, len(cm.Data)+len(cm.BinaryData))
	if len(items) == 0 {
		for k, v := range cm.Data {
			files[k] = File{Data: []byte(v), Mode: defaultMode}
		}
		for k, v := range cm.BinaryData {
			files[k] = File{Data: v, Mode: defaultMode}
		}
		return files, nil
	}
	for _, item := range items {
		var data []byte
		if s, ok := cm.Data[item.Key]; ok {
			data = []byte(s)
		} else if b, ok := cm.BinaryData[item.Key]; ok {
			data = b
		} else if optional {
			continue
		} else {
			return nil, fmt.Errorf("configmap references non-existent config key: %s", item.Key)
		}
		files[item.Path] = File{Data: data, Mode: modeOr(item.Mode, defaultMode)}
	}
	return files, nil
}

func secretFiles(secret *v1.Secret, items []v1.KeyToPath, defaultMode int32, optional bool) (map[string]File, error) {
	files := make(map[string]File, len(secret.Data))
	if len(items) == 0 {
		for k, v := range secret.Data {
			files[k] = File{Data: v, Mode: defaultMode}
		}
		return files, nil
	}
	for _, item := range items {
		data, ok := secret.Data[item.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("references non-existent secret key: %s", item.Key)
		}
		files[item.Path] = File{Data: data, Mode: modeOr(item.Mode, defaultMode)}
	}
	return files, nil
}

func modeOr(mode *int32, fallback int32) int32 {
	if mode != nil {
		return *mode
	}
	return fallback
}

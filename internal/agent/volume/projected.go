package volume

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// defaultTokenExpirationSeconds is the API's default for serviceAccountToken.expirationSeconds.
const defaultTokenExpirationSeconds = 3600

// ProjectedPayload builds a projected volume from its configMap, secret, downwardAPI and
// serviceAccountToken sources. Two sources naming the same path (items, downwardAPI files, token path) are
// refused with the API server's "conflicting duplicate paths"; keys projected without items may overlap, and
// the later source wins, as in the kubelet. clusterTrustBundle sources are refused. Like the kubelet, it
// tries every source and returns all their errors together.
func ProjectedPayload(ctx context.Context, in Inputs, pod *v1.Pod, src *v1.ProjectedVolumeSource) (map[string]File, error) {
	if err := checkProjectedSources(src.Sources); err != nil {
		return nil, err
	}
	defaultMode := modeOr(src.DefaultMode, v1.ProjectedVolumeSourceDefaultMode)
	files := make(map[string]File)
	var errs []error
	for _, s := range src.Sources {
		var part map[string]File
		var err error
		switch {
		case s.ConfigMap != nil:
			optional := s.ConfigMap.Optional != nil && *s.ConfigMap.Optional
			var cm *v1.ConfigMap
			if cm, err = fetchConfigMap(ctx, in.ConfigMaps, pod.Namespace, s.ConfigMap.Name, optional); err == nil {
				part, err = configMapFiles(cm, s.ConfigMap.Items, defaultMode, optional)
			}
		case s.Secret != nil:
			optional := s.Secret.Optional != nil && *s.Secret.Optional
			var secret *v1.Secret
			if secret, err = fetchSecret(ctx, in.Secrets, pod.Namespace, s.Secret.Name, optional); err == nil {
				part, err = secretFiles(secret, s.Secret.Items, defaultMode, optional)
			}
		case s.DownwardAPI != nil:
			part, err = DownwardAPIPayload(pod, s.DownwardAPI.Items, defaultMode, in.NodeAllocatable)
		case s.ServiceAccountToken != nil:
			part, err = tokenFile(ctx, in.Token, s.ServiceAccountToken, defaultMode)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for p, f := range part {
			files[p] = f
		}
	}
	return files, utilerrors.NewAggregate(errs)
}

// checkProjectedSources refuses what peapod cannot project and paths two sources both claim, before
// anything is fetched.
func checkProjectedSources(sources []v1.VolumeProjection) error {
	fld := field.NewPath("projected")
	seen := make(map[string]bool)
	claim := func(p string) error {
		p = filepath.Clean(p)
		if seen[p] {
			return field.Invalid(fld, p, "conflicting duplicate paths")
		}
		seen[p] = true
		return nil
	}
	var errs []error
	for i, s := range sources {
		switch {
		case s.ClusterTrustBundle != nil:
			errs = append(errs, field.Forbidden(fld.Child("sources").Index(i).Child("clusterTrustBundle"),
				"clusterTrustBundle sources are not supported by peapod yet"))
		case s.ConfigMap != nil:
			for _, item := range s.ConfigMap.Items {
				errs = append(errs, claim(item.Path))
			}
		case s.Secret != nil:
			for _, item := range s.Secret.Items {
				errs = append(errs, claim(item.Path))
			}
		case s.DownwardAPI != nil:
			for _, item := range s.DownwardAPI.Items {
				errs = append(errs, claim(item.Path))
			}
		case s.ServiceAccountToken != nil:
			errs = append(errs, claim(s.ServiceAccountToken.Path))
		}
	}
	return utilerrors.NewAggregate(errs)
}

// tokenFile asks the agent for the token. Its mode is the volume's defaultMode: the kubelet narrows it to
// 0600 only to widen it again through fsGroup ownership, which peapod does not do.
func tokenFile(ctx context.Context, token TokenFunc, src *v1.ServiceAccountTokenProjection, defaultMode int32) (map[string]File, error) {
	if token == nil {
		return nil, errors.New("no service account token source configured")
	}
	expiration := int64(defaultTokenExpirationSeconds)
	if src.ExpirationSeconds != nil {
		expiration = *src.ExpirationSeconds
	}
	t, err := token(ctx, src.Audience, expiration)
	if err != nil {
		return nil, fmt.Errorf("service account token for audience %q: %w", src.Audience, err)
	}
	return map[string]File{src.Path: {Data: []byte(t), Mode: defaultMode}}, nil
}

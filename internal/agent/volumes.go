package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod-dev/peapod/internal/agent/volume"
)

// setUpVolumes makes every volume of the pod available on the node and returns their host paths, laid
// out as the kubelet does under the pod directory: volumes/<plugin>/<name>.
func (w *podWorker) setUpVolumes(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	paths := map[string]string{}
	inputs := volume.Inputs{
		ConfigMaps:      getters{w.a},
		Secrets:         getters{w.a},
		Token:           w.tokenFunc(pod),
		NodeAllocatable: w.a.nodeObject(metav1.Now()).Status.Allocatable,
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		switch {
		case v.EmptyDir != nil:
			dir := filepath.Join(w.dir, "volumes", "kubernetes.io~empty-dir", v.Name)
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			if err := volume.SetUpEmptyDir(dir, pod, v.EmptyDir, inputs.NodeAllocatable[corev1.ResourceMemory]); err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			paths[v.Name] = dir
		case v.HostPath != nil:
			if err := volume.CheckHostPath(v.HostPath); err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			paths[v.Name] = v.HostPath.Path
		case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
			plugin := map[bool]string{true: "kubernetes.io~configmap"}[v.ConfigMap != nil]
			switch {
			case v.Secret != nil:
				plugin = "kubernetes.io~secret"
			case v.DownwardAPI != nil:
				plugin = "kubernetes.io~downward-api"
			case v.Projected != nil:
				plugin = "kubernetes.io~projected"
			}
			dir := filepath.Join(w.dir, "volumes", plugin, v.Name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			payload, err := volume.Payload(ctx, inputs, w.withRuntimeStatus(pod), v)
			if err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			writer, err := volume.NewWriter(dir)
			if err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			if _, err := writer.Write(ctx, payload); err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			paths[v.Name] = dir
		default:
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : volume type not supported by peapod", v.Name)
		}
	}
	return paths, nil
}

// tearDownVolumes unmounts the pod's memory emptyDirs and removes every emptyDir; the rest goes with the
// pod directory.
func (w *podWorker) tearDownVolumes(ctx context.Context) error {
	root := filepath.Join(w.dir, "volumes", "kubernetes.io~empty-dir")
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if err := volume.TearDownEmptyDir(filepath.Join(root, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("tear down volume %s: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// getters reads ConfigMaps and Secrets for volume payloads through the API.
type getters struct{ a *Agent }

func (g getters) GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return g.a.client.ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g getters) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return g.a.client.Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

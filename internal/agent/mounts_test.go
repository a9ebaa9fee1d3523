package agent

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Only private mounts can be honoured (the pod's mount namespace is a private copy of the host's): another
// propagation is refused by name, never quietly made private.
func TestContainerMountsPropagation(t *testing.T) {
	for _, tt := range []struct {
		propagation *corev1.MountPropagationMode
		wantErr     string
	}{
		{nil, ""},
		{ptr.To(corev1.MountPropagationNone), ""},
		{ptr.To(corev1.MountPropagationHostToContainer), `volumeMount "data" of container "c": mountPropagation HostToContainer is not supported`},
		{ptr.To(corev1.MountPropagationBidirectional), "mountPropagation Bidirectional is not supported"},
	} {
		w := &podWorker{dir: t.TempDir(), volumes: map[string]string{"data": t.TempDir()}}
		c := corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", MountPropagation: tt.propagation}}}
		mounts, err := w.containerMounts(&corev1.Pod{}, c, &containerRecord{})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.propagation, err)
		case tt.wantErr == "" && (len(mounts) == 0 || mounts[len(mounts)-1].Destination != "/data" || mounts[len(mounts)-1].Propagation != ""):
			t.Errorf("%v: mounts %+v, want /data last and private", tt.propagation, mounts)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: error %v, want %q", tt.propagation, err, tt.wantErr)
		}
	}
}

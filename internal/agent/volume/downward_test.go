package volume

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func downwardPod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "web", UID: "1234-uid",
			Labels:      map[string]string{"app": "web", "tier": "front", "a.b": "dot"},
			Annotations: map[string]string{"note": "say \"hi\"\nthen\tleave", "A": "upper", "a": "lower", "ü": "x"},
		},
		Spec: v1.PodSpec{
			NodeName:           "node-1",
			ServiceAccountName: "robot",
			InitContainers: []v1.Container{{Name: "init", Resources: v1.ResourceRequirements{
				Limits: v1.ResourceList{v1.ResourceCPU: resource.MustParse("2")},
			}}},
			Containers: []v1.Container{
				{Name: "app", Resources: v1.ResourceRequirements{
					Limits: v1.ResourceList{
						v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("64Mi"),
						v1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
					},
					Requests: v1.ResourceList{
						v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("32Mi"),
						v1.ResourceEphemeralStorage: resource.MustParse("500M"),
					},
				}},
				{Name: "nolimits", Resources: v1.ResourceRequirements{
					Limits: v1.ResourceList{v1.ResourceCPU: resource.MustParse("0")},
				}},
			},
		},
		Status: v1.PodStatus{
			HostIP: "10.0.0.1", HostIPs: []v1.HostIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
			PodIP: "10.42.0.5", PodIPs: []v1.PodIP{{IP: "10.42.0.5"}, {IP: "fd42::5"}},
		},
	}
}

func TestFormatMap(t *testing.T) {
	tests := []struct {
		in   map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"k": "v"}, `k="v"`},
		{map[string]string{"b": "2", "a": "1"}, "a=\"1\"\nb=\"2\""},
		{map[string]string{"q": "say \"hi\"\n\tü"}, `q="say \"hi\"\n\tü"`},
		{map[string]string{"bin": "\x00\xff"}, `bin="\x00\xff"`},
	}
	for _, tt := range tests {
		if got := FormatMap(tt.in); got != tt.want {
			t.Errorf("FormatMap(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFieldValue(t *testing.T) {
	tests := []struct {
		path    string
		want    string
		wantErr string
	}{
		{path: "metadata.name", want: "web"},
		{path: "metadata.namespace", want: "ns"},
		{path: "metadata.uid", want: "1234-uid"},
		{path: "metadata.labels", want: "a.b=\"dot\"\napp=\"web\"\ntier=\"front\""},
		{path: "metadata.annotations", want: "A=\"upper\"\na=\"lower\"\nnote=\"say \\\"hi\\\"\\nthen\\tleave\"\nü=\"x\""},
		{path: "metadata.labels['app']", want: "web"},
		{path: "metadata.labels['missing']", want: ""},
		{path: "metadata.annotations['A']", want: "upper"},
		{path: "metadata.annotations['note']", want: "say \"hi\"\nthen\tleave"},
		{path: "spec.nodeName", want: "node-1"},
		{path: "spec.serviceAccountName", want: "robot"},
		{path: "status.hostIP", want: "10.0.0.1"},
		{path: "status.hostIPs", want: "10.0.0.1,fd00::1"},
		{path: "status.podIP", want: "10.42.0.5"},
		{path: "status.podIPs", want: "10.42.0.5,fd42::5"},
		{path: "status.phase", wantErr: "unsupported fieldPath: status.phase"},
		{path: "spec.nodeName['x']", wantErr: `fieldPath "spec.nodeName['x']" does not support subscript`},
		{path: "metadata.labels['bad key!']", wantErr: "invalid key subscript in metadata.labels['bad key!']: " +
			strings.Join(validation.IsQualifiedName("bad key!"), ";")},
	}
	pod := downwardPod()
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := FieldValue(pod, tt.path)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FieldValue = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestResourceValue(t *testing.T) {
	allocatable := v1.ResourceList{
		v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("8Gi"),
		v1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	tests := []struct {
		name, container, resource, divisor string
		allocatable                        v1.ResourceList
		want, wantErr                      string
	}{
		{name: "cpu limit rounds up to whole cores", container: "app", resource: "limits.cpu", want: "1"},
		{name: "cpu limit in millicores", container: "app", resource: "limits.cpu", divisor: "1m", want: "250"},
		{name: "cpu limit, divisor 100m", container: "app", resource: "limits.cpu", divisor: "100m", want: "3"},
		{name: "cpu request", container: "app", resource: "requests.cpu", divisor: "1m", want: "100"},
		{name: "memory limit in bytes", container: "app", resource: "limits.memory", want: "67108864"},
		{name: "memory limit in Mi", container: "app", resource: "limits.memory", divisor: "1Mi", want: "64"},
		{name: "memory limit in M rounds up", container: "app", resource: "limits.memory", divisor: "1M", want: "68"},
		{name: "memory request in Gi rounds up", container: "app", resource: "requests.memory", divisor: "1Gi", want: "1"},
		{name: "ephemeral-storage limit", container: "app", resource: "limits.ephemeral-storage", divisor: "1Mi", want: "1024"},
		{name: "ephemeral-storage request", container: "app", resource: "requests.ephemeral-storage", divisor: "1Mi", want: "477"},
		{name: "zero cpu limit reads allocatable", container: "nolimits", resource: "limits.cpu", allocatable: allocatable, want: "4"},
		{name: "missing memory limit reads allocatable", container: "nolimits", resource: "limits.memory", divisor: "1Gi", allocatable: allocatable, want: "8"},
		{name: "missing ephemeral limit reads allocatable", container: "nolimits", resource: "limits.ephemeral-storage", divisor: "1Gi", allocatable: allocatable, want: "100"},
		{name: "set limit beats allocatable", container: "app", resource: "limits.cpu", divisor: "1m", allocatable: allocatable, want: "250"},
		{name: "missing limit without allocatable is 0", container: "nolimits", resource: "limits.memory", want: "0"},
		{name: "missing request is 0", container: "nolimits", resource: "requests.cpu", allocatable: allocatable, want: "0"},
		{name: "init container", container: "init", resource: "limits.cpu", want: "2"},
		{name: "unknown container", container: "ghost", resource: "limits.cpu", wantErr: "container ghost not found"},
		{name: "unknown resource", container: "app", resource: "limits.gpu", wantErr: "Unsupported container resource : limits.gpu"},
	}
	pod := downwardPod()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &v1.ResourceFieldSelector{Resource: tt.resource}
			if tt.divisor != "" {
				fs.Divisor = resource.MustParse(tt.divisor)
			}
			got, err := ResourceValue(pod, fs, tt.container, tt.allocatable)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ResourceValue = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, ok := pod.Spec.Containers[1].Resources.Limits[v1.ResourceMemory]; ok {
		t.Error("ResourceValue wrote the allocatable into the pod's container")
	}
}

func TestDownwardAPIPayload(t *testing.T) {
	pod := downwardPod()
	items := []v1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "sub/../name", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr[int32](0o400)},
		// The kubelet sorts the lines of every value, even a single multi-line annotation.
		{Path: "note", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations['note']"}},
		{Path: "cpu", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
		{Path: "empty"},
	}
	got, err := DownwardAPIPayload(pod, items, 0o644, nil)
	checkPayload(t, got, err, map[string]File{
		"labels": {Data: []byte("a.b=\"dot\"\napp=\"web\"\ntier=\"front\""), Mode: 0o644},
		"name":   {Data: []byte("web"), Mode: 0o400},
		"note":   {Data: []byte("say \"hi\"\nthen\tleave"), Mode: 0o644},
		"cpu":    {Data: []byte("250"), Mode: 0o644},
		"empty":  {Mode: 0o644},
	}, "")

	// Line order, not key order: "a" sorts before "a.b" as a key but after it as a line ('=' > '.').
	labels := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "1", "a.b": "2"}}}
	got, err = DownwardAPIPayload(labels, items[:1], 0o644, nil)
	checkPayload(t, got, err, map[string]File{"labels": {Data: []byte("a.b=\"2\"\na=\"1\""), Mode: 0o644}}, "")

	multi := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"note": "b\na"}}}
	got, err = DownwardAPIPayload(multi, items[2:3], 0o644, nil)
	checkPayload(t, got, err, map[string]File{"note": {Data: []byte("a\nb"), Mode: 0o644}}, "")
}

func TestDownwardAPIPayloadCollectsErrors(t *testing.T) {
	items := []v1.DownwardAPIVolumeFile{
		{Path: "bad", FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.hostname"}},
		{Path: "ok", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		{Path: "ghost", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "ghost", Resource: "limits.cpu"}},
	}
	_, err := DownwardAPIPayload(downwardPod(), items, 0o644, nil)
	want := "[unsupported fieldPath: spec.hostname, container ghost not found]"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

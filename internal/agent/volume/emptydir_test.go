package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestSetUpEmptyDirOnDisk(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "pods", "uid", "volumes", "cache")
	for i := 0; i < 2; i++ { // the second call finds it set up
		if err := SetUpEmptyDir(dir, &v1.Pod{}, &v1.EmptyDirVolumeSource{}, resource.Quantity{}); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o777 {
		t.Fatalf("emptyDir mode %v, want a 0777 directory", fi.Mode())
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := TearDownEmptyDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("emptyDir still there after tear down (err %v)", err)
	}
	if err := TearDownEmptyDir(dir); err != nil {
		t.Errorf("tearing down a missing emptyDir: %v", err)
	}
}

func TestSetUpEmptyDirRefusesOtherMedia(t *testing.T) {
	err := SetUpEmptyDir(t.TempDir(), &v1.Pod{}, &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumHugePages}, resource.Quantity{})
	if err == nil || err.Error() != `emptyDir medium "HugePages" is not supported by peapod yet` {
		t.Fatalf("err %v", err)
	}
}

func TestSetUpEmptyDirMemory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	tests := []struct {
		name      string
		sizeLimit string
		node      string
		wantBytes int64
	}{
		{name: "sizeLimit", sizeLimit: "8Mi", node: "1Gi", wantBytes: 8 << 20},
		{name: "node memory when no sizeLimit", node: "16Mi", wantBytes: 16 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mem")
			src := &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory}
			if tt.sizeLimit != "" {
				q := resource.MustParse(tt.sizeLimit)
				src.SizeLimit = &q
			}
			if err := SetUpEmptyDir(dir, &v1.Pod{}, src, resource.MustParse(tt.node)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				// Whatever the test found, leave no mount behind (MNT_DETACH: even if something holds it).
				for i := 0; i < 3; i++ {
					if unix.Unmount(dir, unix.MNT_DETACH) != nil {
						break
					}
				}
			})
			// Idempotent: a second set-up must not stack another tmpfs.
			if err := SetUpEmptyDir(dir, &v1.Pod{}, src, resource.MustParse(tt.node)); err != nil {
				t.Fatal(err)
			}
			var st unix.Statfs_t
			if err := unix.Statfs(dir, &st); err != nil {
				t.Fatal(err)
			}
			if st.Type != unix.TMPFS_MAGIC {
				t.Fatalf("filesystem type %#x, want tmpfs", st.Type)
			}
			if got := int64(st.Blocks) * st.Bsize; got != tt.wantBytes {
				t.Errorf("tmpfs size %d, want %d", got, tt.wantBytes)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
				t.Errorf("tmpfs root mode %v, want drwxrwxrwt", fi.Mode())
			}
			if n := countMounts(t, dir); n != 1 {
				t.Errorf("%d mounts on %s, want 1", n, dir)
			}
			if err := TearDownEmptyDir(dir); err != nil {
				t.Fatal(err)
			}
			if n := countMounts(t, dir); n != 0 {
				t.Errorf("%d mounts on %s after tear down", n, dir)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("emptyDir still there after tear down (err %v)", err)
			}
		})
	}
}

// countMounts counts the mount table entries whose mount point is dir.
func countMounts(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		var id, parent int
		var devs, root, point string
		if _, err := fmt.Sscan(line, &id, &parent, &devs, &root, &point); err == nil && point == dir {
			n++
		}
	}
	return n
}

func TestMemoryEmptyDirSize(t *testing.T) {
	limits := func(mem string) v1.ResourceRequirements {
		return v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse(mem)}}
	}
	always := v1.ContainerRestartPolicyAlways
	tests := []struct {
		name      string
		pod       v1.PodSpec
		sizeLimit string
		node      string
		want      string
	}{
		{name: "node memory", node: "8Gi", want: "8Gi"},
		{name: "sizeLimit below node", node: "8Gi", sizeLimit: "64Mi", want: "64Mi"},
		{name: "sizeLimit above node is ignored", node: "1Gi", sizeLimit: "2Gi", want: "1Gi"},
		{
			name: "pod limit when every container declares one",
			pod:  v1.PodSpec{Containers: []v1.Container{{Resources: limits("100Mi")}, {Resources: limits("28Mi")}}},
			node: "8Gi", want: "128Mi",
		},
		{
			name: "no pod limit when a container has none",
			pod:  v1.PodSpec{Containers: []v1.Container{{Resources: limits("100Mi")}, {}}},
			node: "8Gi", want: "8Gi",
		},
		{
			name: "an init container larger than the app containers",
			pod: v1.PodSpec{
				InitContainers: []v1.Container{{Resources: limits("1Gi")}},
				Containers:     []v1.Container{{Resources: limits("100Mi")}},
			},
			node: "8Gi", want: "1Gi",
		},
		{
			name: "sidecars add to the app containers and to later init containers",
			pod: v1.PodSpec{
				InitContainers: []v1.Container{
					{Resources: limits("10Mi"), RestartPolicy: &always},
					{Resources: limits("200Mi")},
				},
				Containers: []v1.Container{{Resources: limits("100Mi")}},
			},
			node: "8Gi", want: "210Mi",
		},
		{
			name: "overhead",
			pod:  v1.PodSpec{Containers: []v1.Container{{Resources: limits("100Mi")}}, Overhead: v1.ResourceList{v1.ResourceMemory: resource.MustParse("28Mi")}},
			node: "8Gi", want: "128Mi",
		},
		{
			name: "sizeLimit below the pod limit",
			pod:  v1.PodSpec{Containers: []v1.Container{{Resources: limits("100Mi")}}},
			node: "8Gi", sizeLimit: "10Mi", want: "10Mi",
		},
		{name: "no node memory known: sizeLimit alone", sizeLimit: "10Mi", want: "10Mi"},
		{name: "nothing known", want: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory}
			if tt.sizeLimit != "" {
				q := resource.MustParse(tt.sizeLimit)
				src.SizeLimit = &q
			}
			var node resource.Quantity
			if tt.node != "" {
				node = resource.MustParse(tt.node)
			}
			got := MemoryEmptyDirSize(&v1.Pod{Spec: tt.pod}, src, node)
			if want := resource.MustParse(tt.want); got.Cmp(want) != 0 {
				t.Errorf("size %s, want %s", got.String(), want.String())
			}
		})
	}
}

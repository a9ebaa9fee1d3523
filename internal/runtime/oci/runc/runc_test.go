package runc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/runtime/oci"
	"github.com/peapod-dev/peapod/internal/runtime/oci/ocitest"
	"github.com/peapod-dev/peapod/internal/runtime/oci/runc"
)

// newRuntime returns a driver with a private state root, with the host prepared for crun.
func newRuntime(tb testing.TB, rt ocitest.Runtime) *runc.Runtime {
	tb.Helper()
	if err := runc.PrepareHybridCgroups("/sys/fs/cgroup"); err != nil {
		tb.Fatalf("PrepareHybridCgroups: %v", err)
	}
	return &runc.Runtime{Binary: rt.Binary, Root: filepath.Join(tb.TempDir(), "state")}
}

func writeBundle(tb testing.TB, rootfs string, cfg oci.ContainerConfig) string {
	tb.Helper()
	cfg.Rootfs = rootfs
	s, err := oci.Spec(&cfg)
	if err != nil {
		tb.Fatal(err)
	}
	bundle := tb.TempDir()
	if err := oci.WriteSpec(bundle, s); err != nil {
		tb.Fatal(err)
	}
	return bundle
}

func waitStopped(t *testing.T, r *runc.Runtime, id string) {
	t.Helper()
	ctx := context.Background()
	for range 200 {
		st, err := r.State(ctx, id)
		if err != nil {
			t.Fatalf("state: %v", err)
		}
		if st.Status == "stopped" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("container %s did not stop", id)
}

func TestLifecycle(t *testing.T) {
	ocitest.RequireRoot(t)
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			r := newRuntime(t, rt)
			ctx := context.Background()
			rootfs := ocitest.BusyboxRootfs(t)
			cgroup := fmt.Sprintf("/peapod-test-%d-%s", os.Getpid(), rt.Name)
			t.Cleanup(func() { removeCgroup(t, cgroup) })
			bundle := writeBundle(t, rootfs, oci.ContainerConfig{
				Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, CgroupsPath: cgroup + "/c1",
				Resources: oci.Resources{MemoryLimit: 64 << 20, PidsLimit: 50},
			})
			outR, outW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer outR.Close()
			id := "c1-" + rt.Name
			t.Cleanup(func() { _ = r.Delete(context.Background(), id, true) })
			err = r.Create(ctx, id, runc.CreateOptions{
				Bundle: bundle, PidFile: filepath.Join(bundle, "pid"), Stdout: outW, Stderr: outW,
			})
			outW.Close()
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			st, err := r.State(ctx, id)
			if err != nil || st.Status != "created" || st.Pid == 0 {
				t.Fatalf("state after create = %+v, %v; want created with a pid", st, err)
			}
			limit, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", cgroup, "c1", "memory.limit_in_bytes"))
			if err != nil || strings.TrimSpace(string(limit)) != fmt.Sprint(64<<20) {
				t.Errorf("memory limit = %q, %v; want %d", limit, err, 64<<20)
			}
			list, err := r.List(ctx)
			if err != nil || len(list) != 1 || list[0].ID != id {
				t.Errorf("list = %+v, %v; want just %s", list, err, id)
			}
			if err := r.Start(ctx, id); err != nil {
				t.Fatalf("start: %v", err)
			}
			waitStopped(t, r, id)
			out := make([]byte, 64)
			n, _ := outR.Read(out)
			if got := string(out[:n]); !strings.Contains(got, "out") {
				t.Errorf("output = %q, want out and err", got)
			}
			if err := r.Delete(ctx, id, false); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", cgroup, "c1")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("container cgroup left behind: %v", err)
			}
			if _, err := r.State(ctx, id); !errors.Is(err, runc.ErrNotExist) {
				t.Errorf("state after delete: %v, want ErrNotExist", err)
			}
			if err := r.Delete(ctx, id, true); err != nil {
				t.Errorf("second delete: %v, want nil", err)
			}
		})
	}
}

func TestKill(t *testing.T) {
	ocitest.RequireRoot(t)
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			r := newRuntime(t, rt)
			ctx := context.Background()
			id := "k-" + rt.Name
			cgroup := fmt.Sprintf("/peapod-test-%d-%s", os.Getpid(), id)
			bundle := writeBundle(t, ocitest.BusyboxRootfs(t), oci.ContainerConfig{Args: []string{"sleep", "60"}, CgroupsPath: cgroup})
			t.Cleanup(func() { _ = r.Delete(context.Background(), id, true) })
			if err := r.Create(ctx, id, runc.CreateOptions{Bundle: bundle}); err != nil {
				t.Fatalf("create: %v", err)
			}
			if err := r.Start(ctx, id); err != nil {
				t.Fatalf("start: %v", err)
			}
			if st, err := r.State(ctx, id); err != nil || st.Status != "running" {
				t.Fatalf("state = %+v, %v; want running", st, err)
			}
			if err := r.Delete(ctx, id, false); err == nil {
				t.Fatal("delete of a running container without force succeeded")
			}
			if err := r.Kill(ctx, id, syscall.SIGKILL, false); err != nil {
				t.Fatalf("kill: %v", err)
			}
			waitStopped(t, r, id)
			if err := r.Delete(ctx, id, false); err != nil {
				t.Fatalf("delete: %v", err)
			}
		})
	}
}

func TestErrorsCarryRuntimeMessage(t *testing.T) {
	ocitest.RequireRoot(t)
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			r := newRuntime(t, rt)
			ctx := context.Background()
			id := "e-" + rt.Name
			cgroup := fmt.Sprintf("/peapod-test-%d-%s", os.Getpid(), id)
			bundle := writeBundle(t, ocitest.BusyboxRootfs(t), oci.ContainerConfig{Args: []string{"/no/such/program"}, CgroupsPath: cgroup})
			t.Cleanup(func() { _ = r.Delete(context.Background(), id, true) })
			err := r.Create(ctx, id, runc.CreateOptions{Bundle: bundle})
			if err == nil {
				err = r.Start(ctx, id) // crun reports a missing program at start
			}
			var rerr *runc.Error
			if !errors.As(err, &rerr) {
				t.Fatalf("create+start of a missing program: %v, want a *runc.Error", err)
			}
			if !strings.Contains(rerr.Message, "/no/such/program") {
				t.Errorf("message %q does not name the program", rerr.Message)
			}
			if err := r.Start(ctx, "never-created"); !errors.Is(err, runc.ErrNotExist) {
				t.Errorf("start of an unknown container: %v, want ErrNotExist", err)
			}
		})
	}
}

func TestPrepareHybridCgroupsIdempotent(t *testing.T) {
	ocitest.RequireRoot(t)
	for range 2 {
		if err := runc.PrepareHybridCgroups("/sys/fs/cgroup"); err != nil {
			t.Fatal(err)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(mounts), " /sys/fs/cgroup/hugetlb "); n > 1 {
		t.Errorf("hugetlb mounted %d times", n)
	}
}

func removeCgroup(tb testing.TB, path string) {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join("/sys/fs/cgroup", e.Name(), path)
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			tb.Errorf("remove cgroup %s: %v", dir, err)
		}
	}
}

// BenchmarkCreateStart is `create` + `start` of one busybox container, without the shim.
func BenchmarkCreateStart(b *testing.B) {
	ocitest.RequireRoot(b)
	rootfs := ocitest.BusyboxRootfs(b)
	for _, rt := range ocitest.Runtimes(b) {
		b.Run(rt.Name, func(b *testing.B) {
			r := newRuntime(b, rt)
			ctx := context.Background()
			cgroup := fmt.Sprintf("/peapod-test-%d-bench-%s", os.Getpid(), rt.Name)
			b.Cleanup(func() { removeCgroup(b, cgroup) })
			n := 0
			for b.Loop() {
				b.StopTimer()
				n++
				id := fmt.Sprintf("bench-%d", n)
				bundle := writeBundle(b, rootfs, oci.ContainerConfig{Args: []string{"sleep", "60"}, CgroupsPath: cgroup + "/" + id})
				b.StartTimer()
				if err := r.Create(ctx, id, runc.CreateOptions{Bundle: bundle}); err != nil {
					b.Fatal(err)
				}
				if err := r.Start(ctx, id); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := r.Delete(ctx, id, true); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

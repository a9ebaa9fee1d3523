package shim_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/peapod-dev/peapod/internal/runtime/oci"
	"github.com/peapod-dev/peapod/internal/runtime/oci/ocitest"
	"github.com/peapod-dev/peapod/internal/runtime/shim"
)

// Run with PEAPOD_SHIM=bin/peapod-shim for the real binary's figures (the default is this test binary).

func BenchmarkSandboxStart(b *testing.B) {
	ocitest.RequireRoot(b)
	rt := ocitest.Runtimes(b)[0]
	rootfs := ocitest.BusyboxRootfs(b)
	for b.Loop() {
		b.StopTimer()
		netns := ocitest.NetNS(b)
		b.StartTimer()
		p := startPod(b, rt, rootfs, func(c *shim.SandboxConfig) { c.NetNSPath = netns })
		b.StopTimer()
		if err := p.client.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func BenchmarkContainerCreateStart(b *testing.B) {
	ocitest.RequireRoot(b)
	rootfs := ocitest.BusyboxRootfs(b)
	for _, rt := range ocitest.Runtimes(b) {
		b.Run(rt.Name, func(b *testing.B) {
			p := startPod(b, rt, rootfs, nil)
			n := 0
			for b.Loop() {
				b.StopTimer()
				n++
				id := fmt.Sprintf("c%d", n)
				bundle := p.bundle(b, id, oci.ContainerConfig{Args: []string{"sleep", "60"}})
				b.StartTimer()
				ctx := context.Background()
				if err := p.client.CreateContainer(ctx, id, shim.CreateRequest{Bundle: bundle, LogPath: p.logPath(id)}); err != nil {
					b.Fatal(err)
				}
				if err := p.client.StartContainer(ctx, id); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := p.client.DeleteContainer(ctx, id, true); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkContainerStop is SIGKILL, the exit recorded, and delete.
func BenchmarkContainerStop(b *testing.B) {
	ocitest.RequireRoot(b)
	rootfs := ocitest.BusyboxRootfs(b)
	for _, rt := range ocitest.Runtimes(b) {
		b.Run(rt.Name, func(b *testing.B) {
			p := startPod(b, rt, rootfs, nil)
			n := 0
			for b.Loop() {
				b.StopTimer()
				n++
				id := fmt.Sprintf("c%d", n)
				p.run(b, id, oci.ContainerConfig{Args: []string{"sleep", "60"}})
				b.StartTimer()
				ctx := context.Background()
				if err := p.client.KillContainer(ctx, id, syscall.SIGKILL, false); err != nil {
					b.Fatal(err)
				}
				waitExit(b, p.client, id)
				if err := p.client.DeleteContainer(ctx, id, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPodMemory reports what pause and shim cost with podMemoryPods running pods of two containers
// each: per pod, pod-pss-kB (PSS: the executable's pages divided among all the processes mapping them) and
// pod-anon-kB (private memory); and the first pod's pause and shim RSS and anonymous memory.
func BenchmarkPodMemory(b *testing.B) {
	ocitest.RequireRoot(b)
	const podMemoryPods = 10
	rt := ocitest.Runtimes(b)[0]
	rootfs := ocitest.BusyboxRootfs(b)
	for b.Loop() {
		var pods []*pod
		for range podMemoryPods {
			p := startPod(b, rt, rootfs, nil)
			p.run(b, "a", oci.ContainerConfig{Args: []string{"sleep", "60"}})
			p.run(b, "b", oci.ContainerConfig{Args: []string{"sh", "-c", "echo hi; sleep 60"}})
			readLog(b, p.logPath("b"), "stdout hi")
			pods = append(pods, p)
		}
		var pss, anon float64
		for i, p := range pods {
			st, err := p.client.State(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			for name, pid := range map[string]int{"pause": st.Sandbox.PausePid, "shim": st.Sandbox.ShimPid} {
				m := smapsRollup(b, pid)
				pss += m["Pss"]
				anon += m["Anonymous"]
				if i == 0 {
					b.ReportMetric(m["Rss"], name+"-rss-kB")
					b.ReportMetric(m["Anonymous"], name+"-anon-kB")
				}
			}
		}
		b.ReportMetric(pss/podMemoryPods, "pod-pss-kB")
		b.ReportMetric(anon/podMemoryPods, "pod-anon-kB")
		for _, p := range pods {
			if err := p.client.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func smapsRollup(tb testing.TB, pid int) map[string]float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[2] == "kB" {
			v, _ := strconv.ParseFloat(fields[1], 64)
			m[strings.TrimSuffix(fields[0], ":")] = v
		}
	}
	return m
}

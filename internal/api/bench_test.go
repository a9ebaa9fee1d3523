package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Performance goals (issue 2): pod create p50 < 2 ms and p99 < 10 ms at 200 creates/s; a 10,000-pod list
// as a Table < 300 ms; one change reaches 100 watchers in < 50 ms p99.

func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func reportLatencies(b *testing.B, samples []time.Duration) {
	b.ReportMetric(float64(percentile(samples, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(samples, 0.99).Microseconds())/1000, "p99-ms")
}

const benchPodJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","labels":{"app":"bench"}},"spec":{"containers":[{"name":"c","image":"busybox:1.36","ports":[{"containerPort":8080}]}]}}`

// BenchmarkCreatePodAt200PerSecond creates pods over HTTP paced at 200/s and reports latency percentiles.
func BenchmarkCreatePodAt200PerSecond(b *testing.B) {
	benchmarkCreatesAt200PerSecond(b, newTestServer(b))
}

// BenchmarkCreateRealPodAt200PerSecond does the same with the real registry: Kubernetes' defaulting,
// validation and the admission-like additions peapod server runs on every pod.
func BenchmarkCreateRealPodAt200PerSecond(b *testing.B) {
	benchmarkCreatesAt200PerSecond(b, newTestServer(b, withRealRegistry(b)))
}

func benchmarkCreatesAt200PerSecond(b *testing.B, ts *testServer) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var mu sync.Mutex
	samples := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, ts.url+"/api/v1/namespaces/default/pods", strings.NewReader(fmt.Sprintf(benchPodJSON, fmt.Sprintf("bench-%d", i))))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("create: %d", resp.StatusCode)
			}
			mu.Lock()
			samples = append(samples, elapsed)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	b.StopTimer()
	reportLatencies(b, samples)
}

// fillPods stores n pods directly through the store, concurrently so that writes share fsyncs.
func fillPods(b *testing.B, ts *testServer, n int) {
	fillPodsN(b, ts, n, func(int) map[string]string { return map[string]string{"app": "bench"} })
}

// fillPodsN stores n pods named pod-00000... with the labels labelsOf gives each.
func fillPodsN(b testing.TB, ts *testServer, n int, labelsOf func(i int) map[string]string) {
	b.Helper()
	res := ts.handler.cfg.Registry.Resources[0]
	slots := make(chan struct{}, 64)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			errs <- func() error {
				pod := testPod(fmt.Sprintf("pod-%05d", i), labelsOf(i))
				pod.Namespace = "default"
				pod.UID = "00000000-0000-0000-0000-000000000000"
				pod.CreationTimestamp = metav1.Now()
				pod.Status.Phase = corev1.PodPending
				data, err := ts.handler.codec.encode(res, pod)
				if err != nil {
					return err
				}
				_, err = ts.store.Create(context.Background(), objectKey(res, "default", pod.Name), data)
				return err
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
}

// BenchmarkList10kPodsAsTable lists 10,000 pods the way kubectl get pods does.
func BenchmarkList10kPodsAsTable(b *testing.B) {
	ts := newTestServer(b)
	fillPods(b, ts, 10_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		code, _, body := ts.do(http.MethodGet, "/api/v1/namespaces/default/pods", "", kubectlTableAccept, "")
		if code != http.StatusOK || !strings.Contains(string(body[len(body)-400:]), "pod-09999") {
			b.Fatalf("list: %d", code)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/list")
}

// BenchmarkWatchFanout100 measures how long one change takes to reach all of 100 watchers.
func BenchmarkWatchFanout100(b *testing.B) {
	ts := newTestServer(b)
	ts.createPod("target", nil)
	const watchers = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arrivals := make(chan time.Time, watchers*16)
	var wg sync.WaitGroup
	for i := 0; i < watchers; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/api/v1/namespaces/default/pods?watch=true&resourceVersion=0", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			b.Fatalf("watch: %v", err)
		}
		scanner := bufio.NewScanner(resp.Body)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		if !scanner.Scan() { // the synthetic ADDED
			b.Fatalf("watch %d: no initial event", i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer resp.Body.Close()
			for scanner.Scan() {
				arrivals <- time.Now()
			}
		}()
	}
	pods := ts.client.CoreV1().Pods("default")
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		patch := fmt.Sprintf(`{"metadata":{"labels":{"n":"%d"}}}`, i)
		if _, err := pods.Patch(ctx, "target", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatalf("patch: %v", err)
		}
		var last time.Time
		for j := 0; j < watchers; j++ {
			select {
			case last = <-arrivals:
			case <-time.After(10 * time.Second):
				b.Fatalf("change %d reached only %d watchers", i, j)
			}
		}
		samples = append(samples, last.Sub(start))
	}
	b.StopTimer()
	reportLatencies(b, samples)
	cancel()
	wg.Wait()
}

// BenchmarkList10kRealPodsAsTable lists, as kubectl get pods does, 10,000 pods created through the API with
// the real registry, so each carries Kubernetes' defaults, the service account volume and managedFields:
// what `peapod server` stores.
func BenchmarkList10kRealPodsAsTable(b *testing.B) {
	ts := newTestServer(b, withRealRegistry(b))
	ts.do(http.MethodPost, "/api/v1/namespaces", "application/json", "", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	names := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range names {
				req, _ := http.NewRequest(http.MethodPost, ts.url+"/api/v1/namespaces/bench/pods", strings.NewReader(fmt.Sprintf(benchPodJSON, fmt.Sprintf("pod-%05d", i))))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					b.Errorf("create: %d", resp.StatusCode)
				}
			}
		})
	}
	for i := range 10_000 {
		names <- i
	}
	close(names)
	wg.Wait()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		code, _, body := ts.do(http.MethodGet, "/api/v1/namespaces/bench/pods", "", kubectlTableAccept, "")
		if code != http.StatusOK || !strings.Contains(string(body[len(body)-1000:]), "pod-09999") {
			b.Fatalf("list: %d", code)
		}
		b.ReportMetric(float64(len(body))/1e6, "MB")
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/list")
}

package bolt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/storage"
)

// podSizedValue is about the size of a small pod in protobuf.
var podSizedValue = []byte(strings.Repeat("p", 1500))

// reportLatencies reports the median and 99th percentile of samples in milliseconds.
func reportLatencies(b *testing.B, prefix string, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
}

// BenchmarkFsync is the floor under every durable write: one 4 KiB overwrite and fsync, on the
// file system the other benchmarks use. A bbolt commit syncs twice (fdatasync of the pages, then of the meta page).
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	samples := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(page, int64(i%64)*int64(len(page))); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(t0))
	}
	reportLatencies(b, "", samples)
}

// BenchmarkCreateParallel measures create latency with fsync: "saturated" runs many writers back to back
// (throughput, group commit at its fullest); "200-per-second" issues creates at a steady 200/s, the rate
// the API server is specified for, each from its own goroutine as concurrent API requests would.
func BenchmarkCreateParallel(b *testing.B) {
	b.Run("saturated", func(b *testing.B) {
		s := openBench(b)
		var (
			next      atomic.Int64
			samplesMu sync.Mutex
			samples   []time.Duration
		)
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				key := fmt.Sprintf("/registry/pods/default/p-%d", next.Add(1))
				t0 := time.Now()
				if _, err := s.Create(context.Background(), key, podSizedValue); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			samplesMu.Lock()
			samples = append(samples, mine...)
			samplesMu.Unlock()
		})
		b.StopTimer()
		reportLatencies(b, "", samples)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
	b.Run("200-per-second", func(b *testing.B) {
		s := openBench(b)
		const interval = time.Second / 200
		samples := make([]time.Duration, b.N)
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				if _, err := s.Create(context.Background(), fmt.Sprintf("/registry/pods/default/p-%d", i), podSizedValue); err != nil {
					b.Error(err)
					return
				}
				samples[i] = time.Since(t0)
			}()
		}
		wg.Wait()
		b.StopTimer()
		reportLatencies(b, "", samples)
	})
}

// BenchmarkList10k lists 10,000 pod-sized values (the store's share of listing 10,000 pods).
func BenchmarkList10k(b *testing.B) {
	s := openBench(b)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("/registry/pods/ns-%d/pod-%05d", i%10, i)
	}
	createAll(b, s, keys, podSizedValue)
	b.ResetTimer()
	for b.Loop() {
		kvs, _, err := s.List(context.Background(), "/registry/pods/")
		if err != nil || len(kvs) != len(keys) {
			b.Fatalf("List = %d keys, %v", len(kvs), err)
		}
	}
}

// BenchmarkWatchFanout100 measures how long one create takes to reach all of 100 watchers, from the call
// to Create to the last watcher's receipt (so it includes the commit).
func BenchmarkWatchFanout100(b *testing.B) {
	s := openBench(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const watchers = 100
	var (
		received sync.WaitGroup
		readers  sync.WaitGroup
	)
	for range watchers {
		events, err := s.Watch(ctx, "/registry/pods/", 0, storage.WatchOptions{})
		if err != nil {
			b.Fatalf("Watch: %v", err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			for ev := range events {
				if ev.Type == storage.EventError {
					b.Errorf("watch ended: %v", ev.Err)
					return
				}
				received.Done()
			}
		}()
	}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		received.Add(watchers)
		t0 := time.Now()
		if _, err := s.Create(ctx, fmt.Sprintf("/registry/pods/default/p-%d", i), podSizedValue); err != nil {
			b.Fatalf("Create: %v", err)
		}
		received.Wait()
		samples = append(samples, time.Since(t0))
	}
	b.StopTimer()
	cancel()
	readers.Wait()
	reportLatencies(b, "", samples)
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "db"), Options{})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return s
}

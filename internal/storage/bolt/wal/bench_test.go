package wal

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkAppend is the floor under a store write: one pod-sized record appended and fdatasynced.
// "back-to-back" appends without pause; "200-per-second" paces appends as the API server's target rate
// does, which lets the CPUs idle between syncs (on a VM, waking them for the completion costs more than
// the sync does back to back).
func BenchmarkAppend(b *testing.B) {
	record := []byte(strings.Repeat("p", 1600))
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{
		{"back-to-back", 0},
		{"200-per-second", time.Second / 200},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := Open(context.Background(), filepath.Join(b.TempDir(), "wal"), 0, Options{SegmentSize: 8 << 20, Logger: slog.Default()}, func([]Record) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			samples := make([]time.Duration, 0, b.N)
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				if tc.interval > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(i) * tc.interval)))
				}
				t0 := time.Now()
				if err := l.Append(context.Background(), int64(i+1), 1, record); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(t0))
			}
			slices.Sort(samples)
			at := func(q float64) float64 {
				return float64(samples[int(q*float64(len(samples)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(at(0.50), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
		})
	}
}

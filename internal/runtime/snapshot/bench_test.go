package snapshot_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/peapod-dev/peapod/internal/runtime/snapshot"
)

// BenchmarkPrepare measures mounting a container rootfs (Prepare) over n layers; Remove runs untimed.
func BenchmarkPrepare(b *testing.B) {
	requireOverlay(b)
	for _, n := range []int{1, 10, 120} {
		b.Run(fmt.Sprintf("layers=%d", n), func(b *testing.B) {
			ctx := context.Background()
			s, err := snapshot.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			lowers := layerDirs(b, n, func(i int) map[string]string { return map[string]string{"f": fmt.Sprint(i)} })
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("c%d", i)
				if _, err := s.Prepare(ctx, id, lowers, ""); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.Remove(ctx, id, ""); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRemove measures unmounting and deleting a snapshot with a few written files.
func BenchmarkRemove(b *testing.B) {
	requireOverlay(b)
	ctx := context.Background()
	s, err := snapshot.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	lowers := layerDirs(b, 1, func(int) map[string]string { return map[string]string{"f": "x"} })
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("c%d", i)
		b.StopTimer()
		if _, err := s.Prepare(ctx, id, lowers, ""); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Remove(ctx, id, ""); err != nil {
			b.Fatal(err)
		}
	}
}

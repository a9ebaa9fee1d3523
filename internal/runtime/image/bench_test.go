package image_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/peapod-dev/peapod/internal/runtime/image"
	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

// BenchmarkPullBusybox measures a cold pull: manifest, config and the busybox layer over loopback HTTP, gunzip,
// diffID check and unpack into a fresh store.
func BenchmarkPullBusybox(b *testing.B) {
	requireRoot(b)
	ctx := context.Background()
	host := imagetest.StartRegistry(b, imagetest.RegistryOptions{})
	imagetest.Push(b, host, "bb:1", imagetest.Busybox(b))
	root := b.TempDir()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s, err := image.Open(filepath.Join(root, fmt.Sprint(i)), image.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Pull(ctx, host+"/bb:1", image.PullOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPullPresentLayers measures pulling a new tag of an image whose layers are stored: the cost of a
// pull that only fetches manifest and config.
func BenchmarkPullPresentLayers(b *testing.B) {
	requireRoot(b)
	ctx := context.Background()
	host := imagetest.StartRegistry(b, imagetest.RegistryOptions{})
	imagetest.Push(b, host, "bb:1", imagetest.Busybox(b))
	s, err := image.Open(b.TempDir(), image.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Pull(ctx, host+"/bb:1", image.PullOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet measures the local lookup behind pullPolicy IfNotPresent.
func BenchmarkGet(b *testing.B) {
	requireRoot(b)
	ctx := context.Background()
	host := imagetest.StartRegistry(b, imagetest.RegistryOptions{})
	imagetest.Push(b, host, "bb:1", imagetest.Busybox(b))
	s, err := image.Open(b.TempDir(), image.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pull(ctx, host+"/bb:1", image.PullOptions{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Get(ctx, host+"/bb:1"); err != nil {
			b.Fatal(err)
		}
	}
}

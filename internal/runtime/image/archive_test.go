package image_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/peapod-dev/peapod/internal/runtime/image"
	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

func gzipFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestImport(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	base := imagetest.Busybox(t)
	app := imagetest.Variant(t, base, imagetest.Config{Cmd: []string{"httpd", "-f"},
		Layers: []v1.Layer{imagetest.Layer(t, imagetest.File("www/index.html", "hi", 0o644))}})
	arm := imagetest.Variant(t, base, imagetest.Config{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	dir := t.TempDir()
	docker := filepath.Join(dir, "docker.tar")
	imagetest.WriteDockerArchive(t, docker, map[string]v1.Image{"busybox:latest": base, "example.com/app:v1": app})
	gzipFile(t, docker, filepath.Join(dir, "docker.tar.gz"))
	imagetest.WriteOCIArchive(t, filepath.Join(dir, "oci.tar"), map[string]any{"example.com/oci:v2": app})
	imagetest.WriteOCIArchive(t, filepath.Join(dir, "multi.tar"), map[string]any{
		"example.com/multi:v3": imagetest.Index(t, arm, base)})
	imagetest.WriteOCILayout(t, filepath.Join(dir, "layout"), map[string]any{"example.com/layout:v4": base})

	tests := []struct {
		file        string
		wantTags    []string
		wantDigests int
	}{
		{"docker.tar", []string{"docker.io/library/busybox:latest", "example.com/app:v1"}, 0},
		{"docker.tar.gz", []string{"docker.io/library/busybox:latest", "example.com/app:v1"}, 0},
		{"oci.tar", []string{"example.com/oci:v2"}, 1},
		{"multi.tar", []string{"example.com/multi:v3"}, 1},
		{"layout", []string{"example.com/layout:v4"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s := openStore(t, t.TempDir(), image.Options{})
			imgs, err := s.Import(ctx, filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var tags []string
			digests := 0
			for _, img := range imgs {
				tags = append(tags, img.RepoTags...)
				digests += len(img.RepoDigests)
				if img.Size < 500_000 {
					t.Errorf("%v has size %d, want about busybox's", img.RepoTags, img.Size)
				}
				if img.Platform.Architecture != "amd64" {
					t.Errorf("%v is for %s", img.RepoTags, img.Platform.Architecture)
				}
			}
			if fmt.Sprint(sorted(tags)) != fmt.Sprint(tt.wantTags) || digests != tt.wantDigests {
				t.Errorf("tags %v and %d digests, want %v and %d", tags, digests, tt.wantTags, tt.wantDigests)
			}
			for _, tag := range tt.wantTags {
				img, err := s.Get(ctx, tag)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(img.LayerDirs[0], "bin/busybox")); err != nil {
					t.Errorf("%s: %v", tag, err)
				}
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestImportDir(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	base := imagetest.Busybox(t)
	imagetest.WriteDockerArchive(t, filepath.Join(dir, "a.tar"), map[string]v1.Image{"a:1": base})
	imagetest.WriteOCIArchive(t, filepath.Join(dir, "b.tar"), map[string]any{"b:1": base})
	if err := os.WriteFile(filepath.Join(dir, ".hidden"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, t.TempDir(), image.Options{})
	imgs, err := s.ImportDir(ctx, dir)
	if err != nil || len(imgs) != 2 {
		t.Fatalf("first ImportDir: %d images, %v", len(imgs), err)
	}
	imgs, err = s.ImportDir(ctx, dir)
	if err != nil || len(imgs) != 0 {
		t.Fatalf("second ImportDir imported %d images again, %v", len(imgs), err)
	}
	// A removed image and a changed archive are imported again.
	if err := s.Remove(ctx, "b:1"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "a.tar"), later, later); err != nil {
		t.Fatal(err)
	}
	imgs, err = s.ImportDir(ctx, dir)
	if err != nil || len(imgs) != 2 {
		t.Fatalf("third ImportDir: %d images, %v", len(imgs), err)
	}
	// A broken archive is reported, the others still imported (a:1 and b:1 are one image: both go).
	if err := os.WriteFile(filepath.Join(dir, "broken.tar"), []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	imgs, err = s.ImportDir(ctx, dir)
	if err == nil || len(imgs) != 2 {
		t.Fatalf("ImportDir with a broken archive: %d images, %v", len(imgs), err)
	}
}

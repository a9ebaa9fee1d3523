package imagetest_test

import (
	"archive/tar"
	"errors"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

func TestBusybox(t *testing.T) {
	img := imagetest.Busybox(t)
	again := imagetest.Busybox(t)
	d1, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := again.Digest(); d1 != d2 {
		t.Errorf("two builds differ: %s and %s; tests sharing layers need reproducible images", d1, d2)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" || len(cf.Config.Env) != 1 {
		t.Errorf("config %+v", cf)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %v, %v", layers, err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	seen := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[hdr.Name] = hdr
	}
	if h := seen["bin/busybox"]; h == nil || h.Size < 500_000 || h.Mode != 0o755 {
		t.Errorf("bin/busybox: %+v", h)
	}
	for _, a := range []string{"sh", "httpd", "nc", "wget", "sleep"} {
		if h := seen["bin/"+a]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v", a, h)
		}
	}
	for _, f := range []string{"etc/passwd", "etc/group", "tmp"} {
		if seen[f] == nil {
			t.Errorf("%s missing", f)
		}
	}
}

func TestRegistryAuth(t *testing.T) {
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{Username: "u", Password: "p"})
	img := imagetest.Busybox(t)
	digest := imagetest.Push(t, host, "bb:1", img, imagetest.WithBasicAuth("u", "p"))
	ref, err := name.ParseReference(host+"/bb:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(ref); err == nil {
		t.Error("anonymous access to a registry behind auth succeeded")
	}
	desc, err := remote.Head(ref, imagetest.WithBasicAuth("u", "p"))
	if err != nil || desc.Digest.String() != digest {
		t.Errorf("authenticated HEAD: %v %v, want digest %s", desc, err, digest)
	}
}

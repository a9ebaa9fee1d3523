// Command busybox-image writes a docker-archive of an honest busybox image built from Debian's
// busybox-static, for the air-gapped quickstart: put it in <data-dir>/agent/images/ and the node agent
// imports it at start.
//
//	go run ./hack/busybox-image -o /var/lib/peapod/agent/images/busybox.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

func main() {
	out := flag.String("o", "busybox.tar", "archive to write")
	tag := flag.String("tag", "docker.io/library/busybox:latest", "name of the image in the archive")
	flag.Parse()
	if err := run(*out, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "busybox-image:", err)
		os.Exit(1)
	}
}

func run(out, tag string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	img, err := imagetest.BusyboxImage()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Println(out)
	return nil
}

package main

import (
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func writeArchive(path string, img v1.Image) error {
	tag, err := name.NewTag("docker.io/library/busybox:latest")
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

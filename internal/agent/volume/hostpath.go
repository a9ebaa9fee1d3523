package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// CheckHostPath checks (and for the *OrCreate types, creates) a hostPath volume's path as the kubelet does
// before mounting it, with the kubelet's error texts. An unset or empty type checks nothing.
func CheckHostPath(src *v1.HostPathVolumeSource) error {
	for _, part := range strings.Split(src.Path, "/") {
		if part == ".." {
			return fmt.Errorf("invalid HostPath `%s`: must not contain '..'", src.Path)
		}
	}
	if src.Type == nil {
		return nil
	}
	p := src.Path
	fi, statErr := os.Stat(p)
	exists := statErr == nil
	is := func(want func(fs.FileMode) bool) bool { return exists && want(fi.Mode()) }

	switch *src.Type {
	case v1.HostPathUnset:
		return nil
	case v1.HostPathDirectoryOrCreate:
		if !exists {
			return makeHostDir(p)
		}
		fallthrough
	case v1.HostPathDirectory:
		if !is(fs.FileMode.IsDir) {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case v1.HostPathFileOrCreate:
		if !exists {
			return makeHostFile(p)
		}
		fallthrough
	case v1.HostPathFile:
		if !is(fs.FileMode.IsRegular) {
			return fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case v1.HostPathSocket:
		if !is(func(m fs.FileMode) bool { return m&fs.ModeSocket != 0 }) {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", p)
		}
	case v1.HostPathCharDev:
		if !is(func(m fs.FileMode) bool { return m&fs.ModeCharDevice != 0 }) {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", p)
		}
	case v1.HostPathBlockDev:
		if !is(func(m fs.FileMode) bool { return m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0 }) {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", p)
		}
	default:
		return fmt.Errorf("%s is an invalid volume type", *src.Type)
	}
	return nil
}

// makeHostDir creates a DirectoryOrCreate path, parents included, 0755 whatever the umask.
func makeHostDir(p string) error {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("create hostPath directory: %w", err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		return fmt.Errorf("create hostPath directory: %w", err)
	}
	return nil
}

// makeHostFile creates an empty FileOrCreate file, 0644; like the kubelet it does not create parents.
func makeHostFile(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create hostPath file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create hostPath file: %w", err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		return fmt.Errorf("create hostPath file: %w", err)
	}
	return nil
}

package shim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// detachForeignMounts drops, from the shim's own mount namespace (a private copy of the host's, made as the
// shim started), every mount strictly below one of the under directories that is not one of keep or below
// it: the other pods' network namespace files, root filesystems and volumes. Left in the copy, each would
// be pinned by this pod (another pod's network namespace, with its veth, would outlive its pod) and would
// lengthen the mount table that every runc invocation of this pod reads several times.
func detachForeignMounts(under, keep []string) error {
	if len(under) == 0 {
		return nil
	}
	points, err := mountPoints()
	if err != nil {
		return err
	}
	below := func(p string, dirs []string, orSame bool) bool {
		for _, d := range dirs {
			d = filepath.Clean(d)
			if strings.HasPrefix(p, d+"/") || (orSame && p == d) {
				return true
			}
		}
		return false
	}
	var errs []error
	// A directory that is a mount point of its own with nothing to keep below it (the network namespaces'
	// directory, bind-mounted on itself as iproute2 does) goes whole, its mounts with it, in one unmount:
	// unmounts serialise on a lock of the whole system, and a burst of pods would otherwise queue on it.
	var whole []string
	for _, d := range under {
		d = filepath.Clean(d)
		if slices.Contains(points, d) && !slices.ContainsFunc(keep, func(k string) bool { return below(k, []string{d}, true) }) {
			if err := unix.Unmount(d, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("detach %s from the pod's mount namespace: %w", d, err))
				continue
			}
			whole = append(whole, d)
		}
	}
	for _, p := range slices.Backward(points) { // the deepest, mounted last, first
		if !below(p, under, false) || below(p, keep, true) || below(p, whole, false) {
			continue
		}
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("detach %s from the pod's mount namespace: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// mountPoints lists the mount points of the calling process's mount namespace in mount order. It reads the
// table through a small buffer and keeps only the mount points: the shim's memory is paid once per pod.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var points []string
	r := bufio.NewReaderSize(f, 4096)
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			// id parent major:minor root mount-point ...: the fifth field, well within the buffer.
			if fields := bytes.SplitN(line, []byte(" "), 6); len(fields) == 6 {
				points = append(points, unescapeOctal(string(fields[4])))
			}
		}
		for errors.Is(err, bufio.ErrBufferFull) { // an overlay with many layers: skip the rest of its line
			_, err = r.ReadSlice('\n')
		}
		if errors.Is(err, io.EOF) {
			return points, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read mounts: %w", err)
		}
	}
}

// unescapeOctal undoes the mount table's octal escapes (\040 for a space and the like).
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

package shim

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// detachForeignMounts drops, from the shim's own mount namespace (a private copy of the host's, made as the
// shim started), every mount strictly below one of the under directories that is not one of keep or below
// it: the other pods' network namespace files, root filesystems and volumes. Left in the copy, each would
// be pinned by this pod (another pod's network namespace, with its veth, would outlive its pod) and would
// lengthen the mount table that every runc invocation of this pod reads several times. All paths are clean
// and absolute.
func detachForeignMounts(under, keep []string) error {
	if len(under) == 0 {
		return nil
	}
	var errs []error
	// A directory that is a mount point of its own with nothing to keep below it (the network namespaces'
	// directory, bind-mounted on itself as iproute2 does) goes whole, its mounts with it, in one unmount; a
	// directory that is not a mount point answers EINVAL. What is left is looked for in the mount table.
	var rest []string
	for _, d := range under {
		if slices.ContainsFunc(keep, func(k string) bool { return k == d || strings.HasPrefix(k, d+"/") }) {
			rest = append(rest, d)
			continue
		}
		switch err := unix.Unmount(d, unix.MNT_DETACH); {
		case err == nil:
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			rest = append(rest, d)
		default:
			errs = append(errs, fmt.Errorf("detach %s from the pod's mount namespace: %w", d, err))
		}
	}
	if len(rest) == 0 {
		return errors.Join(errs...)
	}
	points, err := mountPointsBelow(rest, keep)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, p := range slices.Backward(points) { // the deepest, mounted last, first
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("detach %s from the pod's mount namespace: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// mountPointsBelow returns the mount points of the calling process's mount namespace, in mount order, that
// are strictly below one of dirs and neither one of keep nor below one. The table is read through buffers on
// the stack: the shim starts once per pod, and every size class its heap first touches costs a page in every
// pod.
func mountPointsBelow(dirs, keep []string) ([]string, error) {
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer unix.Close(fd)
	var points []string
	var buf [1024]byte
	var small [512]byte
	var long []byte  // a mount point longer than small
	n, field := 0, 0 // bytes of the fifth field (id parent major:minor root mount-point ...) so far
	for {
		got, err := unix.Read(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read mounts: %w", err)
		}
		if got == 0 {
			return points, nil
		}
		for _, c := range buf[:got] {
			switch {
			case c == '\n':
				field, n, long = 0, 0, nil
			case c == ' ':
				if field == 4 {
					p := small[:n]
					if long != nil {
						p = long
					}
					if s, ok := below(unescapeOctal(p), dirs, keep); ok {
						points = append(points, s)
					}
				}
				field++
			case field == 4 && long != nil:
				long = append(long, c)
			case field == 4 && n == len(small):
				long = append(append(make([]byte, 0, 2*len(small)), small[:]...), c)
			case field == 4:
				small[n] = c
				n++
			}
		}
	}
}

// below reports whether mount point p is strictly below one of dirs and neither one of keep nor below one,
// and returns it as a string then.
func below(p []byte, dirs, keep []string) (string, bool) {
	for _, d := range dirs {
		if len(p) > len(d)+1 && string(p[:len(d)]) == d && p[len(d)] == '/' {
			s := string(p)
			return s, !slices.ContainsFunc(keep, func(k string) bool { return s == k || strings.HasPrefix(s, k+"/") })
		}
	}
	return "", false
}

// unescapeOctal undoes the mount table's octal escapes (\040 for a space and the like) in place.
func unescapeOctal(s []byte) []byte {
	j := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			s[j] = (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			i += 3
		} else {
			s[j] = s[i]
		}
		j++
	}
	return s[:j]
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

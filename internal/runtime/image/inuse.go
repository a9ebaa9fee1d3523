package image

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrInUse marks an image whose layers a mounted overlay still uses: deleting them would pull the files out
// from under a running container.
var ErrInUse = errors.New("image in use by a mounted container root filesystem")

// mountedLowerDirs returns the lower directories of every overlay mounted in this mount namespace, from both the
// lowerdir=a:b:c and the lowerdir+=a forms, as absolute paths.
func mountedLowerDirs() (map[string]bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("listing mounts: %w", err)
	}
	defer f.Close()
	dirs := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20) // long lowerdir lists make long lines
	for sc.Scan() {
		// Fields before the " - " separator: id, parent, device, root, mount point...; after: fstype, source,
		// super options.
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, mountFields := strings.Fields(post), strings.Fields(pre)
		if len(fields) < 3 || fields[0] != "overlay" || len(mountFields) < 5 {
			continue
		}
		// The mount table shows overlay directories as they were given: peapod's snapshotter gives them
		// relative to the snapshot's directory, the mount point's parent.
		base := filepath.Dir(unescapeMountinfo(mountFields[4]))
		add := func(d string) {
			d = unescapeMountinfo(d)
			if !filepath.IsAbs(d) {
				d = filepath.Join(base, d)
			}
			dirs[d] = true
		}
		for _, opt := range strings.Split(fields[2], ",") {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "lowerdir":
				for _, d := range strings.Split(v, ":") {
					add(d)
				}
			case "lowerdir+", "datadir+":
				add(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("listing mounts: %w", err)
	}
	return dirs, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space and the like).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

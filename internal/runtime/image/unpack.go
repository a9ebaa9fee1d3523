package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	xattrPrefix    = "SCHILY.xattr."
	// overlayXattrs are overlayfs' own; taken from a tar they could redirect lookups or fake metacopies, so
	// only whiteout entries produce them.
	overlayXattrs = "trusted.overlay."
)

// unpackLayer extracts an uncompressed layer tar into dir (which must exist and be empty), turning OCI whiteouts
// into overlayfs ones (a 0:0 character device; trusted.overlay.opaque=y), and checks that the tar's sha256 is
// diffID. Every path is resolved inside dir with openat2(RESOLVE_IN_ROOT), so neither ".." nor a symlink in the
// tar can reach outside it. It returns the number of bytes of file content written.
func unpackLayer(ctx context.Context, r io.Reader, dir, diffID string) (int64, error) {
	h := sha256.New()
	tee := io.TeeReader(r, h)
	u, err := newUnpacker(dir)
	if err != nil {
		return 0, err
	}
	defer u.close()
	tr := tar.NewReader(tee)
	for {
		if err := ctx.Err(); err != nil {
			return u.written, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return u.written, fmt.Errorf("reading layer tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return u.written, fmt.Errorf("unpacking %q: %w", hdr.Name, err)
		}
	}
	if err := u.finishDirs(); err != nil {
		return u.written, err
	}
	// The digest covers the whole stream, including the padding after the tar's end marker.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return u.written, fmt.Errorf("reading layer tar: %w", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID {
		return u.written, fmt.Errorf("layer content is %s, the image config says %s", got, diffID)
	}
	return u.written, nil
}

type unpacker struct {
	root    int
	chown   bool
	written int64
	dirs    []*tar.Header // metadata applied last: creating entries inside a directory changes its mtime
}

func newUnpacker(dir string) (*unpacker, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening layer dir: %w", err)
	}
	return &unpacker{root: fd, chown: os.Geteuid() == 0}, nil
}

func (u *unpacker) close() { unix.Close(u.root) }

// cleanName makes a tar name relative to the layer root; "" is the root itself.
func cleanName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

func (u *unpacker) entry(hdr *tar.Header, body io.Reader) error {
	name := cleanName(hdr.Name)
	if name == "" {
		if hdr.Typeflag == tar.TypeDir {
			u.dirs = append(u.dirs, hdr)
		}
		return nil
	}
	base := path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(name, base)
	}
	parent, err := u.mkdirAll(path.Dir(name))
	if err != nil {
		return err
	}
	defer unix.Close(parent)

	isDir := hdr.Typeflag == tar.TypeDir
	keep, err := u.clear(parent, base, isDir)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !keep {
			if err := unix.Mkdirat(parent, base, 0o700); err != nil {
				return fmt.Errorf("mkdir: %w", err)
			}
		}
		u.dirs = append(u.dirs, hdr)
		return nil
	case tar.TypeReg, tar.TypeRegA:
		return u.file(parent, base, hdr, body)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, parent, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return u.meta(parent, base, hdr, false)
	case tar.TypeLink:
		return u.hardlink(parent, base, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(parent, base, mode, dev); err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
		return u.meta(parent, base, hdr, true)
	}
	return nil // pax globals, GNU volume headers and the like carry no file
}

// whiteout records a deletion of a lower layer's entry the way overlayfs reads it.
func (u *unpacker) whiteout(name, base string) error {
	if base == whiteoutOpaque {
		dir, err := u.mkdirAll(path.Dir(name))
		if err != nil {
			return err
		}
		defer unix.Close(dir)
		// An O_PATH descriptor cannot carry xattrs; reach the directory through its /proc magic link.
		if err := unix.Setxattr(procPath(dir, ""), overlayXattrs+"opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("marking directory opaque: %w", err)
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // aufs bookkeeping (.wh..wh.plnk and friends), meaningless here
	}
	parent, err := u.mkdirAll(path.Dir(name))
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if _, err := u.clear(parent, target, false); err != nil {
		return err
	}
	if err := unix.Mknodat(parent, target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("creating whiteout for %q (needs CAP_MKNOD): %w", target, err)
	}
	return nil
}

// procPath names a file relative to an open directory without re-resolving the directory's path.
func procPath(dirfd int, base string) string {
	p := "/proc/self/fd/" + strconv.Itoa(dirfd)
	if base != "" {
		p += "/" + base
	}
	return p
}

// resolve opens an existing directory inside the layer; symlinks are resolved as if the layer were /.
func (u *unpacker) resolve(rel string) (int, error) {
	if rel == "" || rel == "." {
		rel = "."
	}
	return unix.Openat2(u.root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
}

// mkdirAll opens directory rel inside the layer, creating missing components (0755, as tar implies them).
func (u *unpacker) mkdirAll(rel string) (int, error) {
	fd, err := u.resolve(rel)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		if err != nil {
			return -1, fmt.Errorf("opening %q: %w", rel, err)
		}
		return fd, nil
	}
	cur, err := u.resolve(".")
	if err != nil {
		return -1, err
	}
	prefix := ""
	for _, comp := range strings.Split(path.Clean(rel), "/") {
		prefix = path.Join(prefix, comp)
		next, err := u.resolve(prefix)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(cur, comp, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(cur)
				return -1, fmt.Errorf("mkdir %q: %w", prefix, err)
			}
			next, err = u.resolve(prefix)
		}
		unix.Close(cur)
		if err != nil {
			return -1, fmt.Errorf("opening %q: %w", prefix, err)
		}
		cur = next
	}
	return cur, nil
}

// clear removes whatever is at parent/base so that a new entry can take its place; an existing directory stays
// when the new entry is a directory too (tar may list a directory after its contents).
func (u *unpacker) clear(parent int, base string, isDir bool) (keep bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat: %w", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if isDir {
			return true, nil
		}
		// RemoveAll works below the /proc path without following symlinks inside it.
		if err := os.RemoveAll(procPath(parent, base)); err != nil {
			return false, fmt.Errorf("replacing directory: %w", err)
		}
		return false, nil
	}
	if err := unix.Unlinkat(parent, base, 0); err != nil {
		return false, fmt.Errorf("replacing: %w", err)
	}
	return false, nil
}

func (u *unpacker) file(parent int, base string, hdr *tar.Header, body io.Reader) error {
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := os.NewFile(uintptr(fd), base)
	n, err := io.Copy(f, body)
	u.written += n
	if err != nil {
		f.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return u.meta(parent, base, hdr, true)
}

func (u *unpacker) hardlink(parent int, base, linkname string) error {
	target := cleanName(linkname)
	if target == "" {
		return fmt.Errorf("hard link to the layer root")
	}
	tdir, err := u.resolve(path.Dir(target))
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", linkname, err)
	}
	defer unix.Close(tdir)
	// Without AT_SYMLINK_FOLLOW a link to a symlink links the symlink itself, never what it points to.
	if err := unix.Linkat(tdir, path.Base(target), parent, base, 0); err != nil {
		return fmt.Errorf("hard link to %q: %w", linkname, err)
	}
	return nil
}

// meta applies owner, mode, xattrs and times. Owner goes first: chown clears setuid bits and file capabilities.
func (u *unpacker) meta(parent int, base string, hdr *tar.Header, chmod bool) error {
	if u.chown {
		if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if chmod {
		if err := unix.Fchmodat(parent, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		if err := setXattrs(procPath(parent, base), hdr); err != nil {
			return err
		}
	}
	mtime := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	atime := mtime
	if !hdr.AccessTime.IsZero() {
		atime = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
	}
	if err := unix.UtimesNanoAt(parent, base, []unix.Timespec{atime, mtime}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("times: %w", err)
	}
	return nil
}

// setXattrs applies the tar's extended attributes where the filesystem and our privileges allow.
func setXattrs(p string, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok || strings.HasPrefix(attr, overlayXattrs) {
			continue
		}
		err := unix.Lsetxattr(p, attr, []byte(v), 0)
		if err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("xattr %s: %w", attr, err)
		}
	}
	return nil
}

// finishDirs sets directories' metadata once their contents exist, deepest first.
func (u *unpacker) finishDirs() error {
	for i := len(u.dirs) - 1; i >= 0; i-- {
		hdr := u.dirs[i]
		name := cleanName(hdr.Name)
		if name == "" {
			name = "."
		}
		parent, err := u.resolve(path.Dir(name))
		if err != nil {
			return fmt.Errorf("directory %q: %w", hdr.Name, err)
		}
		base := path.Base(name)
		var st unix.Stat_t
		err = unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = u.meta(parent, base, hdr, true)
		} else if errors.Is(err, unix.ENOENT) || err == nil {
			err = nil // replaced or removed by a later entry
		}
		unix.Close(parent)
		if err != nil {
			return fmt.Errorf("directory %q: %w", hdr.Name, err)
		}
	}
	return nil
}

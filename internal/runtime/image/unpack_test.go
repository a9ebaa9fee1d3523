package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacking whiteouts, device nodes and owners")
	}
}

// unpackEntries unpacks a tar of entries into a fresh directory and returns it.
func unpackEntries(t *testing.T, entries ...imagetest.Entry) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layer")
	return dir, unpackInto(t, dir, entries...)
}

func unpackInto(t *testing.T, dir string, entries ...imagetest.Entry) error {
	t.Helper()
	data := imagetest.LayerTar(t, entries...)
	sum := sha256.Sum256(data)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := unpackLayer(context.Background(), bytes.NewReader(data), dir, "sha256:"+hex.EncodeToString(sum[:]))
	return err
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

func TestUnpackFileKinds(t *testing.T) {
	requireRoot(t)
	dir, err := unpackEntries(t,
		imagetest.Dir("etc", 0o750),
		imagetest.Entry{Name: "etc/owned", Body: "x", Mode: 0o4755, Uid: 1234, Gid: 5678},
		imagetest.Entry{Name: "etc/attr", Body: "y", Mode: 0o644, Xattrs: map[string]string{"user.peapod": "yes", "trusted.overlay.redirect": "/evil"}},
		imagetest.Hardlink("etc/link", "etc/owned"),
		imagetest.Symlink("etc/sym", "../owned"),
		imagetest.Entry{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		imagetest.Entry{Name: "dev/fifo", Type: tar.TypeFifo, Mode: 0o600},
		imagetest.File("deep/er/file", "z", 0o600), // parents not listed in the tar
	)
	if err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, filepath.Join(dir, "etc")); st.Mode&0o7777 != 0o750 {
		t.Errorf("etc mode %o, want 750", st.Mode&0o7777)
	}
	owned := lstat(t, filepath.Join(dir, "etc/owned"))
	if owned.Uid != 1234 || owned.Gid != 5678 || owned.Mode&0o7777 != 0o4755 {
		t.Errorf("etc/owned uid %d gid %d mode %o, want 1234 5678 4755", owned.Uid, owned.Gid, owned.Mode&0o7777)
	}
	if mt := owned.Mtim; mt.Sec != imagetest.Epoch().Unix() {
		t.Errorf("etc/owned mtime %d, want %d", mt.Sec, imagetest.Epoch().Unix())
	}
	if link := lstat(t, filepath.Join(dir, "etc/link")); link.Ino != owned.Ino {
		t.Errorf("etc/link is not a hard link of etc/owned")
	}
	if target, err := os.Readlink(filepath.Join(dir, "etc/sym")); err != nil || target != "../owned" {
		t.Errorf("etc/sym -> %q, %v", target, err)
	}
	if st := lstat(t, filepath.Join(dir, "dev/null")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null mode %o rdev %d", st.Mode, st.Rdev)
	}
	if st := lstat(t, filepath.Join(dir, "dev/fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("dev/fifo mode %o", st.Mode)
	}
	if st := lstat(t, filepath.Join(dir, "deep/er")); st.Mode&0o777 != 0o755 {
		t.Errorf("implied directory mode %o, want 755", st.Mode&0o777)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "etc/attr"), "user.peapod", buf); err != nil {
		t.Logf("user xattrs unsupported here: %v", err)
	} else if string(buf[:n]) != "yes" {
		t.Errorf("user.peapod = %q", buf[:n])
	}
	if _, err := unix.Lgetxattr(filepath.Join(dir, "etc/attr"), "trusted.overlay.redirect", buf); err == nil {
		t.Error("an overlay xattr from the tar was applied")
	}
}

func TestUnpackWhiteouts(t *testing.T) {
	requireRoot(t)
	dir, err := unpackEntries(t,
		imagetest.Whiteout("etc/gone"),
		imagetest.Opaque("var/cache"),
		imagetest.File("var/cache/new", "n", 0o644),
		imagetest.Entry{Name: "var/.wh..wh.plnk", Mode: 0o644},
	)
	if err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, filepath.Join(dir, "etc/gone")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout is mode %o rdev %d, want a 0:0 char device", st.Mode, st.Rdev)
	}
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(filepath.Join(dir, "var/cache"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr = %q, %v", buf[:n], err)
	}
	for _, p := range []string{"etc/.wh.gone", "var/cache/.wh..wh..opq", "var/.wh..wh.plnk"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s was written as a file", p)
		}
	}
}

// TestUnpackStaysInside feeds tars that try to write outside the layer directory; whatever each does, nothing
// may appear next to the layer.
func TestUnpackStaysInside(t *testing.T) {
	tests := []struct {
		name    string
		entries []imagetest.Entry
	}{
		{"dotdot", []imagetest.Entry{imagetest.File("../escaped", "x", 0o644)}},
		{"deep dotdot", []imagetest.Entry{imagetest.File("a/../../../escaped", "x", 0o644)}},
		{"absolute symlink dir", []imagetest.Entry{
			imagetest.Symlink("link", "/"), imagetest.File("link/escaped", "x", 0o644)}},
		{"relative symlink dir", []imagetest.Entry{
			imagetest.Symlink("link", "../.."), imagetest.File("link/escaped", "x", 0o644)}},
		{"symlink chain", []imagetest.Entry{
			imagetest.Symlink("a", "b/../../"), imagetest.Dir("b", 0o755), imagetest.File("a/escaped", "x", 0o644)}},
		{"hardlink out", []imagetest.Entry{imagetest.Hardlink("escaped", "../victim")}},
		{"hardlink via symlink", []imagetest.Entry{
			imagetest.Symlink("up", ".."), imagetest.Hardlink("escaped", "up/victim")}},
		{"whiteout via symlink", []imagetest.Entry{
			imagetest.Symlink("up", ".."), imagetest.Whiteout("up/victim")}},
		{"opaque via symlink", []imagetest.Entry{
			imagetest.Symlink("up", ".."), imagetest.Opaque("up")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			victim := filepath.Join(parent, "victim")
			if err := os.WriteFile(victim, []byte("safe"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := unpackInto(t, filepath.Join(parent, "layer"), tt.entries...)
			t.Logf("unpack: %v", err)
			if _, err := os.Stat(filepath.Join(parent, "escaped")); err == nil {
				t.Fatal("a file was written outside the layer")
			}
			if _, err := os.Lstat("/escaped"); err == nil {
				t.Fatal("a file was written at /")
			}
			if st := lstat(t, victim); st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
				t.Fatalf("the file next to the layer changed: mode %o, %d links", st.Mode, st.Nlink)
			}
			buf := make([]byte, 4)
			if _, err := unix.Lgetxattr(parent, "trusted.overlay.opaque", buf); err == nil {
				t.Fatal("the parent of the layer was marked opaque")
			}
		})
	}
}

func TestUnpackChecksDiffID(t *testing.T) {
	data := imagetest.LayerTar(t, imagetest.File("a", "b", 0o644))
	dir := t.TempDir()
	_, err := unpackLayer(context.Background(), bytes.NewReader(data), dir, "sha256:"+strings.Repeat("0", 64))
	if err == nil || !strings.Contains(err.Error(), "the image config says") {
		t.Fatalf("unpack of a tar with the wrong diffID: %v", err)
	}
}

func TestUnpackReplacesEntries(t *testing.T) {
	requireRoot(t)
	dir, err := unpackEntries(t,
		imagetest.File("a", "first", 0o644),
		imagetest.File("a", "second", 0o644),
		imagetest.Dir("d", 0o755),
		imagetest.File("d/x", "x", 0o644),
		imagetest.Symlink("d", "a"), // a directory replaced by a symlink
	)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "second" {
		t.Errorf("a = %q, want the later entry", b)
	}
	if target, err := os.Readlink(filepath.Join(dir, "d")); err != nil || target != "a" {
		t.Errorf("d -> %q, %v", target, err)
	}
}

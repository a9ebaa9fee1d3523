package volume

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// firstBlockDevice finds a block device node in /dev, or "".
func firstBlockDevice() string {
	entries, err := os.ReadDir("/dev")
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if e.Type()&os.ModeDevice != 0 && e.Type()&os.ModeCharDevice == 0 {
			return filepath.Join("/dev", e.Name())
		}
	}
	return ""
}

func TestCheckHostPath(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	base := t.TempDir()
	dir := filepath.Join(base, "dir")
	file := filepath.Join(base, "file")
	sock := filepath.Join(base, "sock")
	link := filepath.Join(base, "link-to-dir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	block := firstBlockDevice()

	tests := []struct {
		name    string
		path    string
		typ     *v1.HostPathType
		wantErr string
		skip    bool
	}{
		{name: "no type", path: filepath.Join(base, "missing")},
		{name: "empty type", path: filepath.Join(base, "missing"), typ: ptr(v1.HostPathUnset)},
		{name: "Directory", path: dir, typ: ptr(v1.HostPathDirectory)},
		{name: "Directory through a symlink", path: link, typ: ptr(v1.HostPathDirectory)},
		{name: "Directory missing", path: "/x-peapod-missing", typ: ptr(v1.HostPathDirectory),
			wantErr: "hostPath type check failed: /x-peapod-missing is not a directory"},
		{name: "Directory is a file", path: file, typ: ptr(v1.HostPathDirectory),
			wantErr: "hostPath type check failed: " + file + " is not a directory"},
		{name: "DirectoryOrCreate existing", path: dir, typ: ptr(v1.HostPathDirectoryOrCreate)},
		{name: "DirectoryOrCreate on a file", path: file, typ: ptr(v1.HostPathDirectoryOrCreate),
			wantErr: "hostPath type check failed: " + file + " is not a directory"},
		{name: "File", path: file, typ: ptr(v1.HostPathFile)},
		{name: "File is a directory", path: dir, typ: ptr(v1.HostPathFile),
			wantErr: "hostPath type check failed: " + dir + " is not a file"},
		{name: "FileOrCreate existing", path: file, typ: ptr(v1.HostPathFileOrCreate)},
		{name: "FileOrCreate on a directory", path: dir, typ: ptr(v1.HostPathFileOrCreate),
			wantErr: "hostPath type check failed: " + dir + " is not a file"},
		{name: "Socket", path: sock, typ: ptr(v1.HostPathSocket)},
		{name: "Socket is a file", path: file, typ: ptr(v1.HostPathSocket),
			wantErr: "hostPath type check failed: " + file + " is not a socket file"},
		{name: "CharDevice", path: "/dev/null", typ: ptr(v1.HostPathCharDev)},
		{name: "CharDevice is a directory", path: dir, typ: ptr(v1.HostPathCharDev),
			wantErr: "hostPath type check failed: " + dir + " is not a character device"},
		{name: "BlockDevice", path: block, typ: ptr(v1.HostPathBlockDev), skip: block == ""},
		{name: "BlockDevice is a char device", path: "/dev/null", typ: ptr(v1.HostPathBlockDev),
			wantErr: "hostPath type check failed: /dev/null is not a block device"},
		{name: "unknown type", path: dir, typ: ptr(v1.HostPathType("Pipe")), wantErr: "Pipe is an invalid volume type"},
		{name: "backsteps", path: "/var/../etc", typ: ptr(v1.HostPathDirectory), wantErr: "invalid HostPath `/var/../etc`: must not contain '..'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("no block device in /dev")
			}
			err := CheckHostPath(&v1.HostPathVolumeSource{Path: tt.path, Type: tt.typ})
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckHostPathCreates(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	base := t.TempDir()

	newDir := filepath.Join(base, "a", "b")
	if err := CheckHostPath(&v1.HostPathVolumeSource{Path: newDir, Type: ptr(v1.HostPathDirectoryOrCreate)}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(newDir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("DirectoryOrCreate made %v (%v), want a 0755 directory", fi.Mode(), err)
	}

	newFile := filepath.Join(base, "f")
	if err := CheckHostPath(&v1.HostPathVolumeSource{Path: newFile, Type: ptr(v1.HostPathFileOrCreate)}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(newFile); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 || fi.Size() != 0 {
		t.Errorf("FileOrCreate made %v (%v), want an empty 0644 file", fi.Mode(), err)
	}

	// Like the kubelet, FileOrCreate does not create the parent directory.
	orphan := filepath.Join(base, "no-parent", "f")
	if err := CheckHostPath(&v1.HostPathVolumeSource{Path: orphan, Type: ptr(v1.HostPathFileOrCreate)}); err == nil {
		t.Error("FileOrCreate under a missing parent succeeded")
	}
}

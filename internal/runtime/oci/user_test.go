package oci

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1001:app:/home/app:/bin/sh\nbad:line\n",
		"etc/group":  "root:x:0:\nwheel:x:10:root,app\nappgrp:x:1001:\naudio:x:29:app\nstaff:x:50:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		user    string
		want    User
		wantErr bool
	}{
		{"", User{UID: 0, GID: 0, AdditionalGids: []uint32{10}}, false},
		{"root", User{UID: 0, GID: 0, AdditionalGids: []uint32{10}}, false},
		{"app", User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 29}}, false},
		{"1000", User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 29}}, false},
		{"app:staff", User{UID: 1000, GID: 50, AdditionalGids: []uint32{10, 29}}, false},
		{"app:10", User{UID: 1000, GID: 10, AdditionalGids: []uint32{29}}, false},
		{"1234", User{UID: 1234, GID: 0}, false},
		{"1234:5678", User{UID: 1234, GID: 5678}, false},
		{"ghost", User{}, true},
		{"app:ghosts", User{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got, err := ResolveUser(root, tt.user)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got.UID != tt.want.UID || got.GID != tt.want.GID || !slices.Equal(got.AdditionalGids, tt.want.AdditionalGids) {
				t.Errorf("ResolveUser(%q) = %+v, want %+v", tt.user, got, tt.want)
			}
		})
	}
}

func TestResolveUserStaysInRootfs(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An image's absolute link must resolve inside the rootfs, not to the host's /etc/passwd.
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveUser(root, "root"); err == nil {
		t.Error("resolved root through a link out of the rootfs")
	}
	if u, err := ResolveUser(t.TempDir(), "42:7"); err != nil || u.UID != 42 || u.GID != 7 {
		t.Errorf("numeric user without /etc: %+v, %v", u, err)
	}
}

package image

import (
	"encoding/base64"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeyringLookup(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	dockerconfigjson := []byte(`{"auths": {
		"registry.example.com": {"username": "plain", "password": "p1"},
		"registry.example.com/team": {"auth": "` + b64("team:p2") + `"},
		"*.corp.example": {"auth": "` + b64("glob:p3") + `"},
		"https://index.docker.io/v1/": {"auth": "` + b64("hub:p4") + `"},
		"localhost:5000": {"username": "local", "password": "p5"}
	}}`)
	dockercfg := []byte(`{"quay.io": {"auth": "` + b64("quay:p6") + `", "email": "x@example.com"}}`)
	kr, err := parseKeyring([][]byte{dockerconfigjson, dockercfg})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		repo  string
		users []string
	}{
		{"registry.example.com/app", []string{"plain"}},
		{"registry.example.com/team/app", []string{"team", "plain"}},
		{"eu.corp.example/app", []string{"glob"}},
		{"a.b.corp.example/app", nil}, // a glob segment matches one label only
		{"docker.io/library/busybox", []string{"hub"}},
		{"localhost:5000/app", []string{"local"}},
		{"localhost:5001/app", nil},
		{"quay.io/org/app", []string{"quay"}},
		{"ghcr.io/org/app", nil},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			var users []string
			for _, c := range kr.lookup(tt.repo) {
				users = append(users, c.Username)
			}
			if diff := cmp.Diff(tt.users, users); diff != "" {
				t.Errorf("lookup(%q) users (-want +got):\n%s", tt.repo, diff)
			}
		})
	}
}

func TestKeyringRejectsBadPayloads(t *testing.T) {
	for _, p := range []string{`not json`, `{"auths": {"r.io": {"auth": "!!!"}}}`, `{"r.io": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("nocolon")) + `"}}`} {
		if _, err := parseKeyring([][]byte{[]byte(p)}); err == nil {
			t.Errorf("parseKeyring(%s) succeeded", p)
		}
	}
}

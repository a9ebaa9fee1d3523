package image

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestParseReference(t *testing.T) {
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in, want, repo, registry string
	}{
		{"busybox", "docker.io/library/busybox:latest", "docker.io/library/busybox", "docker.io"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "docker.io/library/busybox", "docker.io"},
		{"library/busybox", "docker.io/library/busybox:latest", "docker.io/library/busybox", "docker.io"},
		{"docker.io/busybox", "docker.io/library/busybox:latest", "docker.io/library/busybox", "docker.io"},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "docker.io/library/busybox", "docker.io"},
		{"user/app:v1", "docker.io/user/app:v1", "docker.io/user/app", "docker.io"},
		{"registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", "registry.k8s.io/pause", "registry.k8s.io"},
		{"localhost:5000/a/b/c", "localhost:5000/a/b/c:latest", "localhost:5000/a/b/c", "localhost:5000"},
		{"busybox@" + dgst, "docker.io/library/busybox@" + dgst, "docker.io/library/busybox", "docker.io"},
		{"busybox:1.36@" + dgst, "docker.io/library/busybox@" + dgst, "docker.io/library/busybox", "docker.io"},
		{"127.0.0.1:5000/x:y", "127.0.0.1:5000/x:y", "127.0.0.1:5000/x", "127.0.0.1:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseReference(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tt.want || r.Repository() != tt.repo || r.Registry() != tt.registry {
				t.Errorf("got %q repo %q registry %q, want %q %q %q", r.String(), r.Repository(), r.Registry(), tt.want, tt.repo, tt.registry)
			}
		})
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	for _, in := range []string{"", "Busybox", "busybox:", "busybox@sha256:123", " busybox", "a//b", "sha256:" + "ab", "busy box"} {
		t.Run(in, func(t *testing.T) {
			if _, err := ParseReference(in); !errors.Is(err, ErrInvalidReference) {
				t.Errorf("ParseReference(%q) = %v, want ErrInvalidReference", in, err)
			}
		})
	}
}

func TestPlainHTTPAllowed(t *testing.T) {
	insecure := []string{"registry.lan:5000", "10.0.0.7"}
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost:5000", true},
		{"127.0.0.1:5000", true},
		{"127.1.2.3", true},
		{"[::1]:5000", true},
		{"registry.lan:5000", true},
		{"registry.lan", false},
		{"10.0.0.7", true},
		{"10.0.0.7:5000", true},
		{"10.0.0.8:5000", false},
		{"192.168.1.1:5000", false},
		{"docker.io", false},
	}
	for _, tt := range tests {
		if got := plainHTTPAllowed(tt.host, insecure); got != tt.want {
			t.Errorf("plainHTTPAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

// refuseTransport fails the test if a request gets through the guard.
type refuseTransport struct{ t *testing.T }

func (r refuseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.t.Errorf("request to %s was let through", req.URL)
	return nil, errors.New("refused by the test")
}

func TestSchemeGuard(t *testing.T) {
	g := &schemeGuard{next: refuseTransport{t}, insecure: []string{"registry.lan:5000"}}
	// go-containerregistry would fall back to plain HTTP for private addresses; the guard must stop it before any
	// packet leaves (the transport below fails the test if reached).
	for _, u := range []string{"http://10.1.2.3:5000/v2/", "http://192.168.0.10/v2/", "http://registry.lan:5001/v2/"} {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing plain HTTP") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

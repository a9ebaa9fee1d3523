package image

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrInvalidReference marks a reference that cannot name an image (Kubernetes' InvalidImageName).
var ErrInvalidReference = errors.New("invalid image reference")

// dockerHub is the registry host the kubelet and docker print for Docker Hub images; go-containerregistry
// spells it index.docker.io internally.
const dockerHub = "docker.io"

// Reference is a parsed, normalised image reference.
type Reference struct {
	ref name.Reference
}

// ParseReference normalises s as the kubelet and docker do: a missing registry is docker.io, a one-part Docker
// Hub repository gets library/, a missing tag is :latest; a digest wins over a tag.
func ParseReference(s string) (Reference, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return Reference{}, fmt.Errorf("%w %q", ErrInvalidReference, s)
	}
	// An image ID is not a reference to pull; reject the bare forms go-containerregistry would read as a
	// repository called "sha256".
	if strings.HasPrefix(s, "sha256:") {
		return Reference{}, fmt.Errorf("%w %q: an image ID, not a repository", ErrInvalidReference, s)
	}
	r, err := name.ParseReference(s, name.WithDefaultRegistry(name.DefaultRegistry), name.WithDefaultTag("latest"))
	if err != nil {
		return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, s, err)
	}
	for _, c := range strings.Split(r.Context().RepositoryStr(), "/") {
		if !pathComponent.MatchString(c) {
			return Reference{}, fmt.Errorf("%w %q: repository path component %q", ErrInvalidReference, s, c)
		}
	}
	return Reference{ref: r}, nil
}

// pathComponent is the distribution reference grammar for one repository path component, which is stricter
// than go-containerregistry's character check (no empty components, separators only between alphanumerics).
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// String is the normalised reference, e.g. docker.io/library/busybox:latest or
// docker.io/library/busybox@sha256:....
func (r Reference) String() string {
	switch v := r.ref.(type) {
	case name.Digest:
		return r.Repository() + "@" + v.DigestStr()
	case name.Tag:
		return r.Repository() + ":" + v.TagStr()
	}
	return r.ref.Name()
}

// Repository is the normalised repository, e.g. docker.io/library/busybox.
func (r Reference) Repository() string {
	return canonicalRepository(r.ref.Context())
}

// Registry is the registry host as written in the reference (docker.io for Docker Hub).
func (r Reference) Registry() string {
	reg := r.ref.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		return dockerHub
	}
	return reg
}

// Digest is the digest of a digest reference, "" for a tag.
func (r Reference) Digest() string {
	if d, ok := r.ref.(name.Digest); ok {
		return d.DigestStr()
	}
	return ""
}

// digestRef is the repository's reference to a manifest digest, the form the kubelet reports as imageID.
func (r Reference) digestRef(digest string) string {
	return r.Repository() + "@" + digest
}

func canonicalRepository(repo name.Repository) string {
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	return reg + "/" + repo.RepositoryStr()
}

// plainHTTPAllowed says whether a registry may be reached without TLS: loopback registries always, others only
// when listed as insecure (host:port for that port, a bare host for any port).
func plainHTTPAllowed(registry string, insecure []string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	for _, h := range insecure {
		if strings.EqualFold(h, registry) || strings.EqualFold(strings.Trim(h, "[]"), host) {
			return true
		}
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package image

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// keyring holds registry credentials from Kubernetes pull-secret payloads and matches them to images the way
// the kubelet's credential provider does: keys are URL-like globs (host segments may use *), the port must
// match, the key's path must prefix the image's path, longer keys first; Docker Hub keys
// (index.docker.io, https://index.docker.io/v1/) serve docker.io images.
type keyring struct {
	keys  []string // sorted, longest (most specific) first
	creds map[string][]authn.AuthConfig
}

// dockerConfigEntry is one registry's entry in a .dockercfg or .dockerconfigjson payload.
type dockerConfigEntry struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// parseKeyring reads payloads of kubernetes.io/dockerconfigjson ({"auths": {...}}) and kubernetes.io/dockercfg
// ({host: entry}) Secrets, in the order given: earlier payloads' credentials are tried first.
func parseKeyring(payloads [][]byte) (*keyring, error) {
	kr := &keyring{creds: map[string][]authn.AuthConfig{}}
	for i, p := range payloads {
		cfg, err := decodeDockerConfig(p)
		if err != nil {
			return nil, fmt.Errorf("pull secret %d: %w", i, err)
		}
		// Map order is random; sort so that the order of credentials for one key is stable.
		locs := make([]string, 0, len(cfg))
		for loc := range cfg {
			locs = append(locs, loc)
		}
		sort.Strings(locs)
		for _, loc := range locs {
			ac, err := cfg[loc].authConfig()
			if err != nil {
				return nil, fmt.Errorf("pull secret %d, registry %q: %w", i, loc, err)
			}
			key, err := credentialKey(loc)
			if err != nil {
				continue // the kubelet skips entries it cannot parse, too
			}
			if _, seen := kr.creds[key]; !seen {
				kr.keys = append(kr.keys, key)
			}
			kr.creds[key] = append(kr.creds[key], ac)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(kr.keys)))
	return kr, nil
}

func decodeDockerConfig(p []byte) (map[string]dockerConfigEntry, error) {
	var wrapped struct {
		Auths map[string]dockerConfigEntry `json:"auths"`
	}
	if err := json.Unmarshal(p, &wrapped); err == nil && wrapped.Auths != nil {
		return wrapped.Auths, nil
	}
	var flat map[string]dockerConfigEntry
	if err := json.Unmarshal(p, &flat); err != nil {
		return nil, fmt.Errorf("neither a .dockerconfigjson nor a .dockercfg payload: %w", err)
	}
	return flat, nil
}

func (e dockerConfigEntry) authConfig() (authn.AuthConfig, error) {
	ac := authn.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken}
	if e.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return ac, fmt.Errorf("auth is not base64: %w", err)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return ac, fmt.Errorf("auth is not user:password")
		}
		ac.Username, ac.Password = user, pass
	}
	return ac, nil
}

// credentialKey turns a config location into host[:port][/path], dropping a scheme and the /v1/ or /v2/ API
// prefix docker writes.
func credentialKey(loc string) (string, error) {
	v := loc
	if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", err
	}
	p := u.Path
	if strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v2/") {
		p = p[3:]
	}
	if p == "" || p == "/" {
		return u.Host, nil
	}
	return u.Host + p, nil
}

// lookup returns the credentials to try for a normalised repository such as docker.io/library/busybox, most
// specific first; none means pull anonymously.
func (kr *keyring) lookup(repository string) []authn.AuthConfig {
	var out []authn.AuthConfig
	for _, k := range kr.keys {
		if keyMatches(k, repository) {
			out = append(out, kr.creds[k]...)
		}
	}
	if len(out) == 0 && strings.HasPrefix(repository, dockerHub+"/") {
		out = append(out, kr.creds["index.docker.io"]...)
	}
	return out
}

// keyMatches compares a credential key with a repository: host segments by glob, ports exactly, path by prefix.
func keyMatches(key, repository string) bool {
	ku, err := url.Parse("https://" + key)
	if err != nil {
		return false
	}
	ru, err := url.Parse("https://" + repository)
	if err != nil {
		return false
	}
	if ku.Port() != ru.Port() {
		return false
	}
	kh, rh := strings.Split(ku.Hostname(), "."), strings.Split(ru.Hostname(), ".")
	if len(kh) != len(rh) {
		return false
	}
	for i := range kh {
		if ok, _ := filepath.Match(kh[i], rh[i]); !ok {
			return false
		}
	}
	return strings.HasPrefix(ru.Path, ku.Path)
}

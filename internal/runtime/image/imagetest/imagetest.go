// Package imagetest builds real OCI images and serves them from a real registry for tests: a busybox image made
// from the host's busybox-static, variants with other configs and extra layers, a go-containerregistry registry
// on 127.0.0.1 (optionally behind HTTP basic auth), and docker-archive / OCI archive files.
package imagetest

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is where Debian's busybox-static installs the static binary.
const BusyboxPath = "/bin/busybox"

// Applets are the busybox applets linked into the image's /bin.
func Applets() []string {
	return []string{
		"sh", "ash", "ls", "cat", "echo", "sleep", "httpd", "nc", "ps", "wget", "hostname", "ip", "ifconfig", "env",
		"id", "whoami", "mkdir", "rm", "touch", "test", "[", "true", "false", "kill", "mount", "df", "grep", "sed",
		"head", "tail", "wc", "date", "pwd", "cp", "mv", "ln", "chmod", "stat", "dd", "nslookup", "ping", "top",
		"uname", "printenv", "seq", "tee", "xargs", "find", "awk", "vi", "tr", "cut", "sort", "uniq", "expr",
		"timeout", "watch", "yes", "netstat", "route", "traceroute", "telnet", "free", "uptime", "dmesg", "sync",
	}
}

// Epoch is the modification time of every file the package builds, so that images are reproducible: the same
// content always gives the same diffIDs and digests.
func Epoch() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }

// Entry is one file of a layer built by Layer.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg when zero
	Mode     int64
	Body     string
	Linkname string
	Uid, Gid int
	Xattrs   map[string]string
	Devmajor int64
	Devminor int64
}

// File is a regular file entry.
func File(name, body string, mode int64) Entry { return Entry{Name: name, Body: body, Mode: mode} }

// Dir is a directory entry.
func Dir(name string, mode int64) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: mode} }

// Symlink is a symbolic link entry.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Linkname: target, Mode: 0o777}
}

// Hardlink is a hard link entry to an earlier entry of the same layer.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Linkname: target}
}

// Whiteout deletes path (a file or directory of a lower layer), OCI style.
func Whiteout(path string) Entry {
	dir, base := filepath.Split(path)
	return Entry{Name: dir + ".wh." + base, Mode: 0o644}
}

// Opaque hides everything lower layers have in dir, OCI style.
func Opaque(dir string) Entry { return Entry{Name: filepath.Join(dir, ".wh..wh..opq"), Mode: 0o644} }

// LayerTar returns the uncompressed tar of entries.
func LayerTar(tb testing.TB, entries ...Entry) []byte {
	tb.Helper()
	data, err := layerTar(entries)
	if err != nil {
		tb.Fatalf("imagetest: %v", err)
	}
	return data
}

func layerTar(entries []Entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{
			Name: e.Name, Typeflag: typ, Mode: e.Mode, Linkname: e.Linkname, Uid: e.Uid, Gid: e.Gid,
			ModTime: Epoch(), Devmajor: e.Devmajor, Devminor: e.Devminor, Format: tar.FormatPAX,
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		for k, v := range e.Xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", e.Name, err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.Body); err != nil {
				return nil, fmt.Errorf("tar body %s: %w", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Layer returns a gzip-compressed OCI layer of entries.
func Layer(tb testing.TB, entries ...Entry) v1.Layer {
	tb.Helper()
	l, err := layer(entries)
	if err != nil {
		tb.Fatalf("imagetest: %v", err)
	}
	return l
}

func layer(entries []Entry) (v1.Layer, error) {
	data, err := layerTar(entries)
	if err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return l, nil
}

// BusyboxLayer is the base layer: /bin/busybox with applet links, /etc/passwd, /etc/group and the usual
// top-level directories.
func BusyboxLayer(tb testing.TB) v1.Layer {
	tb.Helper()
	if _, err := os.Stat(BusyboxPath); err != nil {
		tb.Skipf("imagetest: busybox-static is needed (apt-get install busybox-static): %v", err)
	}
	l, err := busyboxLayer()
	if err != nil {
		tb.Fatalf("imagetest: %v", err)
	}
	return l
}

func busyboxLayer() (v1.Layer, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox-static is needed (apt-get install busybox-static): %w", err)
	}
	entries := []Entry{
		Dir("bin", 0o755), Dir("etc", 0o755), Dir("root", 0o700), Dir("tmp", 0o1777), Dir("var", 0o755),
		Dir("proc", 0o555), Dir("sys", 0o555), Dir("dev", 0o755), Dir("home", 0o755),
		{Name: "bin/busybox", Body: string(bin), Mode: 0o755},
		File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"+
			"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644),
		File("etc/group", "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n", 0o644),
		File("etc/hostname", "busybox\n", 0o644),
	}
	for _, a := range Applets() {
		entries = append(entries, Symlink("bin/"+a, "busybox"))
	}
	return layer(entries)
}

// Config is the runtime configuration of a Variant; zero fields keep the base image's.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string // replaces the base's Env when set
	User         string
	WorkingDir   string
	StopSignal   string
	ExposedPorts []string // "80/tcp"
	Labels       map[string]string
	// Layers are added on top of the base's.
	Layers []v1.Layer
	// Platform overrides os/architecture/variant.
	Platform *v1.Platform
}

// Busybox returns an OCI image of busybox-static: Cmd ["sh"], PATH in Env, linux/amd64 (the host's binary).
func Busybox(tb testing.TB) v1.Image {
	tb.Helper()
	if _, err := os.Stat(BusyboxPath); err != nil {
		tb.Skipf("imagetest: busybox-static is needed (apt-get install busybox-static): %v", err)
	}
	img, err := BusyboxImage()
	if err != nil {
		tb.Fatalf("imagetest: %v", err)
	}
	return img
}

// BusyboxImage is Busybox for programs (the quickstart's image builder): errors are returned.
func BusyboxImage() (v1.Image, error) {
	l, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, l)
	if err != nil {
		return nil, fmt.Errorf("busybox: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("busybox: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: Epoch()}
	cf.Config.Cmd = []string{"sh"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("busybox: %w", err)
	}
	return img, nil
}

// Variant returns base with cfg applied and cfg.Layers on top.
func Variant(tb testing.TB, base v1.Image, cfg Config) v1.Image {
	tb.Helper()
	img := base
	var err error
	if len(cfg.Layers) > 0 {
		if img, err = mutate.AppendLayers(img, cfg.Layers...); err != nil {
			tb.Fatalf("imagetest: variant: %v", err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatalf("imagetest: variant: %v", err)
	}
	cf = cf.DeepCopy()
	c := &cf.Config
	if cfg.Entrypoint != nil {
		c.Entrypoint = cfg.Entrypoint
	}
	if cfg.Cmd != nil {
		c.Cmd = cfg.Cmd
	}
	if cfg.Env != nil {
		c.Env = cfg.Env
	}
	if cfg.User != "" {
		c.User = cfg.User
	}
	if cfg.WorkingDir != "" {
		c.WorkingDir = cfg.WorkingDir
	}
	if cfg.StopSignal != "" {
		c.StopSignal = cfg.StopSignal
	}
	for _, p := range cfg.ExposedPorts {
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[p] = struct{}{}
	}
	for k, v := range cfg.Labels {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	if p := cfg.Platform; p != nil {
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		tb.Fatalf("imagetest: variant: %v", err)
	}
	return img
}

// Index returns a multi-platform OCI index of imgs, each under the platform its config names.
func Index(tb testing.TB, imgs ...v1.Image) v1.ImageIndex {
	tb.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			tb.Fatalf("imagetest: index: %v", err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: cf.Platform()},
		})
	}
	return idx
}

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	// Username and Password, when set, put every request behind HTTP basic auth.
	Username, Password string
}

// StartRegistry serves an in-memory registry on 127.0.0.1 until the test ends and returns its host:port.
func StartRegistry(tb testing.TB, opts RegistryOptions) string {
	tb.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if opts.Username != "" {
		h = basicAuth(h, opts.Username, opts.Password)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// basicAuth answers like a real registry: a challenge on /v2/ and a registry error body for bad credentials.
func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="imagetest"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Push writes an image or index to host as ref ("repo:tag" or "repo@digest"-less "repo") and returns the
// pushed manifest's digest. Pass remote.WithAuth for a registry behind auth.
func Push(tb testing.TB, host, ref string, artifact any, opts ...remote.Option) string {
	tb.Helper()
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		tb.Fatalf("imagetest: push %s: %v", ref, err)
	}
	var digest v1.Hash
	switch a := artifact.(type) {
	case v1.Image:
		err = remote.Write(r, a, opts...)
		if err == nil {
			digest, err = a.Digest()
		}
	case v1.ImageIndex:
		err = remote.WriteIndex(r, a, opts...)
		if err == nil {
			digest, err = a.Digest()
		}
	default:
		err = fmt.Errorf("cannot push a %T", artifact)
	}
	if err != nil {
		tb.Fatalf("imagetest: push %s: %v", ref, err)
	}
	return digest.String()
}

// WithBasicAuth is the remote option for pushing to a registry started with credentials.
func WithBasicAuth(user, pass string) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: user, Password: pass})
}

// DockerConfigJSON is a kubernetes.io/dockerconfigjson Secret's .dockerconfigjson for one registry.
func DockerConfigJSON(registryHost, user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	data, _ := json.Marshal(map[string]any{
		"auths": map[string]any{registryHost: map[string]string{"username": user, "password": pass, "auth": auth}},
	})
	return data
}

// WriteDockerArchive writes a `docker save` style tarball holding each image under its tag.
func WriteDockerArchive(tb testing.TB, path string, images map[string]v1.Image) {
	tb.Helper()
	refs := map[name.Reference]v1.Image{}
	for tag, img := range images {
		t, err := name.NewTag(tag)
		if err != nil {
			tb.Fatalf("imagetest: docker archive: %v", err)
		}
		refs[t] = img
	}
	if err := tarball.MultiRefWriteToFile(path, refs); err != nil {
		tb.Fatalf("imagetest: docker archive: %v", err)
	}
}

// WriteOCILayout writes an OCI image layout directory holding each image (or index) annotated with its
// reference, as `ctr export` and `skopeo copy oci:` do.
func WriteOCILayout(tb testing.TB, dir string, artifacts map[string]any) {
	tb.Helper()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		tb.Fatalf("imagetest: OCI layout: %v", err)
	}
	for ref, a := range artifacts {
		ann := layout.WithAnnotations(map[string]string{
			"io.containerd.image.name":          ref,
			"org.opencontainers.image.ref.name": ref,
		})
		switch a := a.(type) {
		case v1.Image:
			err = lp.AppendImage(a, ann)
		case v1.ImageIndex:
			err = lp.AppendIndex(a, ann)
		default:
			err = fmt.Errorf("cannot write a %T", a)
		}
		if err != nil {
			tb.Fatalf("imagetest: OCI layout %s: %v", ref, err)
		}
	}
}

// WriteOCIArchive writes an OCI archive: a tar of an OCI image layout.
func WriteOCIArchive(tb testing.TB, path string, artifacts map[string]any) {
	tb.Helper()
	dir := tb.TempDir()
	WriteOCILayout(tb, dir, artifacts)
	out, err := os.Create(path)
	if err != nil {
		tb.Fatalf("imagetest: OCI archive: %v", err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		tb.Fatalf("imagetest: OCI archive: %v", err)
	}
	if err := tw.Close(); err != nil {
		tb.Fatalf("imagetest: OCI archive: %v", err)
	}
	if err := out.Close(); err != nil {
		tb.Fatalf("imagetest: OCI archive: %v", err)
	}
}

package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// PullOptions are per-pull settings.
type PullOptions struct {
	// PullSecrets are payloads of kubernetes.io/dockerconfigjson (.dockerconfigjson) or kubernetes.io/dockercfg
	// (.dockercfg) Secrets, in the pod's imagePullSecrets order.
	PullSecrets [][]byte
}

// PullResult describes a finished pull.
type PullResult struct {
	Image *Image
	// Duration is how long the pull itself took, and Total how long the call took, including waiting for a
	// pull of the same reference that another caller had started: the two figures of Kubernetes' Pulled event,
	// "Successfully pulled image %q in <Duration> (<Total> including waiting). Image size: <Image.Size> bytes."
	Duration time.Duration
	Total    time.Duration
}

// PullError is a failure to fetch an image from its registry (Kubernetes' ErrImagePull); Err carries the
// registry's own message.
type PullError struct {
	Ref string
	Err error
}

func (e *PullError) Error() string { return fmt.Sprintf("failed to pull image %q: %v", e.Ref, e.Err) }
func (e *PullError) Unwrap() error { return e.Err }

type pullOutcome struct {
	id       string
	duration time.Duration
}

// Pull fetches ref from its registry, unpacks the layers the store lacks and names the image by ref (and by its
// repository digest). Concurrent pulls of one reference with the same credentials share one download; a layer
// another pull is unpacking is awaited, not unpacked twice. Errors wrap ErrInvalidReference or are *PullError.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*PullResult, error) {
	start := time.Now()
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	kr, err := parseKeyring(opts.PullSecrets)
	if err != nil {
		return nil, &PullError{Ref: r.String(), Err: err}
	}
	creds := kr.lookup(r.Repository())
	// Callers with different credentials must not share a pull: one might see an image the other may not.
	h := sha256.New()
	for _, c := range creds {
		fmt.Fprintf(h, "%q %q %q\n", c.Username, c.Password, c.IdentityToken)
	}
	key := r.String() + " " + hex.EncodeToString(h.Sum(nil))
	out, _, err := s.pulls.do(ctx, key, func(ctx context.Context) (*pullOutcome, error) {
		began := time.Now()
		id, err := s.pull(ctx, r, creds)
		return &pullOutcome{id: id, duration: time.Since(began)}, err
	})
	if err != nil {
		var pe *PullError
		if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, &PullError{Ref: r.String(), Err: err}
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	img, err := s.image(idx, out.id)
	if err != nil {
		return nil, err
	}
	total := time.Since(start)
	// A caller that joined a pull under way waited less than the pull took.
	return &PullResult{Image: img, Duration: min(out.duration, total), Total: total}, nil
}

func (s *Store) pull(ctx context.Context, r Reference, creds []authn.AuthConfig) (string, error) {
	nameOpts := []name.Option{name.WithDefaultRegistry(name.DefaultRegistry)}
	if plainHTTPAllowed(r.Registry(), s.opts.InsecureRegistries) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	nref, err := name.ParseReference(r.String(), nameOpts...)
	if err != nil {
		return "", fmt.Errorf("%w %q: %w", ErrInvalidReference, r.String(), err)
	}
	auths := []authn.Authenticator{authn.Anonymous}
	if len(creds) > 0 {
		auths = auths[:0]
		for _, c := range creds {
			auths = append(auths, authn.FromConfig(c))
		}
	}
	tr := &schemeGuard{next: s.opts.Transport, insecure: s.opts.InsecureRegistries}
	var desc *remote.Descriptor
	// Like the kubelet, try each matching credential in turn; only an authentication failure moves on.
	for _, a := range auths {
		desc, err = remote.Get(nref, remote.WithContext(ctx), remote.WithAuth(a), remote.WithTransport(tr),
			remote.WithPlatform(s.platform), remote.WithUserAgent("peapod"))
		if err == nil || !isAuthError(err) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	img, err := desc.Image()
	if err != nil {
		return "", err
	}
	rec, err := s.storeImage(ctx, img, nil)
	if err != nil {
		return "", err
	}
	refs := []string{r.digestRef(desc.Digest.String())}
	if desc.MediaType.IsIndex() {
		rec.Index = desc.Digest.String()
		if err := s.writeBlob(rec.Index, desc.Manifest); err != nil {
			return "", err
		}
	}
	if r.Digest() == "" {
		refs = append(refs, r.String())
	}
	return rec.ID, s.commitRetrying(ctx, img, rec, refs)
}

// commitRetrying commits, unpacking again any layer a concurrent Remove took away meanwhile.
func (s *Store) commitRetrying(ctx context.Context, img v1.Image, rec *record, refs []string) error {
	var err error
	for range 3 {
		err = s.commit(ctx, rec, refs)
		if !errors.Is(err, errLayerGone) {
			return err
		}
		if err = s.storeLayers(ctx, img, rec); err != nil {
			return err
		}
	}
	return err
}

func isAuthError(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden
	}
	return false
}

// storeImage writes an image's config (and manifest) blobs and makes sure all its layers are unpacked. With
// size set, the image is stored without a manifest (docker archives have none) and has that size.
func (s *Store) storeImage(ctx context.Context, img v1.Image, size *int64) (*record, error) {
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	if p := cfg.Platform(); p != nil && p.OS != "" && !p.Satisfies(s.platform) {
		return nil, fmt.Errorf("image is for %s, this node is %s", p, s.platform.String())
	}
	rec := &record{ID: cfgName.String()}
	for _, d := range cfg.RootFS.DiffIDs {
		rec.Layers = append(rec.Layers, d.String())
	}
	var rawManifest []byte
	if size != nil {
		rec.Size = *size
	} else {
		digest, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("image manifest: %w", err)
		}
		if rawManifest, err = img.RawManifest(); err != nil {
			return nil, fmt.Errorf("image manifest: %w", err)
		}
		manifest, err := img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("image manifest: %w", err)
		}
		rec.Manifest, rec.Size = digest.String(), manifest.Config.Size
		for _, l := range manifest.Layers {
			rec.Size += l.Size
		}
	}
	if err := s.storeLayers(ctx, img, rec); err != nil {
		return nil, err
	}
	if rawManifest != nil {
		if err := s.writeBlob(rec.Manifest, rawManifest); err != nil {
			return nil, err
		}
	}
	if err := s.writeBlob(rec.ID, rawCfg); err != nil {
		return nil, err
	}
	return rec, nil
}

// storeLayers unpacks the image's layers the store lacks, a few at a time.
func (s *Store) storeLayers(ctx context.Context, img v1.Image, rec *record) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("image layers: %w", err)
	}
	if len(layers) != len(rec.Layers) {
		return fmt.Errorf("image has %d layers but its config lists %d diffIDs", len(layers), len(rec.Layers))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.LayerJobs)
	for i, l := range layers {
		g.Go(func() error { return s.ensureLayer(gctx, rec.Layers[i], l) })
	}
	return g.Wait()
}

// ensureLayer unpacks a layer unless it is on disk; one unpack per diffID runs at a time in this process, and
// the final rename settles a race with another process.
func (s *Store) ensureLayer(ctx context.Context, diffID string, l v1.Layer) error {
	dir := s.layerDir(diffID)
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	_, _, err := s.layers.do(ctx, diffID, func(ctx context.Context) (struct{}, error) {
		if _, err := os.Stat(dir); err == nil {
			return struct{}{}, nil
		}
		return struct{}{}, s.unpack(ctx, diffID, l, dir)
	})
	return err
}

func (s *Store) unpack(ctx context.Context, diffID string, l v1.Layer, dir string) error {
	tmp, err := s.tempDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return fmt.Errorf("layer %s: %w", diffID, err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", diffID, err)
	}
	defer rc.Close()
	if _, err := unpackLayer(ctx, rc, fsDir, diffID); err != nil {
		return fmt.Errorf("layer %s: %w", diffID, err)
	}
	if err := rc.Close(); err != nil {
		return fmt.Errorf("layer %s: %w", diffID, err)
	}
	// A layer is unpacked once and trusted from then on, so its files must be on disk before its name is:
	// one syncfs costs far less than an fsync per file.
	if err := syncFS(fsDir); err != nil {
		return fmt.Errorf("layer %s: %w", diffID, err)
	}
	if err := os.Rename(fsDir, dir); err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			return nil // another process unpacked it first
		}
		return fmt.Errorf("layer %s: %w", diffID, err)
	}
	return nil
}

func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	return nil
}

// schemeGuard lets go-containerregistry fall back to plain HTTP only for registries we allow it for: its own
// heuristic also accepts private (RFC 1918) addresses.
type schemeGuard struct {
	next     http.RoundTripper
	insecure []string
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !plainHTTPAllowed(req.URL.Host, g.insecure) {
		return nil, fmt.Errorf("refusing plain HTTP to %s: not a loopback or insecure registry", req.URL.Host)
	}
	return g.next.RoundTrip(req)
}

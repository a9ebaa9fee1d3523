package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"
)

// ErrNotFound marks an image that is not present locally (Kubernetes' ErrImageNeverPull under pullPolicy Never).
var ErrNotFound = errors.New("image not present locally")

// Options configure a Store.
type Options struct {
	// InsecureRegistries may be reached over plain HTTP (host or host:port). Loopback registries always may.
	InsecureRegistries []string
	// Platform picks the image from a multi-platform index; the default is linux and this binary's
	// architecture.
	Platform *v1.Platform
	// Transport for registry traffic; the default is remote.DefaultTransport.
	Transport http.RoundTripper
	// LayerJobs bounds the layers of one pull downloaded and unpacked at once; the default is 3.
	LayerJobs int
	// LayersInUse returns the layer directories that container root filesystems use (as
	// snapshot.Snapshotter.LowerDirsInUse does); Remove keeps them and fails with ErrInUse. Nil: none are.
	LayersInUse func() (map[string]bool, error)
}

// ErrInUse marks an image whose layers a container root filesystem still uses: deleting them would pull the
// files out from under a container.
var ErrInUse = errors.New("image in use by a container root filesystem")

// Store is an image store rooted at a directory. It is safe for concurrent use, also by several processes
// sharing the directory.
type Store struct {
	root     string
	opts     Options
	platform v1.Platform
	pulls    flight[*pullOutcome]
	layers   flight[struct{}]
}

// Image is a stored image.
type Image struct {
	// ID is the config digest, "sha256:...".
	ID string
	// RepoTags are the tagged references naming the image, e.g. docker.io/library/busybox:latest.
	RepoTags []string
	// RepoDigests are repository@manifest-digest references, what the kubelet reports as a container's imageID.
	// Images imported from a docker archive have none.
	RepoDigests []string
	// Config is the OCI runtime configuration: Entrypoint, Cmd, Env, WorkingDir, User, StopSignal, ExposedPorts...
	Config v1.Config
	// Platform the image was built for.
	Platform v1.Platform
	// LayerDirs are the unpacked layers, bottom first, each usable as an overlayfs lowerdir.
	LayerDirs []string
	// Size is the size of the image as distributed: config plus compressed layers (what the kubelet shows);
	// for a docker archive, the size of its config and layer files in the archive.
	Size int64
	// Created is when the image was built, as its config says.
	Created time.Time
	// Stored is when the image first arrived in this store.
	Stored time.Time
}

// record is the stored form of an image.
type record struct {
	ID       string   `json:"id"`
	Manifest string   `json:"manifest"`        // manifest digest
	Index    string   `json:"index,omitempty"` // index digest when pulled through a multi-platform index
	Layers   []string `json:"layers"`          // diffIDs, bottom first
	Size     int64    `json:"size"`
	Stored   int64    `json:"stored"` // unix seconds when first stored
}

// indexFile maps references to image IDs; it is rewritten whole, by rename, under the store lock.
type indexFile struct {
	Refs     map[string]string        `json:"refs"`
	Archives map[string]archiveRecord `json:"archives,omitempty"`
}

// archiveRecord remembers an imported archive so that ImportDir can skip it next time.
type archiveRecord struct {
	Size    int64    `json:"size"`
	ModTime int64    `json:"modTime"` // unix nanoseconds
	Images  []string `json:"images"`
	Names   []string `json:"names,omitempty"`
}

// Open opens (creating if needed) the store at root.
func Open(root string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("image store %q: %w", root, err)
	}
	s := &Store{root: abs, opts: opts}
	if opts.Platform != nil {
		s.platform = *opts.Platform
	} else {
		s.platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	if s.opts.LayerJobs <= 0 {
		s.opts.LayerJobs = 3
	}
	if s.opts.Transport == nil {
		s.opts.Transport = remote.DefaultTransport
	}
	for _, d := range []string{"images", "blobs/sha256", "layers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	// Layers are lowerdirs of containers running as any user: the path to them must be searchable.
	for _, d := range []string{abs, filepath.Join(abs, "layers")} {
		if err := os.Chmod(d, 0o711); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	if err := s.cleanTmp(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// cleanTmp removes work left by processes that died mid-way; names start with the owner's pid.
func (s *Store) cleanTmp() error {
	entries, err := os.ReadDir(filepath.Join(s.root, "tmp"))
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	for _, e := range entries {
		pidStr, _, _ := strings.Cut(e.Name(), ".")
		pid, err := strconv.Atoi(pidStr)
		if err == nil && pid != os.Getpid() && unix.Kill(pid, 0) == nil {
			continue // still at work
		}
		if err == nil && pid == os.Getpid() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.root, "tmp", e.Name())); err != nil {
			return fmt.Errorf("image store: cleaning up: %w", err)
		}
	}
	return nil
}

func (s *Store) tempDir() (string, error) {
	d, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), strconv.Itoa(os.Getpid())+".")
	if err != nil {
		return "", fmt.Errorf("image store: %w", err)
	}
	return d, nil
}

func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.root, "layers", strings.TrimPrefix(diffID, "sha256:"))
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.root, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (s *Store) recordPath(id string) string {
	return filepath.Join(s.root, "images", strings.TrimPrefix(id, "sha256:")+".json")
}

// writeFileAtomic replaces p with data so that readers see the old or the new content, never a part.
func (s *Store) writeFileAtomic(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (s *Store) writeBlob(digest string, data []byte) error {
	p := s.blobPath(digest)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := s.writeFileAtomic(p, data); err != nil {
		return fmt.Errorf("storing blob %s: %w", digest, err)
	}
	return nil
}

// withLock runs fn holding the store's exclusive lock, which serialises index changes with other goroutines
// (each call opens its own file description) and other processes.
func (s *Store) withLock(ctx context.Context, fn func() error) error {
	f, err := os.OpenFile(filepath.Join(s.root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("image store lock: %w", err)
	}
	defer f.Close()
	// flock has no timeout; poll so that the caller's context still counts.
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("image store lock: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("image store lock: %w", ctx.Err())
		case <-time.After(delay):
		}
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

func (s *Store) readIndex() (*indexFile, error) {
	idx := &indexFile{Refs: map[string]string{}, Archives: map[string]archiveRecord{}}
	data, err := os.ReadFile(filepath.Join(s.root, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image index: %w", err)
	}
	if err := json.Unmarshal(data, idx); err != nil {
		return nil, fmt.Errorf("image index: %w", err)
	}
	if idx.Refs == nil {
		idx.Refs = map[string]string{}
	}
	if idx.Archives == nil {
		idx.Archives = map[string]archiveRecord{}
	}
	return idx, nil
}

func (s *Store) writeIndex(idx *indexFile) error {
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := s.writeFileAtomic(filepath.Join(s.root, "index.json"), data); err != nil {
		return fmt.Errorf("image index: %w", err)
	}
	return nil
}

func (s *Store) readRecord(id string) (*record, error) {
	data, err := os.ReadFile(s.recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	return &r, nil
}

// commit records an image under refs. Every layer must still be on disk: a concurrent Remove may have taken a
// layer that this image found present before it took the lock, in which case commit reports errLayerGone.
func (s *Store) commit(ctx context.Context, rec *record, refs []string) error {
	return s.withLock(ctx, func() error {
		for _, l := range rec.Layers {
			if _, err := os.Stat(s.layerDir(l)); err != nil {
				return fmt.Errorf("%w: %s", errLayerGone, l)
			}
		}
		idx, err := s.readIndex()
		if err != nil {
			return err
		}
		if old, err := s.readRecord(rec.ID); err == nil {
			rec.Stored = old.Stored
			if rec.Index == "" {
				rec.Index = old.Index
			}
		} else {
			rec.Stored = time.Now().Unix()
		}
		data, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return err
		}
		if err := s.writeFileAtomic(s.recordPath(rec.ID), data); err != nil {
			return fmt.Errorf("image record: %w", err)
		}
		for _, r := range refs {
			idx.Refs[r] = rec.ID
		}
		return s.writeIndex(idx)
	})
}

var errLayerGone = errors.New("layer removed while the image was being stored")

// resolveID finds the image a reference or image ID names.
func resolveID(idx *indexFile, ref string) (string, error) {
	if hex, ok := strings.CutPrefix(ref, "sha256:"); ok || isHexID(ref) {
		if !ok {
			hex = ref
		}
		if !isHexID(hex) {
			return "", fmt.Errorf("%w %q: not a sha256 image ID", ErrInvalidReference, ref)
		}
		return "sha256:" + hex, nil // the record decides whether it exists
	}
	r, err := ParseReference(ref)
	if err != nil {
		return "", err
	}
	id, ok := idx.Refs[r.String()]
	if !ok {
		return "", fmt.Errorf("image %q: %w", r.String(), ErrNotFound)
	}
	return id, nil
}

func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Get returns a stored image by reference (normalised like Pull's) or ID, without network. Errors wrap
// ErrInvalidReference or ErrNotFound.
func (s *Store) Get(ctx context.Context, ref string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	id, err := resolveID(idx, ref)
	if err != nil {
		return nil, err
	}
	return s.image(idx, id)
}

// image assembles an Image from its record, config blob and the names pointing at it.
func (s *Store) image(idx *indexFile, id string) (*Image, error) {
	rec, err := s.readRecord(id)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(s.blobPath(rec.ID))
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", id, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", id, err)
	}
	img := &Image{ID: rec.ID, Config: cfg.Config, Size: rec.Size, Created: cfg.Created.Time, Stored: time.Unix(rec.Stored, 0)}
	if p := cfg.Platform(); p != nil {
		img.Platform = *p
	}
	for _, l := range rec.Layers {
		d := s.layerDir(l)
		if _, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("image %s: layer %s missing: %w", id, l, ErrNotFound)
		}
		img.LayerDirs = append(img.LayerDirs, d)
	}
	for ref, target := range idx.Refs {
		if target != id {
			continue
		}
		if strings.Contains(ref, "@") {
			img.RepoDigests = append(img.RepoDigests, ref)
		} else {
			img.RepoTags = append(img.RepoTags, ref)
		}
	}
	sort.Strings(img.RepoTags)
	sort.Strings(img.RepoDigests)
	return img, nil
}

// List returns every stored image, ordered by ID.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	ids, err := s.recordIDs()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := s.image(idx, id)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func (s *Store) recordIDs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "images"))
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if hex, ok := strings.CutSuffix(e.Name(), ".json"); ok && isHexID(hex) {
			ids = append(ids, "sha256:"+hex)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Remove deletes the image a reference or ID names, with all its names, and the layers and blobs no other image
// uses. It fails with ErrInUse, changing nothing, while a layer it would delete is in use (Options.LayersInUse).
func (s *Store) Remove(ctx context.Context, ref string) error {
	var trash string
	err := s.withLock(ctx, func() error {
		idx, err := s.readIndex()
		if err != nil {
			return err
		}
		id, err := resolveID(idx, ref)
		if err != nil {
			return err
		}
		rec, err := s.readRecord(id)
		if err != nil {
			return err
		}
		usedLayers, usedBlobs := map[string]bool{}, map[string]bool{}
		ids, err := s.recordIDs()
		if err != nil {
			return err
		}
		for _, other := range ids {
			if other == id {
				continue
			}
			o, err := s.readRecord(other)
			if err != nil {
				return err
			}
			for _, l := range o.Layers {
				usedLayers[l] = true
			}
			usedBlobs[o.ID], usedBlobs[o.Manifest], usedBlobs[o.Index] = true, true, true
		}
		var doomed []string
		for _, l := range rec.Layers {
			if !usedLayers[l] {
				doomed = append(doomed, l)
			}
		}
		if len(doomed) > 0 && s.opts.LayersInUse != nil {
			inUse, err := s.opts.LayersInUse()
			if err != nil {
				return fmt.Errorf("image %s: %w", id, err)
			}
			for _, l := range doomed {
				if inUse[s.layerDir(l)] {
					return fmt.Errorf("image %s: layer %s: %w", id, l, ErrInUse)
				}
			}
		}

		for r, target := range idx.Refs {
			if target == id {
				delete(idx.Refs, r)
			}
		}
		if err := s.writeIndex(idx); err != nil {
			return err
		}
		if err := os.Remove(s.recordPath(id)); err != nil {
			return fmt.Errorf("image %s: %w", id, err)
		}
		for _, b := range []string{rec.ID, rec.Manifest, rec.Index} {
			if b != "" && !usedBlobs[b] {
				if err := os.Remove(s.blobPath(b)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("image %s: %w", id, err)
				}
			}
		}
		if trash, err = s.tempDir(); err != nil {
			return err
		}
		for _, l := range doomed {
			// Renaming is atomic: no reader ever sees half a layer, and the slow delete happens unlocked.
			err := os.Rename(s.layerDir(l), filepath.Join(trash, strings.TrimPrefix(l, "sha256:")))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("image %s: removing layer: %w", id, err)
			}
		}
		return nil
	})
	if trash != "" {
		if rerr := os.RemoveAll(trash); rerr != nil && err == nil {
			err = fmt.Errorf("image store: %w", rerr)
		}
	}
	return err
}

package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Annotations naming an image in an OCI layout: containerd's carries the full reference, the OCI one often only a
// tag.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// Import loads every image of an archive: a docker-archive tarball (docker save), an OCI archive (a tar of an OCI
// image layout), either possibly gzip-compressed, or an OCI image layout directory. Images are named by the
// references the archive records; images of an OCI layout also get repository@digest names.
func (s *Store) Import(ctx context.Context, path string) ([]*Image, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	ids, err := s.importPath(ctx, abs, st)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	rec := archiveRecord{Size: st.Size(), ModTime: st.ModTime().UnixNano(), Images: ids}
	for _, id := range ids {
		img, err := s.image(idx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
		rec.Names = append(append(rec.Names, img.RepoTags...), img.RepoDigests...)
	}
	err = s.withLock(ctx, func() error {
		idx, err := s.readIndex()
		if err != nil {
			return err
		}
		idx.Archives[abs] = rec
		return s.writeIndex(idx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ImportDir imports every archive in dir (files and OCI layout directories, hidden ones skipped) unless it was
// imported before in the same version (size and modification time) and its images still carry its names.
func (s *Store) ImportDir(ctx context.Context, dir string) ([]*Image, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		p := filepath.Join(abs, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.IsDir() {
			if _, err := os.Stat(filepath.Join(p, "oci-layout")); err != nil {
				continue
			}
		}
		if rec, ok := idx.Archives[p]; ok && rec.Size == st.Size() && rec.ModTime == st.ModTime().UnixNano() && s.stillImported(idx, rec) {
			continue
		}
		imgs, err := s.Import(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, imgs...)
	}
	return out, errors.Join(errs...)
}

func (s *Store) stillImported(idx *indexFile, rec archiveRecord) bool {
	for _, id := range rec.Images {
		if _, err := os.Stat(s.recordPath(id)); err != nil {
			return false
		}
	}
	for _, n := range rec.Names {
		if _, ok := idx.Refs[n]; !ok {
			return false
		}
	}
	return true
}

func (s *Store) importPath(ctx context.Context, p string, st os.FileInfo) ([]string, error) {
	if st.IsDir() {
		return s.importLayout(ctx, p)
	}
	tmp, err := s.tempDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	p, err = decompressed(p, tmp)
	if err != nil {
		return nil, err
	}
	sizes, err := tarSizes(p)
	if err != nil {
		return nil, err
	}
	has := func(n string) bool { _, ok := sizes[n]; return ok }
	switch {
	case has("manifest.json"):
		return s.importDockerArchive(ctx, p, sizes)
	case has("oci-layout") && has("index.json"):
		dir := filepath.Join(tmp, "layout")
		if err := extractPlain(p, dir); err != nil {
			return nil, err
		}
		return s.importLayout(ctx, dir)
	}
	return nil, errors.New("neither a docker archive (no manifest.json) nor an OCI archive (no oci-layout and index.json)")
}

// decompressed returns p itself for a plain tar, or a decompressed copy in tmp for a gzip-compressed one:
// go-containerregistry's readers need to seek through the tar.
func decompressed(p, tmp string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(2)
	if err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		return p, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return "", err
	}
	out, err := os.Create(filepath.Join(tmp, "archive.tar"))
	if err != nil {
		return "", err
	}
	defer out.Close()
	if _, err := io.Copy(out, zr); err != nil {
		return "", fmt.Errorf("decompressing: %w", err)
	}
	return out.Name(), out.Close()
}

// tarSizes lists an archive's entries with their sizes.
func tarSizes(p string) (map[string]int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]int64{}
	tr := tar.NewReader(f) // skips file bodies by seeking
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		names[cleanName(hdr.Name)] = hdr.Size
	}
}

// extractPlain writes the regular files of an OCI archive under dir. Names are confined to dir and no links are
// created, so the archive cannot write elsewhere.
func extractPlain(p, dir string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		n := cleanName(hdr.Name)
		if hdr.Typeflag != tar.TypeReg || n == "" {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("extracting %s: %w", n, err)
		}
	}
}

// importDockerArchive stores the images of a docker save tarball. Such an archive holds no manifest: asking
// go-containerregistry for one would compress every uncompressed layer just to digest it, so the images are
// stored without one, sized by their files in the archive.
func (s *Store) importDockerArchive(ctx context.Context, p string, sizes map[string]int64) ([]string, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(p) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("docker archive: %w", err)
	}
	var ids []string
	for i, d := range manifest {
		var img v1.Image
		var refs []string
		for _, t := range d.RepoTags {
			r, err := ParseReference(t)
			if err != nil {
				return nil, fmt.Errorf("docker archive image %d: %w", i, err)
			}
			refs = append(refs, r.String())
		}
		if len(d.RepoTags) > 0 {
			tag, err := name.NewTag(d.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("docker archive image %d: %w", i, err)
			}
			img, err = tarball.Image(opener, &tag)
			if err != nil {
				return nil, fmt.Errorf("docker archive image %s: %w", d.RepoTags[0], err)
			}
		} else if len(manifest) == 1 {
			if img, err = tarball.Image(opener, nil); err != nil {
				return nil, fmt.Errorf("docker archive: %w", err)
			}
		} else {
			return nil, fmt.Errorf("docker archive image %d has no tag, and the archive holds several", i)
		}
		size := sizes[cleanName(d.Config)]
		for _, l := range d.Layers {
			size += sizes[cleanName(l)]
		}
		rec, err := s.storeImage(ctx, img, &size)
		if err != nil {
			return nil, fmt.Errorf("docker archive image %d: %w", i, err)
		}
		if err := s.commitRetrying(ctx, img, rec, refs); err != nil {
			return nil, err
		}
		ids = append(ids, rec.ID)
	}
	return ids, nil
}

func (s *Store) importLayout(ctx context.Context, dir string) ([]string, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	}
	index, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	}
	var ids []string
	for _, desc := range im.Manifests {
		img, indexDigest, err := s.layoutImage(index, desc)
		if err != nil {
			return nil, fmt.Errorf("OCI layout entry %s: %w", desc.Digest, err)
		}
		if img == nil {
			continue // not an image (an attestation, a signature...)
		}
		rec, err := s.storeImage(ctx, img, nil)
		if err != nil {
			return nil, fmt.Errorf("OCI layout entry %s: %w", desc.Digest, err)
		}
		var refs []string
		if r, ok := layoutRefName(desc.Annotations); ok {
			refs = append(refs, r.digestRef(desc.Digest.String()))
			if r.Digest() == "" {
				refs = append(refs, r.String())
			}
		}
		if indexDigest != "" {
			rec.Index = indexDigest
			raw, err := lp.Bytes(desc.Digest)
			if err != nil {
				return nil, fmt.Errorf("OCI layout entry %s: %w", desc.Digest, err)
			}
			if err := s.writeBlob(indexDigest, raw); err != nil {
				return nil, err
			}
		}
		if err := s.commitRetrying(ctx, img, rec, refs); err != nil {
			return nil, err
		}
		ids = append(ids, rec.ID)
	}
	return ids, nil
}

// layoutImage returns the image an index entry stands for, resolving a nested multi-platform index to this
// node's platform.
func (s *Store) layoutImage(index v1.ImageIndex, desc v1.Descriptor) (v1.Image, string, error) {
	switch {
	case desc.MediaType.IsImage():
		img, err := index.Image(desc.Digest)
		return img, "", err
	case desc.MediaType.IsIndex():
		child, err := index.ImageIndex(desc.Digest)
		if err != nil {
			return nil, "", err
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, "", err
		}
		for _, m := range cm.Manifests {
			if m.MediaType.IsImage() && m.Platform != nil && m.Platform.Satisfies(s.platform) {
				img, err := child.Image(m.Digest)
				return img, desc.Digest.String(), err
			}
		}
		return nil, "", fmt.Errorf("no image for %s in the index", s.platform.String())
	}
	return nil, "", nil
}

// layoutRefName reads an image's name from OCI layout annotations; a bare tag ("latest") names no repository.
func layoutRefName(ann map[string]string) (Reference, bool) {
	for _, k := range []string{annotationContainerdName, annotationRefName} {
		v := ann[k]
		if v == "" || !strings.ContainsAny(v, "/:@") {
			continue
		}
		if r, err := ParseReference(v); err == nil {
			return r, true
		}
	}
	return Reference{}, false
}

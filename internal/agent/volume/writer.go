package volume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// File is one file of a volume payload: its content and its permission bits (0..0777).
type File struct {
	Data []byte
	Mode int32
}

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	// tsDirLayout starts every timestamped payload directory; os.MkdirTemp appends a random suffix, which gives
	// the kubelet's shape "..2026_12_01_18_00_00.123456789".
	tsDirLayout = "..2006_01_02_15_04_05."

	maxFileNameLength = 255
	maxPathLength     = 4096
)

// Writer projects payloads into one volume directory with the kubelet's AtomicWriter layout:
//
//	<dir>/..2026_12_01_18_00_00.123456789/   the real files
//	<dir>/..data -> ..2026_12_01_18_00_00.123456789
//	<dir>/key    -> ..data/key               one link per first path component
//	<dir>/sub    -> ..data/sub               (so sub/file resolves through ..data too)
//
// A reader that opens a file through a user-visible name sees either the old or the new payload, never a
// mix inside one file nor a half-written one, because a payload directory is complete before ..data points
// at it. Names starting with ".." are reserved. One Writer serialises its own writes; two Writers must not
// share a directory.
type Writer struct {
	dir string
	mu  sync.Mutex
}

// NewWriter returns a Writer for dir, which must exist and be a directory.
func NewWriter(dir string) (*Writer, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("atomic writer: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("atomic writer: %s is not a directory", dir)
	}
	return &Writer{dir: dir}, nil
}

// Write makes the directory hold exactly payload (paths relative, '/'-separated). It reports whether it
// changed anything: a payload identical to the current one (same paths, contents and modes) is a no-op and
// leaves the current timestamped directory in place.
func (w *Writer) Write(ctx context.Context, payload map[string]File) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	clean, err := validatePayload(payload)
	if err != nil {
		return false, err
	}

	dataDirPath := filepath.Join(w.dir, dataDirName)
	oldTsName, err := os.Readlink(dataDirPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read link %s: %w", dataDirPath, err)
	}

	var stale []string
	if oldTsName != "" {
		oldTsPath := filepath.Join(w.dir, oldTsName)
		stale, err = pathsToRemove(clean, oldTsPath)
		if err != nil {
			return false, err
		}
		same, err := sameContent(clean, oldTsPath)
		if err != nil {
			return false, err
		}
		if same && len(stale) == 0 && w.visibleLinksPresent(clean) {
			return false, nil
		}
	}

	tsDir, err := os.MkdirTemp(w.dir, time.Now().UTC().Format(tsDirLayout))
	if err != nil {
		return false, fmt.Errorf("create payload directory in %s: %w", w.dir, err)
	}
	// 0755 lets group and other walk into the tree whatever the umask; the file modes then decide access.
	if err := os.Chmod(tsDir, 0o755); err != nil {
		os.RemoveAll(tsDir)
		return false, fmt.Errorf("chmod %s: %w", tsDir, err)
	}
	if err := writePayloadTo(ctx, clean, tsDir); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := w.createVisibleLinks(clean); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}

	newDataDirPath := filepath.Join(w.dir, newDataDirName)
	// A crash between symlink and rename leaves ..data_tmp behind; it would make Symlink fail forever.
	if err := os.Remove(newDataDirPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.RemoveAll(tsDir)
		return false, fmt.Errorf("remove stale %s: %w", newDataDirPath, err)
	}
	if err := os.Symlink(filepath.Base(tsDir), newDataDirPath); err != nil {
		os.RemoveAll(tsDir)
		return false, fmt.Errorf("create %s: %w", newDataDirPath, err)
	}
	if err := os.Rename(newDataDirPath, dataDirPath); err != nil {
		os.Remove(newDataDirPath)
		os.RemoveAll(tsDir)
		return false, fmt.Errorf("swap %s: %w", dataDirPath, err)
	}

	if err := w.removeVisiblePaths(stale); err != nil {
		return true, err
	}
	return true, w.removeOldPayloads(filepath.Base(tsDir))
}

// validatePayload checks every path as the kubelet does and returns the payload keyed by cleaned paths.
func validatePayload(payload map[string]File) (map[string]File, error) {
	clean := make(map[string]File, len(payload))
	for p, f := range payload {
		if err := validatePath(p); err != nil {
			return nil, err
		}
		clean[filepath.Clean(p)] = f
	}
	return clean, nil
}

func validatePath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty: %q", p)
	}
	if filepath.IsAbs(p) {
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	}
	if len(p) > maxPathLength {
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", maxPathLength)
	}
	items := strings.Split(p, "/")
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > maxFileNameLength {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", maxFileNameLength)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}

// sameContent reports whether the payload directory oldTsPath already holds every file of payload with the
// same bytes and mode. Extra files there are pathsToRemove's business.
func sameContent(payload map[string]File, oldTsPath string) (bool, error) {
	for p, f := range payload {
		full := filepath.Join(oldTsPath, p)
		fi, err := os.Lstat(full)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			// ENOTDIR: a parent of p is a file in the old payload.
			return false, nil
		case err != nil:
			return false, fmt.Errorf("stat %s: %w", full, err)
		case !fi.Mode().IsRegular():
			return false, nil
		}
		if fi.Mode().Perm() != fileMode(f.Mode) {
			return false, nil
		}
		old, err := os.ReadFile(full)
		if err != nil {
			return false, fmt.Errorf("read %s: %w", full, err)
		}
		if !bytes.Equal(old, f.Data) {
			return false, nil
		}
	}
	return true, nil
}

// pathsToRemove lists the paths of the old payload (files and directories) that the new one no longer has.
func pathsToRemove(payload map[string]File, oldTsPath string) ([]string, error) {
	keep := make(map[string]bool)
	for p := range payload {
		for sub := p; sub != "." && sub != "/"; sub = filepath.Dir(sub) {
			keep[sub] = true
		}
	}
	var stale []string
	err := filepath.WalkDir(oldTsPath, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(oldTsPath, path)
		if err != nil {
			return err
		}
		if rel != "." && !keep[rel] {
			stale = append(stale, rel)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", oldTsPath, err)
	}
	return stale, nil
}

func writePayloadTo(ctx context.Context, payload map[string]File, dir string) error {
	for p, f := range payload {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write payload to %s: %w", dir, err)
		}
		full := filepath.Join(dir, p)
		if err := mkdirAll0755(dir, filepath.Dir(p)); err != nil {
			return err
		}
		mode := fileMode(f.Mode)
		if err := os.WriteFile(full, f.Data, mode); err != nil {
			return fmt.Errorf("write %s: %w", full, err)
		}
		// WriteFile's mode went through the umask; the volume's modes must not.
		if err := os.Chmod(full, mode); err != nil {
			return fmt.Errorf("chmod %s to %v: %w", full, mode, err)
		}
	}
	return nil
}

// mkdirAll0755 creates rel and its parents under root, each 0755 whatever the umask.
func mkdirAll0755(root, rel string) error {
	if rel == "." {
		return nil
	}
	cur := root
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create directory %s: %w", cur, err)
		}
		if err := os.Chmod(cur, 0o755); err != nil {
			return fmt.Errorf("chmod %s: %w", cur, err)
		}
	}
	return nil
}

func fileMode(m int32) fs.FileMode { return fs.FileMode(m) & fs.ModePerm }

func firstComponent(p string) string {
	first, _, _ := strings.Cut(p, "/")
	return first
}

// createVisibleLinks makes <dir>/<first component> -> ..data/<first component> for every payload path.
func (w *Writer) createVisibleLinks(payload map[string]File) error {
	for p := range payload {
		name := firstComponent(p)
		link := filepath.Join(w.dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stat %s: %w", link, err)
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), link); err != nil {
			return fmt.Errorf("create link %s: %w", link, err)
		}
	}
	return nil
}

// visibleLinksPresent reports whether every first component of payload has its link, so that a no-op
// Write still repairs a directory someone tampered with.
func (w *Writer) visibleLinksPresent(payload map[string]File) bool {
	for p := range payload {
		if _, err := os.Lstat(filepath.Join(w.dir, firstComponent(p))); err != nil {
			return false
		}
	}
	return true
}

// removeVisiblePaths drops the top-level links of stale paths; deeper ones vanish with the old payload.
func (w *Writer) removeVisiblePaths(stale []string) error {
	var errs []error
	for _, p := range stale {
		if strings.Contains(p, "/") {
			continue
		}
		if err := os.Remove(filepath.Join(w.dir, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove stale link: %w", err))
		}
	}
	return errors.Join(errs...)
}

// removeOldPayloads deletes every timestamped directory but current: the one just replaced, and any a
// crashed Write left behind.
func (w *Writer) removeOldPayloads(current string) error {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", w.dir, err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if name == current || !e.IsDir() || !isPayloadDirName(name) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(w.dir, name)); err != nil {
			errs = append(errs, fmt.Errorf("remove old payload: %w", err))
		}
	}
	return errors.Join(errs...)
}

// isPayloadDirName recognises "..YYYY_MM_DD_hh_mm_ss.<suffix>".
func isPayloadDirName(name string) bool {
	const stampLen = len("..2006_01_02_15_04_05.")
	if len(name) <= stampLen {
		return false
	}
	_, err := time.Parse(tsDirLayout, name[:stampLen])
	return err == nil
}

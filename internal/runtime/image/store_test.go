package image_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"

	"github.com/peapod-dev/peapod/internal/runtime/image"
	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: layers hold whiteout devices and files of other owners")
	}
}

// countingTransport counts blob downloads by digest, to tell shared pulls from duplicated ones.
type countingTransport struct {
	mu    sync.Mutex
	blobs map[string]int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if i := strings.Index(req.URL.Path, "/blobs/"); i >= 0 && req.Method == http.MethodGet {
		c.mu.Lock()
		if c.blobs == nil {
			c.blobs = map[string]int{}
		}
		c.blobs[req.URL.Path[i+len("/blobs/"):]]++
		c.mu.Unlock()
	}
	return remote.DefaultTransport.RoundTrip(req)
}

func (c *countingTransport) count(digest string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobs[digest]
}

func openStore(t testing.TB, root string, opts image.Options) *image.Store {
	t.Helper()
	s, err := image.Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func layerDigest(t testing.TB, img v1.Image, i int) string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[i].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func configDigest(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestPullAndGet(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	img := imagetest.Variant(t, imagetest.Busybox(t), imagetest.Config{
		Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi"}, User: "1000:1000", WorkingDir: "/tmp",
		StopSignal: "SIGQUIT", ExposedPorts: []string{"80/tcp"},
	})
	digest := imagetest.Push(t, host, "tools/busybox:1.0", img)
	s := openStore(t, t.TempDir(), image.Options{})
	ref := host + "/tools/busybox:1.0"

	if _, err := s.Get(ctx, ref); !errors.Is(err, image.ErrNotFound) {
		t.Fatalf("Get before pull: %v, want ErrNotFound", err)
	}
	res, err := s.Pull(ctx, ref, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Image
	if got.ID != configDigest(t, img) {
		t.Errorf("ID %s, want the config digest %s", got.ID, configDigest(t, img))
	}
	if want := []string{ref}; fmt.Sprint(got.RepoTags) != fmt.Sprint(want) {
		t.Errorf("RepoTags %v, want %v", got.RepoTags, want)
	}
	if want := []string{host + "/tools/busybox@" + digest}; fmt.Sprint(got.RepoDigests) != fmt.Sprint(want) {
		t.Errorf("RepoDigests %v, want %v", got.RepoDigests, want)
	}
	c := got.Config
	if fmt.Sprintf("%v %v %s %s %s", c.Entrypoint, c.Cmd, c.User, c.WorkingDir, c.StopSignal) != "[/bin/sh -c] [echo hi] 1000:1000 /tmp SIGQUIT" {
		t.Errorf("config %+v", c)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok || len(c.Env) == 0 {
		t.Errorf("config ports %v env %v", c.ExposedPorts, c.Env)
	}
	if len(got.LayerDirs) != 1 {
		t.Fatalf("LayerDirs %v", got.LayerDirs)
	}
	if st, err := os.Lstat(filepath.Join(got.LayerDirs[0], "bin/sh")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("bin/sh in the layer: %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(got.LayerDirs[0], "bin/busybox")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox in the layer: %v %v", st, err)
	}
	if got.Size < 500_000 || res.Duration <= 0 || res.Total < res.Duration {
		t.Errorf("size %d duration %v total %v", got.Size, res.Duration, res.Total)
	}
	if !got.Created.Equal(imagetest.Epoch()) || time.Since(got.Stored) > time.Hour {
		t.Errorf("created %v stored %v", got.Created, got.Stored)
	}

	for _, r := range []string{ref, host + "/tools/busybox@" + digest, got.ID, strings.TrimPrefix(got.ID, "sha256:")} {
		g, err := s.Get(ctx, r)
		if err != nil || g.ID != got.ID {
			t.Errorf("Get(%s) = %v, %v", r, g, err)
		}
	}
	for _, r := range []string{"Bad:Ref", "sha256:abc"} {
		if _, err := s.Get(ctx, r); !errors.Is(err, image.ErrInvalidReference) {
			t.Errorf("Get(%q) = %v, want ErrInvalidReference", r, err)
		}
	}
	if _, err := s.Pull(ctx, host+"/tools/missing:1", image.PullOptions{}); !isPullError(err, "NAME_UNKNOWN") {
		t.Errorf("pull of a missing image: %v", err)
	}
}

func isPullError(err error, msg string) bool {
	var pe *image.PullError
	return errors.As(err, &pe) && strings.Contains(err.Error(), msg)
}

func TestPullLocalhostName(t *testing.T) {
	requireRoot(t)
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	imagetest.Push(t, host, "bb:1", imagetest.Busybox(t))
	_, port, _ := strings.Cut(host, ":")
	s := openStore(t, t.TempDir(), image.Options{})
	res, err := s.Pull(context.Background(), "localhost:"+port+"/bb:1", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Image.RepoTags) != "[localhost:"+port+"/bb:1]" {
		t.Errorf("RepoTags %v", res.Image.RepoTags)
	}
}

func TestPullByDigest(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	img := imagetest.Busybox(t)
	digest := imagetest.Push(t, host, "bb:latest", img)
	s := openStore(t, t.TempDir(), image.Options{})
	res, err := s.Pull(ctx, host+"/bb@"+digest, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Image.RepoTags) != 0 || fmt.Sprint(res.Image.RepoDigests) != "["+host+"/bb@"+digest+"]" {
		t.Errorf("tags %v digests %v", res.Image.RepoTags, res.Image.RepoDigests)
	}
	wrong := "sha256:" + strings.Repeat("1", 64)
	if _, err := s.Pull(ctx, host+"/bb@"+wrong, image.PullOptions{}); !isPullError(err, "MANIFEST_UNKNOWN") {
		t.Errorf("pull of an unknown digest: %v", err)
	}
}

func TestPullAuth(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{Username: "alice", Password: "s3cret"})
	imagetest.Push(t, host, "private/bb:1", imagetest.Busybox(t), imagetest.WithBasicAuth("alice", "s3cret"))
	ref := host + "/private/bb:1"
	tests := []struct {
		name    string
		secrets [][]byte
		wantErr string
	}{
		{"anonymous", nil, "UNAUTHORIZED"},
		{"wrong password", [][]byte{imagetest.DockerConfigJSON(host, "alice", "nope")}, "UNAUTHORIZED"},
		{"other registry", [][]byte{imagetest.DockerConfigJSON("example.com", "alice", "s3cret")}, "UNAUTHORIZED"},
		{"dockerconfigjson", [][]byte{imagetest.DockerConfigJSON(host, "alice", "s3cret")}, ""},
		{"dockercfg", [][]byte{[]byte(`{"http://` + host + `": {"username": "alice", "password": "s3cret"}}`)}, ""},
		{"second secret works", [][]byte{
			imagetest.DockerConfigJSON(host, "alice", "nope"), imagetest.DockerConfigJSON(host, "alice", "s3cret")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir(), image.Options{})
			_, err := s.Pull(ctx, ref, image.PullOptions{PullSecrets: tt.secrets})
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && !isPullError(err, tt.wantErr) {
				t.Fatalf("err %v, want a PullError with %q", err, tt.wantErr)
			}
		})
	}
}

func TestPullIndexPicksPlatform(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	base := imagetest.Busybox(t)
	amd := imagetest.Variant(t, base, imagetest.Config{Labels: map[string]string{"arch": "amd64"}})
	arm := imagetest.Variant(t, base, imagetest.Config{Labels: map[string]string{"arch": "arm64"},
		Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}})
	win := imagetest.Variant(t, base, imagetest.Config{Labels: map[string]string{"arch": "windows"},
		Platform: &v1.Platform{OS: "windows", Architecture: "amd64"}})
	digest := imagetest.Push(t, host, "multi:1", imagetest.Index(t, arm, win, amd))
	imagetest.Push(t, host, "armonly:1", imagetest.Index(t, arm))

	tests := []struct {
		platform *v1.Platform
		want     string
	}{
		{nil, "amd64"},
		{&v1.Platform{OS: "linux", Architecture: "arm64"}, "arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s := openStore(t, t.TempDir(), image.Options{Platform: tt.platform})
			res, err := s.Pull(ctx, host+"/multi:1", image.PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Image.Config.Labels["arch"]; got != tt.want {
				t.Errorf("picked %s, want %s", got, tt.want)
			}
			// The kubelet reports the digest the reference resolved to: the index's.
			if fmt.Sprint(res.Image.RepoDigests) != "["+host+"/multi@"+digest+"]" {
				t.Errorf("RepoDigests %v, want the index digest %s", res.Image.RepoDigests, digest)
			}
		})
	}
	s := openStore(t, t.TempDir(), image.Options{})
	if _, err := s.Pull(ctx, host+"/armonly:1", image.PullOptions{}); !isPullError(err, "linux/amd64") {
		t.Errorf("pull of an index without our platform: %v", err)
	}
}

func inode(t testing.TB, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestLayersSharedAndRemove(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	base := imagetest.Busybox(t)
	a := imagetest.Variant(t, base, imagetest.Config{Layers: []v1.Layer{imagetest.Layer(t, imagetest.File("a", "a", 0o644))}})
	b := imagetest.Variant(t, base, imagetest.Config{Layers: []v1.Layer{imagetest.Layer(t, imagetest.File("b", "b", 0o644))}})
	imagetest.Push(t, host, "a:1", a)
	imagetest.Push(t, host, "b:1", b)
	tr := &countingTransport{}
	root := t.TempDir()
	s := openStore(t, root, image.Options{Transport: tr})
	ra, err := s.Pull(ctx, host+"/a:1", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := s.Pull(ctx, host+"/b:1", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	la, lb := ra.Image.LayerDirs, rb.Image.LayerDirs
	if len(la) != 2 || len(lb) != 2 || la[0] != lb[0] || la[1] == lb[1] {
		t.Fatalf("layer dirs %v and %v: want a shared base and distinct tops", la, lb)
	}
	busybox := filepath.Join(la[0], "bin/busybox")
	ino := inode(t, busybox)
	if n := tr.count(layerDigest(t, base, 0)); n != 1 {
		t.Errorf("base layer downloaded %d times, want once", n)
	}

	if err := s.Remove(ctx, host+"/a:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, host+"/a:1"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
	if _, err := os.Stat(la[1]); !os.IsNotExist(err) {
		t.Errorf("a's own layer survived its image: %v", err)
	}
	if inode(t, busybox) != ino {
		t.Error("the shared base layer was unpacked again")
	}
	if _, err := s.Get(ctx, host+"/b:1"); err != nil {
		t.Errorf("b after removing a: %v", err)
	}
	if err := s.Remove(ctx, rb.Image.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(la[0]); !os.IsNotExist(err) {
		t.Errorf("the base layer survived its last image: %v", err)
	}
	if err := s.Remove(ctx, rb.Image.ID); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	for _, d := range []string{"layers", "images", "blobs/sha256", "tmp"} {
		if entries, _ := os.ReadDir(filepath.Join(root, d)); len(entries) != 0 {
			t.Errorf("%s not empty after removing every image: %v", d, entries)
		}
	}
}

// slowTransport holds blob downloads until released, so that pulls overlap for certain.
type slowTransport struct {
	countingTransport
	release  chan struct{}
	reached  chan struct{} // closed when the first blob request arrives
	reachOne sync.Once
}

func newSlowTransport() *slowTransport {
	return &slowTransport{release: make(chan struct{}), reached: make(chan struct{})}
}

func (s *slowTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "/blobs/") {
		s.reachOne.Do(func() { close(s.reached) })
		select {
		case <-s.release:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return s.countingTransport.RoundTrip(req)
}

func TestConcurrentPulls(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	base := imagetest.Busybox(t)
	other := imagetest.Variant(t, base, imagetest.Config{Layers: []v1.Layer{imagetest.Layer(t, imagetest.File("o", "o", 0o644))}})
	imagetest.Push(t, host, "same:1", base)
	imagetest.Push(t, host, "other:1", other)
	tr := newSlowTransport()
	s := openStore(t, t.TempDir(), image.Options{Transport: tr})

	const n = 8
	var wg sync.WaitGroup
	var failed atomic.Int32
	ids := make([]string, n+1)
	for i := range n + 1 {
		ref := host + "/same:1"
		if i == n {
			ref = host + "/other:1" // a different image sharing the base layer
		}
		wg.Go(func() {
			res, err := s.Pull(ctx, ref, image.PullOptions{})
			if err != nil {
				t.Error(err)
				failed.Add(1)
				return
			}
			ids[i] = res.Image.ID
		})
	}
	// Once a download is held, give the other goroutines a moment to join it, then let them all through.
	select {
	case <-tr.reached:
	case <-ctx.Done():
		t.Fatal("no pull reached the registry's blobs")
	}
	time.Sleep(200 * time.Millisecond)
	close(tr.release)
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	for i := 1; i < n; i++ {
		if ids[i] != ids[0] {
			t.Errorf("pull %d got %s, pull 0 %s", i, ids[i], ids[0])
		}
	}
	if c := tr.count(layerDigest(t, base, 0)); c != 1 {
		t.Errorf("the base layer was downloaded %d times by %d overlapping pulls, want once", c, n+1)
	}
	if c := tr.count(configDigest(t, base)); c != 1 {
		t.Errorf("the config was downloaded %d times by %d pulls of one reference, want once", c, n)
	}
}

func TestPullCancelledWaiterDoesNotFailOthers(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	imagetest.Push(t, host, "bb:1", imagetest.Busybox(t))
	tr := newSlowTransport()
	s := openStore(t, t.TempDir(), image.Options{Transport: tr})
	impatient, cancel := context.WithCancel(ctx)
	first := make(chan error, 1)
	go func() {
		_, err := s.Pull(impatient, host+"/bb:1", image.PullOptions{})
		first <- err
	}()
	second := make(chan error, 1)
	go func() {
		_, err := s.Pull(ctx, host+"/bb:1", image.PullOptions{})
		second <- err
	}()
	select {
	case <-tr.reached:
	case <-time.After(30 * time.Second):
		t.Fatal("no pull reached the registry's blobs")
	}
	time.Sleep(100 * time.Millisecond) // let the second pull join the first
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled pull: %v", err)
	}
	close(tr.release)
	select {
	case err := <-second:
		if err != nil {
			t.Errorf("the pull still waited for failed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the remaining pull did not finish")
	}
}

func TestStoreSurvivesRestart(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	imagetest.Push(t, host, "bb:1", imagetest.Busybox(t))
	root := t.TempDir()
	res, err := openStore(t, root, image.Options{}).Pull(ctx, host+"/bb:1", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Leftovers of a pull killed mid-way: owned by a pid that is gone (pid_max is far below 1<<30).
	stale := filepath.Join(root, "tmp", fmt.Sprint(1<<30)+".123")
	if err := os.MkdirAll(filepath.Join(stale, "fs"), 0o700); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, root, image.Options{})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale work dir survived Open: %v", err)
	}
	imgs, err := s2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].ID != res.Image.ID || fmt.Sprint(imgs[0].LayerDirs) != fmt.Sprint(res.Image.LayerDirs) {
		t.Fatalf("after restart: %+v", imgs)
	}
}

// TestTwoStoresOneRoot stands in for the agent and the CLI working on one directory at once.
func TestTwoStoresOneRoot(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	host := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	base := imagetest.Busybox(t)
	const n = 4
	for i := range n {
		imagetest.Push(t, host, fmt.Sprintf("img%d:1", i), imagetest.Variant(t, base, imagetest.Config{
			Layers: []v1.Layer{imagetest.Layer(t, imagetest.File("n", fmt.Sprint(i), 0o644))}}))
	}
	root := t.TempDir()
	stores := []*image.Store{openStore(t, root, image.Options{}), openStore(t, root, image.Options{})}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := stores[i%2].Pull(ctx, fmt.Sprintf("%s/img%d:1", host, i), image.PullOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	imgs, err := stores[0].List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != n {
		t.Fatalf("%d images listed, want %d", len(imgs), n)
	}
	// Remove through one store while the other pulls an image sharing the base: the base must survive.
	wg.Go(func() {
		if err := stores[0].Remove(ctx, host+"/img0:1"); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		if _, err := stores[1].Pull(ctx, host+"/img1:1", image.PullOptions{}); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	img, err := stores[0].Get(ctx, host+"/img1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(img.LayerDirs[0], "bin/busybox")); err != nil {
		t.Errorf("shared base layer: %v", err)
	}
}

package nodeapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/pki"
)

// fakeContainers serves log files from a directory: <dir>/<pod>/<container>.log (.previous.log).
type fakeContainers struct {
	dir     string
	running atomic.Bool
	errs    map[string]error // by pod/container
}

func (f *fakeContainers) LogPath(_ context.Context, namespace, pod, container string, previous bool) (string, error) {
	if err := f.errs[pod+"/"+container]; err != nil {
		return "", err
	}
	if namespace != "default" {
		return "", PodNotFound(pod)
	}
	name := container + ".log"
	if previous {
		name = container + ".previous.log"
	}
	return filepath.Join(f.dir, pod, name), nil
}

func (f *fakeContainers) Running(context.Context, string, string, string) bool {
	return f.running.Load()
}

func (f *fakeContainers) write(t *testing.T, pod, name, content string, appendTo bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(f.dir, pod), 0o755); err != nil {
		t.Fatal(err)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendTo {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	file, err := os.OpenFile(filepath.Join(f.dir, pod, name), flags, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// endpoint is the handler served over TLS with a node certificate from a fresh cluster CA.
type endpoint struct {
	url        string
	containers *fakeContainers
	apiServer  *http.Client // presents the kubelet-client certificate
	anonymous  *http.Client // trusts the CA, presents nothing
	stranger   *http.Client // presents a CA-signed certificate of another identity
}

var now = time.Date(2026, 5, 1, 10, 0, 10, 0, time.UTC)

func newEndpoint(t *testing.T) *endpoint {
	t.Helper()
	dir := t.TempDir()
	bundle, err := pki.Ensure(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := pki.EnsureNodeServing(dir, "node1", nil)
	if err != nil {
		t.Fatal(err)
	}
	containers := &fakeContainers{dir: t.TempDir(), errs: map[string]error{}}
	h := &handler{containers: containers, log: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes of TestAuthentication
	srv.TLS, err = ServerTLS(serving, bundle.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	client := func(cfg *tls.Config) *http.Client {
		transport := &http.Transport{TLSClientConfig: cfg}
		t.Cleanup(transport.CloseIdleConnections)
		return &http.Client{Transport: transport, Timeout: 20 * time.Second}
	}
	apiTLS, err := bundle.NodeClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	anonymous := apiTLS.Clone()
	anonymous.Certificates = nil
	stranger := apiTLS.Clone()
	stranger.Certificates = []tls.Certificate{signedBy(t, dir, "system:node:other")}
	return &endpoint{url: srv.URL, containers: containers, apiServer: client(apiTLS), anonymous: client(anonymous), stranger: client(stranger)}
}

// signedBy issues a client certificate with common name cn from the CA in dataDir.
func signedBy(t *testing.T, dataDir, cn string) tls.Certificate {
	t.Helper()
	caPair, err := tls.LoadX509KeyPair(filepath.Join(dataDir, "tls", "ca.crt"), filepath.Join(dataDir, "tls", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn, Organization: []string{"system:nodes"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caPair.Leaf, key.Public(), caPair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

const logFile = `2026-05-01T10:00:00Z stdout F one
2026-05-01T10:00:05Z stderr F two
2026-05-01T10:00:09Z stdout F three
`

func TestContainerLogs(t *testing.T) {
	e := newEndpoint(t)
	e.containers.write(t, "web", "app.log", logFile, false)
	e.containers.write(t, "web", "app.previous.log", "2026-05-01T09:00:00Z stdout F before the restart\n", false)
	e.containers.errs["web/init"] = Waiting("init", "web", "PodInitializing")
	e.containers.errs["web/pulling"] = Waiting("pulling", "web", "ErrImagePull")
	e.containers.errs["web/new"] = Waiting("new", "web", "")
	e.containers.errs["web/ghost"] = ContainerNotFound("ghost", "web")
	e.containers.errs["web/once"] = PreviousNotFound("once", "web")
	e.containers.errs["web/gone"] = Terminated("gone", "web")
	e.containers.errs["web/broken"] = errors.New("failed to open log: disk on fire")
	tests := []struct {
		name     string
		path     string
		wantCode int
		want     string
	}{
		{name: "all", path: "/containerLogs/default/web/app", wantCode: 200, want: "one\ntwo\nthree\n"},
		{name: "tailLines", path: "/containerLogs/default/web/app?tailLines=1", wantCode: 200, want: "three\n"},
		{name: "legacy tail", path: "/containerLogs/default/web/app?tail=2", wantCode: 200, want: "two\nthree\n"},
		{name: "legacy tail=all", path: "/containerLogs/default/web/app?tail=all", wantCode: 200, want: "one\ntwo\nthree\n"},
		{name: "timestamps", path: "/containerLogs/default/web/app?timestamps=true&tailLines=1", wantCode: 200, want: "2026-05-01T10:00:09Z three\n"},
		{name: "sinceSeconds", path: "/containerLogs/default/web/app?sinceSeconds=6", wantCode: 200, want: "two\nthree\n"},
		{name: "sinceTime", path: "/containerLogs/default/web/app?sinceTime=2026-05-01T10:00:06Z", wantCode: 200, want: "three\n"},
		{name: "limitBytes", path: "/containerLogs/default/web/app?limitBytes=5", wantCode: 200, want: "one\nt"},
		{name: "previous", path: "/containerLogs/default/web/app?previous=true", wantCode: 200, want: "before the restart\n"},
		{name: "pod not found", path: "/containerLogs/other/web/app", wantCode: 404, want: `pod "web" does not exist`},
		{name: "container not found", path: "/containerLogs/default/web/ghost", wantCode: 404, want: `container "ghost" not found in pod "web"`},
		{name: "waiting", path: "/containerLogs/default/web/init", wantCode: 400, want: `container "init" in pod "web" is waiting to start: PodInitializing`},
		{name: "image pull", path: "/containerLogs/default/web/pulling", wantCode: 400, want: `container "pulling" in pod "web" is waiting to start: image can't be pulled`},
		{name: "no state yet", path: "/containerLogs/default/web/new", wantCode: 400, want: `container "new" in pod "web" is waiting to start - no logs yet`},
		{name: "no previous", path: "/containerLogs/default/web/once?previous=true", wantCode: 400, want: `previous terminated container "once" in pod "web" not found`},
		{name: "terminated", path: "/containerLogs/default/web/gone", wantCode: 400, want: `container "gone" in pod "web" is terminated`},
		{name: "other error", path: "/containerLogs/default/web/broken", wantCode: 400, want: "failed to open log: disk on fire"},
		{name: "missing file", path: "/containerLogs/default/web/nofile", wantCode: 400},
		{name: "undecodable query", path: "/containerLogs/default/web/app?tailLines=x", wantCode: 400, want: `{"message": "Unable to decode query."}`},
		{name: "invalid options", path: "/containerLogs/default/web/app?tailLines=-1", wantCode: 422, want: `{"message": "Invalid request."}`},
		{name: "bad path", path: "/containerLogs/default/web", wantCode: 404, want: "404 page not found"},
		{name: "not a name", path: "/containerLogs/default/web/..", wantCode: 404, want: `pod "web" does not exist`},
		{name: "escaped traversal", path: "/containerLogs/default/%2E%2E/app", wantCode: 404, want: `pod ".." does not exist`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, e.apiServer, e.url+tc.path)
			if code != tc.wantCode || (tc.want != "" && body != tc.want) {
				t.Errorf("%d %q, want %d %q", code, body, tc.wantCode, tc.want)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	e := newEndpoint(t)
	e.containers.write(t, "web", "app.log", logFile, false)
	tests := []struct {
		name     string
		client   *http.Client
		path     string
		wantCode int
		want     string
	}{
		{name: "healthz needs no certificate", client: e.anonymous, path: "/healthz", wantCode: 200, want: "ok"},
		{name: "logs need a certificate", client: e.anonymous, path: "/containerLogs/default/web/app", wantCode: 401, want: "Unauthorized"},
		{name: "logs need the API server's identity", client: e.stranger, path: "/containerLogs/default/web/app", wantCode: 403,
			want: "Forbidden (user=system:node:other, verb=get, resource=nodes, subresource(s)=[proxy])"},
		{name: "the API server reads logs", client: e.apiServer, path: "/containerLogs/default/web/app", wantCode: 200, want: "one\ntwo\nthree\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.client, e.url+tc.path)
			if code != tc.wantCode || body != tc.want {
				t.Errorf("%d %q, want %d %q", code, body, tc.wantCode, tc.want)
			}
		})
	}
	t.Run("a certificate of another CA is refused", func(t *testing.T) {
		other, err := pki.Ensure(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := other.NodeClientTLS()
		if err != nil {
			t.Fatal(err)
		}
		cfg.InsecureSkipVerify = true
		transport := &http.Transport{TLSClientConfig: cfg}
		defer transport.CloseIdleConnections()
		resp, err := (&http.Client{Transport: transport, Timeout: 10 * time.Second}).Get(e.url + "/containerLogs/default/web/app")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a client certificate of another CA got %d", resp.StatusCode)
		}
	})
}

func TestFollow(t *testing.T) {
	e := newEndpoint(t)
	e.containers.write(t, "web", "app.log", "2026-05-01T10:00:00Z stdout F first\n", false)
	e.containers.running.Store(true)
	resp, err := e.apiServer.Get(e.url + "/containerLogs/default/web/app?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(lines)
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				lines <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-lines:
			if got != want {
				t.Fatalf("read %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("nothing read, want %q", want)
		}
	}
	expect("first\n")
	e.containers.write(t, "web", "app.log", "2026-05-01T10:00:01Z stdout F second\n", true)
	expect("second\n")
	e.containers.write(t, "web", "app.log", "2026-05-01T10:00:02Z stdout F last\n", true)
	e.containers.running.Store(false)
	var rest string
	for chunk := range lines {
		rest += chunk
	}
	wg.Wait()
	if rest != "last\n" {
		t.Errorf("after the container stopped: %q", rest)
	}
}

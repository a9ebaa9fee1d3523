package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
)

func caPool(t testing.TB, caPEM []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA PEM holds no certificate")
	}
	return pool
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestEnsureServingCertVerifiesForEveryName(t *testing.T) {
	dir := t.TempDir()
	bundle, err := Ensure(dir, []string{"Peapod.Example", "10.1.2.3", "0.0.0.0", ""})
	if err != nil {
		t.Fatal(err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"localhost", "127.0.0.1", "::1", hostname, "peapod.example", "10.1.2.3"}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		want = append(want, addr.(*net.IPNet).IP.String())
	}

	leaf := bundle.ServingCert.Leaf
	roots := caPool(t, bundle.CAPEM)
	for _, name := range want {
		opts := x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("serving certificate does not verify for %q: %v", name, err)
		}
	}
	if slices.ContainsFunc(leaf.IPAddresses, net.IP.IsUnspecified) {
		t.Errorf("serving certificate lists an unspecified address: %v", leaf.IPAddresses)
	}

	for _, key := range []any{bundle.ServingCert.PrivateKey, leaf.PublicKey} {
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			if k.Curve != elliptic.P256() {
				t.Errorf("serving key curve = %v, want P-256", k.Curve.Params().Name)
			}
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				t.Errorf("serving public key curve = %v, want P-256", k.Curve.Params().Name)
			}
		default:
			t.Errorf("serving key is %T, want ECDSA", key)
		}
	}
	ca := parseCA(t, bundle.CAPEM)
	if got := ca.NotAfter.Sub(ca.NotBefore); got < 10*365*24*time.Hour {
		t.Errorf("CA validity = %v, want at least 10 years", got)
	}
	if got := leaf.NotAfter.Sub(time.Now()); got < 364*24*time.Hour || got > 366*24*time.Hour {
		t.Errorf("serving certificate expires in %v, want about one year", got)
	}

	if len(bundle.Token) != 64 {
		t.Errorf("token length = %d, want 64 hex digits", len(bundle.Token))
	}
	if _, err := hex.DecodeString(bundle.Token); err != nil {
		t.Errorf("token is not hex: %v", err)
	}
	if got := string(bytes.TrimSpace(readFile(t, filepath.Join(dir, "token")))); got != bundle.Token {
		t.Errorf("token file holds %q, bundle %q", got, bundle.Token)
	}
	for _, secret := range []string{"token", "tls/ca.key", "tls/server.key"} {
		if mode := fileMode(t, filepath.Join(dir, secret)); mode != 0o600 {
			t.Errorf("%s mode = %v, want 0600", secret, mode)
		}
	}
}

func parseCA(t *testing.T, caPEM []byte) *x509.Certificate {
	t.Helper()
	certs, err := certutil.ParseCertsPEM(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// TestEnsureServesTLS checks that the bundle works end to end: a client trusting only CAPEM
// completes a handshake with a server using ServingCert.
func TestEnsureServesTLS(t *testing.T) {
	bundle, err := Ensure(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	server.TLS = &tls.Config{Certificates: []tls.Certificate{bundle.ServingCert}}
	server.StartTLS()
	defer server.Close()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, bundle.CAPEM)}}}
	defer client.CloseIdleConnections()
	// httptest listens on 127.0.0.1; "localhost" exercises a DNS SAN as well.
	for _, host := range []string{server.Listener.Addr().String(), "localhost:" + portOf(t, server.Listener.Addr())} {
		resp, err := client.Get("https://" + host)
		if err != nil {
			t.Fatalf("GET https://%s: %v", host, err)
		}
		_ = resp.Body.Close()
	}
}

func portOf(t *testing.T, addr net.Addr) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestEnsureReusesEverything(t *testing.T) {
	dir := t.TempDir()
	first, err := Ensure(dir, []string{"peapod.example"})
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"tls/ca.crt", "tls/ca.key", "tls/server.crt", "tls/server.key", "token",
		"tls/apiserver-kubelet-client.crt", "tls/apiserver-kubelet-client.key", "tls/sa.key"}
	before := map[string][]byte{}
	for _, name := range files {
		before[name] = readFile(t, filepath.Join(dir, name))
	}

	second, err := Ensure(dir, []string{"peapod.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.CAPEM, second.CAPEM) {
		t.Error("CA changed on reuse")
	}
	if !bytes.Equal(first.ServingCert.Certificate[0], second.ServingCert.Certificate[0]) {
		t.Error("serving certificate changed on reuse")
	}
	if first.Token != second.Token {
		t.Error("token changed on reuse")
	}
	for _, name := range files {
		if !bytes.Equal(before[name], readFile(t, filepath.Join(dir, name))) {
			t.Errorf("%s was rewritten on reuse", name)
		}
	}
}

func TestEnsureRegeneratesServingCert(t *testing.T) {
	names := newAltNames([]string{"localhost", "127.0.0.1"})
	start := time.Now()
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		names  altNames
		now    time.Time
	}{
		{
			name:  "requested name missing",
			names: newAltNames([]string{"localhost", "127.0.0.1", "new.example", "192.0.2.7"}),
			now:   start,
		},
		{
			name:  "expires within 30 days",
			names: names,
			now:   start.Add(340 * 24 * time.Hour),
		},
		{
			name:   "key removed",
			damage: func(t *testing.T, dir string) { removeFile(t, filepath.Join(dir, "tls/server.key")) },
			names:  names,
			now:    start,
		},
		{
			name: "key of another certificate",
			damage: func(t *testing.T, dir string) {
				copyFile(t, filepath.Join(dir, "tls/ca.key"), filepath.Join(dir, "tls/server.key"))
			},
			names: names,
			now:   start,
		},
		{
			name: "signed by another CA",
			damage: func(t *testing.T, dir string) {
				otherDir := t.TempDir()
				if _, err := ensure(otherDir, names, start); err != nil {
					t.Fatal(err)
				}
				copyFile(t, filepath.Join(otherDir, "tls/server.crt"), filepath.Join(dir, "tls/server.crt"))
				copyFile(t, filepath.Join(otherDir, "tls/server.key"), filepath.Join(dir, "tls/server.key"))
			},
			names: names,
			now:   start,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := ensure(dir, names, start)
			if err != nil {
				t.Fatal(err)
			}
			if tt.damage != nil {
				tt.damage(t, dir)
			}
			second, err := ensure(dir, tt.names, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(first.ServingCert.Certificate[0], second.ServingCert.Certificate[0]) {
				t.Fatal("serving certificate was reused")
			}
			if !bytes.Equal(first.CAPEM, second.CAPEM) {
				t.Error("CA changed, want only the serving certificate regenerated")
			}
			if first.Token != second.Token {
				t.Error("token changed")
			}
			roots := caPool(t, second.CAPEM)
			for _, name := range append(slices.Clone(tt.names.dns), ipStrings(tt.names.ips)...) {
				opts := x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: tt.now}
				if _, err := second.ServingCert.Leaf.Verify(opts); err != nil {
					t.Errorf("new serving certificate does not verify for %q: %v", name, err)
				}
			}
			onDisk, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls/server.crt"), filepath.Join(dir, "tls/server.key"))
			if err != nil {
				t.Fatalf("regenerated files do not load: %v", err)
			}
			if !bytes.Equal(onDisk.Certificate[0], second.ServingCert.Certificate[0]) {
				t.Error("files on disk differ from the returned certificate")
			}
		})
	}
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureCALifecycle(t *testing.T) {
	names := newAltNames([]string{"localhost"})
	start := time.Now()
	tests := []struct {
		name      string
		damage    func(t *testing.T, dir string)
		now       time.Time
		wantErr   bool
		wantNewCA bool
	}{
		{name: "kept while valid", now: start.Add(9 * 365 * 24 * time.Hour)},
		{name: "renewed within 30 days of expiry", now: start.Add(10*365*24*time.Hour - 10*24*time.Hour), wantNewCA: true},
		{
			name:      "certificate absent after an interrupted first start",
			damage:    func(t *testing.T, dir string) { removeFile(t, filepath.Join(dir, "tls/ca.crt")) },
			now:       start,
			wantNewCA: true,
		},
		{
			name:    "key absent is refused",
			damage:  func(t *testing.T, dir string) { removeFile(t, filepath.Join(dir, "tls/ca.key")) },
			now:     start,
			wantErr: true,
		},
		{
			name: "key of another CA is refused",
			damage: func(t *testing.T, dir string) {
				copyFile(t, filepath.Join(dir, "tls/server.key"), filepath.Join(dir, "tls/ca.key"))
			},
			now:     start,
			wantErr: true,
		},
		{
			name: "corrupt certificate is refused",
			damage: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "tls/ca.crt"), []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			now:     start,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := ensure(dir, names, start)
			if err != nil {
				t.Fatal(err)
			}
			if tt.damage != nil {
				tt.damage(t, dir)
			}
			second, err := ensure(dir, names, tt.now)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error, got none")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if newCA := !bytes.Equal(first.CAPEM, second.CAPEM); newCA != tt.wantNewCA {
				t.Fatalf("new CA = %v, want %v", newCA, tt.wantNewCA)
			}
			opts := x509.VerifyOptions{DNSName: "localhost", Roots: caPool(t, second.CAPEM), CurrentTime: tt.now}
			if _, err := second.ServingCert.Leaf.Verify(opts); err != nil {
				t.Errorf("serving certificate does not chain to the current CA: %v", err)
			}
			if second.ServingCert.Leaf.NotAfter.After(parseCA(t, second.CAPEM).NotAfter) {
				t.Error("serving certificate outlives its CA")
			}
		})
	}
}

func TestEnsureToken(t *testing.T) {
	tests := []struct {
		name      string
		content   string
		mode      os.FileMode
		wantToken string
		wantErr   bool
	}{
		{name: "operator token reused and narrowed to 0600", content: "my-token\n", mode: 0o644, wantToken: "my-token"},
		{name: "empty token refused", content: " \n", mode: 0o600, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "token")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			bundle, err := Ensure(dir, nil)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error, got none")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bundle.Token != tt.wantToken {
				t.Errorf("token = %q, want %q", bundle.Token, tt.wantToken)
			}
			if mode := fileMode(t, path); mode != 0o600 {
				t.Errorf("token mode = %v, want 0600", mode)
			}
		})
	}
}

func TestWriteKubeconfig(t *testing.T) {
	dir := t.TempDir()
	bundle, err := Ensure(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nested", "kubeconfig.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// A stale, world-readable file must be replaced, not rewritten in place with its old mode.
	if err := os.WriteFile(path, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	const serverURL = "https://127.0.0.1:6443"
	if err := WriteKubeconfig(path, serverURL, bundle.CAPEM, bundle.Token); err != nil {
		t.Fatal(err)
	}
	if mode := fileMode(t, path); mode != 0o600 {
		t.Errorf("kubeconfig mode = %v, want 0600", mode)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the kubeconfig (temporary file left behind?)", len(entries))
	}

	config, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if config.CurrentContext != "peapod" {
		t.Errorf("current-context = %q, want peapod", config.CurrentContext)
	}
	context := config.Contexts["peapod"]
	if context == nil || context.Cluster != "peapod" || context.AuthInfo != "admin" {
		t.Fatalf("context peapod = %+v, want cluster peapod and user admin", context)
	}
	restConfig, err := clientcmd.NewDefaultClientConfig(*config, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if restConfig.Host != serverURL {
		t.Errorf("host = %q, want %q", restConfig.Host, serverURL)
	}
	if restConfig.BearerToken != bundle.Token {
		t.Errorf("bearer token = %q, want the bundle's", restConfig.BearerToken)
	}
	if !bytes.Equal(restConfig.CAData, bundle.CAPEM) {
		t.Error("CA data differs from the bundle's CA")
	}
}

func TestWriteKubeconfigFailsWithContext(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteKubeconfig(filepath.Join(blocker, "kubeconfig.yaml"), "https://127.0.0.1:6443", nil, "t")
	if err == nil {
		t.Fatal("want an error writing under a regular file")
	}
}

func TestNewAltNames(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		wantDNS []string
		wantIPs []string
	}{
		{name: "dns lower-cased and deduplicated", in: []string{"Host", "host", " host "}, wantDNS: []string{"host"}},
		{name: "equal IPv6 spellings deduplicated", in: []string{"::1", "0:0::1"}, wantIPs: []string{"::1"}},
		{name: "unspecified and empty dropped", in: []string{"0.0.0.0", "::", "", "10.0.0.1"}, wantIPs: []string{"10.0.0.1"}},
		{name: "mixed", in: []string{"a.example", "192.0.2.1"}, wantDNS: []string{"a.example"}, wantIPs: []string{"192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newAltNames(tt.in)
			if !slices.Equal(got.dns, tt.wantDNS) {
				t.Errorf("dns = %v, want %v", got.dns, tt.wantDNS)
			}
			if gotIPs := ipStrings(got.ips); !slices.Equal(gotIPs, tt.wantIPs) {
				t.Errorf("ips = %v, want %v", gotIPs, tt.wantIPs)
			}
		})
	}
}

// BenchmarkEnsureFirstStart measures a first start: keys, certificates and token generated and
// fsynced into an empty data directory.
func BenchmarkEnsureFirstStart(b *testing.B) {
	root := b.TempDir()
	b.ResetTimer()
	for i := range b.N {
		if _, err := Ensure(filepath.Join(root, strconv.Itoa(i)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnsureReuse measures every later start: everything loaded and checked, nothing written.
func BenchmarkEnsureReuse(b *testing.B) {
	dir := b.TempDir()
	if _, err := Ensure(dir, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := Ensure(dir, nil); err != nil {
			b.Fatal(err)
		}
	}
}

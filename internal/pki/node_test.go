package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// TestNodeMutualTLS serves with a node certificate that requires a CA-signed client certificate, and
// connects with the API server's kubelet-client configuration by the node's name and by 127.0.0.1.
func TestNodeMutualTLS(t *testing.T) {
	dir := t.TempDir()
	bundle, err := Ensure(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := bundle.KubeletClientCert.Leaf
	if client.Subject.CommonName != KubeletClientCommonName || len(client.Subject.Organization) != 1 ||
		client.Subject.Organization[0] != KubeletClientOrganization {
		t.Errorf("kubelet client subject %v", client.Subject)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: caPool(t, bundle.CAPEM), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("kubelet client certificate does not verify as a client: %v", err)
	}
	serving, err := EnsureNodeServing(dir, "node-a", []string{"10.0.0.7", "node-a.example"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := serving.Leaf
	for _, name := range []string{"node-a", "node-a.example", "10.0.0.7", "127.0.0.1"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("node serving certificate: %v", err)
		}
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: caPool(t, bundle.CAPEM)}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	clientTLS, err := bundle.NodeClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, host := range []string{"127.0.0.1", "node-a"} {
		cfg := clientTLS.Clone()
		dial := func(network, _ string) (net.Conn, error) {
			return net.Dial(network, srv.Listener.Addr().String())
		}
		transport := &http.Transport{TLSClientConfig: cfg, Dial: dial}
		resp, err := (&http.Client{Transport: transport, Timeout: 10 * time.Second}).Get("https://" + net.JoinHostPort(host, port) + "/")
		if err != nil {
			t.Fatalf("GET via %s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		transport.CloseIdleConnections()
		if string(body) != KubeletClientCommonName {
			t.Errorf("via %s: server saw client %q", host, body)
		}
	}
}

func TestEnsureNodeServing(t *testing.T) {
	t.Run("needs the CA", func(t *testing.T) {
		if _, err := EnsureNodeServing(t.TempDir(), "node-a", nil); err == nil {
			t.Fatal("issued a node certificate without a CA")
		}
	})
	t.Run("bad node name", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Ensure(dir, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := EnsureNodeServing(dir, "../etc", nil); err == nil {
			t.Fatal("accepted a node name that is a path")
		}
	})
	t.Run("reused, then reissued for a new address", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Ensure(dir, nil); err != nil {
			t.Fatal(err)
		}
		first, err := EnsureNodeServing(dir, "node-a", []string{"10.0.0.7"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := EnsureNodeServing(dir, "node-a", []string{"10.0.0.7"})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Certificate[0], again.Certificate[0]) {
			t.Error("node certificate reissued although it still fits")
		}
		moved, err := EnsureNodeServing(dir, "node-a", []string{"10.0.0.8"})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(first.Certificate[0], moved.Certificate[0]) || moved.Leaf.VerifyHostname("10.0.0.8") != nil {
			t.Error("node certificate not reissued for a new address")
		}
		if mode := fileMode(t, filepath.Join(dir, "tls", "kubelet-node-a.key")); mode != 0o600 {
			t.Errorf("node key mode %v", mode)
		}
	})
}

func TestServiceAccountKey(t *testing.T) {
	dir := t.TempDir()
	first, err := Ensure(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := first.ServiceAccountKey.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("service-account key %T, want ECDSA", first.ServiceAccountKey)
	}
	if mode := fileMode(t, filepath.Join(dir, "tls", "sa.key")); mode != 0o600 {
		t.Errorf("sa.key mode %v", mode)
	}
	second, err := Ensure(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first.ServiceAccountKey.Public().(*ecdsa.PublicKey).Equal(second.ServiceAccountKey.Public()) {
		t.Error("service-account key changed on restart: every issued token would be invalidated")
	}
}

package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/keyutil"
)

// The API server's identity towards node agents, as kubeadm issues it (apiserver-kubelet-client.crt).
const (
	KubeletClientCommonName   = "kube-apiserver-kubelet-client"
	KubeletClientOrganization = "system:masters"
)

const (
	kubeletClientCertName = "apiserver-kubelet-client.crt"
	kubeletClientKeyName  = "apiserver-kubelet-client.key"
	saKeyFileName         = "sa.key"
)

func ensureKubeletClient(tlsDir string, ca *authority, now time.Time) (tls.Certificate, error) {
	return ensureLeaf(tlsDir, kubeletClientCertName, kubeletClientKeyName, ca, leafSpec{
		what:    "kubelet client",
		subject: pkix.Name{CommonName: KubeletClientCommonName, Organization: []string{KubeletClientOrganization}},
		usage:   x509.ExtKeyUsageClientAuth,
	}, now)
}

// NodeClientTLS is the client configuration the API server reaches node agents with: it presents the
// kubelet-client certificate and trusts only the cluster CA.
func (b *Bundle) NodeClientTLS() (*tls.Config, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b.CAPEM) {
		return nil, errors.New("node client TLS: no certificate in the CA bundle")
	}
	return &tls.Config{
		RootCAs:      roots,
		Certificates: []tls.Certificate{b.KubeletClientCert},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// EnsureNodeServing returns the serving certificate of the node agent called nodeName, valid for that
// name, each of addresses (IP addresses or DNS names) and 127.0.0.1, signed by the cluster CA in
// <dataDir>/tls and kept there as kubelet-<nodeName>.crt and .key. It is reissued when it misses a name,
// expires within 30 days or no longer chains to the CA. The CA must already exist (Ensure creates it):
// a node agent never creates a CA of its own.
func EnsureNodeServing(dataDir, nodeName string, addresses []string) (tls.Certificate, error) {
	return ensureNodeServing(dataDir, nodeName, addresses, time.Now())
}

func ensureNodeServing(dataDir, nodeName string, addresses []string, now time.Time) (tls.Certificate, error) {
	if errs := validation.IsDNS1123Subdomain(nodeName); len(errs) > 0 {
		return tls.Certificate{}, fmt.Errorf("node serving certificate: node name %q: %v", nodeName, errs)
	}
	tlsDir := filepath.Join(dataDir, tlsDirName)
	ca, err := loadCA(filepath.Join(tlsDir, caCertFileName), filepath.Join(tlsDir, caKeyFileName))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node serving certificate: %w", err)
	}
	if !now.Before(ca.cert.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("node serving certificate: the cluster CA expired at %s", ca.cert.NotAfter)
	}
	names := newAltNames(append([]string{nodeName, "127.0.0.1"}, addresses...))
	return ensureLeaf(tlsDir, "kubelet-"+nodeName+".crt", "kubelet-"+nodeName+".key", ca, leafSpec{
		what:    "node serving",
		subject: pkix.Name{CommonName: nodeName},
		usage:   x509.ExtKeyUsageServerAuth,
		names:   names,
	}, now)
}

// ensureServiceAccountKey loads the key service-account tokens are signed with, generating an ECDSA
// P-256 key on first start. The key is never rotated: replacing it would invalidate every token issued.
func ensureServiceAccountKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		parsed, err := keyutil.ParsePrivateKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("parse service-account key %s: %w", path, err)
		}
		switch key := parsed.(type) {
		case *ecdsa.PrivateKey:
			return key, restrictMode(path)
		case *rsa.PrivateKey:
			return key, restrictMode(path)
		default:
			return nil, fmt.Errorf("service-account key %s: %T is neither ECDSA nor RSA", path, parsed)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read service-account key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %w", err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, fmt.Errorf("encode service-account key: %w", err)
	}
	if err := writeFileAtomic(path, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write service-account key: %w", err)
	}
	return key, nil
}

// Package pki creates and keeps the server's trust material in the data directory: a certificate
// authority, the API server's serving certificate signed by it, its client certificate towards node
// agents, the node agents' serving certificates, the service-account signing key, the admin bearer
// token, and the admin kubeconfig that ties them together. The first start generates them; later starts reuse them and
// renew only what is missing, about to expire, or no longer covers the server's names.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

const (
	caValidity      = 10 * 365 * 24 * time.Hour
	servingValidity = 365 * 24 * time.Hour
	// renewBefore is how long before expiry a certificate is replaced, so that a server restarted
	// near the end of a certificate's life does not start serving one that lapses soon after.
	renewBefore = 30 * 24 * time.Hour
	// backdate covers small clock differences between this machine and its clients.
	backdate = time.Minute

	tokenBytes = 32
)

// File names inside the data directory.
const (
	tlsDirName        = "tls"
	caCertFileName    = "ca.crt"
	caKeyFileName     = "ca.key"
	servingCertName   = "server.crt"
	servingKeyName    = "server.key"
	tokenFileName     = "token"
	kubeconfigCluster = "peapod"
	kubeconfigUser    = "admin"
	kubeconfigContext = "peapod"
)

// Bundle is the trust material the API server needs to serve and to authenticate the admin.
type Bundle struct {
	// CAPEM is the PEM-encoded CA certificate clients verify the server with.
	CAPEM []byte
	// ServingCert is the server's certificate (Leaf set) and private key.
	ServingCert tls.Certificate
	// Token is the admin bearer token.
	Token string
	// KubeletClientCert is the certificate (CN kube-apiserver-kubelet-client, O system:masters) the API
	// server presents to node agents.
	KubeletClientCert tls.Certificate
	// ServiceAccountKey signs service-account tokens.
	ServiceAccountKey crypto.Signer
}

// Ensure loads the CA, serving certificate and admin token from <dataDir>/tls and <dataDir>/token,
// generating whatever is missing. The serving certificate is valid for localhost, 127.0.0.1, ::1, the
// host name, every address of the host's interfaces and each of hosts (DNS names or IP addresses;
// empty and unspecified addresses such as 0.0.0.0 are ignored); it is regenerated when it misses one
// of these names, expires within 30 days, or no longer chains to the CA. The CA is regenerated only
// when its certificate is absent or expires within 30 days; a CA certificate without its key is an
// error, since replacing it would silently invalidate every client that trusts it.
func Ensure(dataDir string, hosts []string) (*Bundle, error) {
	names, err := servingNames(hosts)
	if err != nil {
		return nil, err
	}
	return ensure(dataDir, names, time.Now())
}

func ensure(dataDir string, names altNames, now time.Time) (*Bundle, error) {
	tlsDir := filepath.Join(dataDir, tlsDirName)
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, fmt.Errorf("create TLS directory: %w", err)
	}
	ca, err := ensureCA(tlsDir, now)
	if err != nil {
		return nil, err
	}
	serving, err := ensureServing(tlsDir, ca, names, now)
	if err != nil {
		return nil, err
	}
	kubeletClient, err := ensureKubeletClient(tlsDir, ca, now)
	if err != nil {
		return nil, err
	}
	saKey, err := ensureServiceAccountKey(filepath.Join(tlsDir, saKeyFileName))
	if err != nil {
		return nil, err
	}
	token, err := ensureToken(filepath.Join(dataDir, tokenFileName))
	if err != nil {
		return nil, err
	}
	return &Bundle{CAPEM: ca.certPEM, ServingCert: serving, Token: token, KubeletClientCert: kubeletClient, ServiceAccountKey: saKey}, nil
}

type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

func ensureCA(tlsDir string, now time.Time) (*authority, error) {
	certPath := filepath.Join(tlsDir, caCertFileName)
	keyPath := filepath.Join(tlsDir, caKeyFileName)

	ca, err := loadCA(certPath, keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No CA certificate was ever published (a key alone is the trace of an interrupted first
		// start), so generating one breaks no client's trust.
	case err != nil:
		return nil, err
	case now.Add(renewBefore).Before(ca.cert.NotAfter):
		return ca, nil
	}
	return generateCA(certPath, keyPath, now)
}

// loadCA returns an error wrapping fs.ErrNotExist only when the CA certificate is absent.
func loadCA(certPath, keyPath string) (*authority, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		// Not wrapped: a missing key must not look like a missing CA.
		return nil, fmt.Errorf("read CA key (the CA certificate %s exists; restore its key or remove both to generate a new CA): %v", certPath, err)
	}
	parsedKey, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA key %s: %w", keyPath, err)
	}
	key, ok := parsedKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key %s: %T cannot sign", keyPath, parsedKey)
	}
	if !publicKeysEqual(certs[0].PublicKey, key.Public()) {
		return nil, fmt.Errorf("CA key %s does not match certificate %s", keyPath, certPath)
	}
	return &authority{cert: certs[0], certPEM: certPEM, key: key}, nil
}

func generateCA(certPath, keyPath string, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("peapod-ca@%d", now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	certPEM, err := certutil.EncodeCertificates(cert)
	if err != nil {
		return nil, fmt.Errorf("encode CA certificate: %w", err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, fmt.Errorf("encode CA key: %w", err)
	}
	// The key goes first: the certificate's presence is what marks the CA as existing.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write CA key: %w", err)
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write CA certificate: %w", err)
	}
	return &authority{cert: cert, certPEM: certPEM, key: key}, nil
}

func ensureServing(tlsDir string, ca *authority, names altNames, now time.Time) (tls.Certificate, error) {
	return ensureLeaf(tlsDir, servingCertName, servingKeyName, ca, leafSpec{
		what:    "serving",
		subject: pkix.Name{CommonName: "peapod-apiserver"},
		usage:   x509.ExtKeyUsageServerAuth,
		names:   names,
	}, now)
}

// ensureToken reuses the token file when present (so an operator may also write their own) and
// otherwise creates one with 32 random bytes, hex-encoded.
func ensureToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		token := strings.TrimSpace(string(data))
		if token == "" {
			return "", fmt.Errorf("token file %s is empty; remove it to generate a new token", path)
		}
		if err := restrictMode(path); err != nil {
			return "", err
		}
		return token, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read token: %w", err)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	token := hex.EncodeToString(raw)
	if err := writeFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return token, nil
}

// restrictMode narrows a secret file left readable by others back to 0600.
func restrictMode(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if info.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("restrict %s to mode 0600: %w", path, err)
	}
	return nil
}

// WriteKubeconfig atomically writes, with mode 0600, a kubeconfig whose current context "peapod"
// reaches serverURL as user "admin" with the bearer token, trusting caPEM.
func WriteKubeconfig(path, serverURL string, caPEM []byte, token string) error {
	config := clientcmdapi.NewConfig()
	config.Clusters[kubeconfigCluster] = &clientcmdapi.Cluster{
		Server:                   serverURL,
		CertificateAuthorityData: caPEM,
	}
	config.AuthInfos[kubeconfigUser] = &clientcmdapi.AuthInfo{Token: token}
	config.Contexts[kubeconfigContext] = &clientcmdapi.Context{
		Cluster:  kubeconfigCluster,
		AuthInfo: kubeconfigUser,
	}
	config.CurrentContext = kubeconfigContext

	// clientcmd.WriteToFile writes in place; serialising with clientcmd.Write and renaming a
	// temporary file means a reader never sees a half-written kubeconfig.
	data, err := clientcmd.Write(*config)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create kubeconfig directory: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data: a crash leaves either the old file or the new one, and
// the new one is on disk before this returns.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("set mode of %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

func randomSerial() (*big.Int, error) {
	// Uniform in [1, MaxInt64): positive, as RFC 5280 requires.
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64-1))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ae, ok := a.(equaler)
	return ok && ae.Equal(b)
}

// altNames are the subject alternative names of the serving certificate.
type altNames struct {
	dns []string
	ips []net.IP
}

// servingNames gathers the names the serving certificate must cover: the loopback names, the host
// name, the addresses of every interface, and the extra hosts.
func servingNames(hosts []string) (altNames, error) {
	candidates := []string{"localhost", "127.0.0.1", "::1"}
	hostname, err := os.Hostname()
	if err != nil {
		return altNames{}, fmt.Errorf("look up host name: %w", err)
	}
	candidates = append(candidates, hostname)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return altNames{}, fmt.Errorf("list interface addresses: %w", err)
	}
	for _, addr := range addrs {
		if ipNet, ok := addr.(*net.IPNet); ok {
			candidates = append(candidates, ipNet.IP.String())
		}
	}
	return newAltNames(append(candidates, hosts...)), nil
}

// newAltNames sorts names into DNS names and IP addresses, dropping duplicates, empty names and
// unspecified addresses (a listen address like 0.0.0.0 is not a name anyone can connect to).
func newAltNames(names []string) altNames {
	var result altNames
	for _, name := range names {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if ip := net.ParseIP(name); ip != nil {
			if ip.IsUnspecified() || slices.ContainsFunc(result.ips, ip.Equal) {
				continue
			}
			result.ips = append(result.ips, ip)
			continue
		}
		if !slices.Contains(result.dns, name) {
			result.dns = append(result.dns, name)
		}
	}
	return result
}

func (n altNames) coveredBy(cert *x509.Certificate) bool {
	for _, name := range n.dns {
		if !slices.Contains(cert.DNSNames, name) {
			return false
		}
	}
	for _, ip := range n.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

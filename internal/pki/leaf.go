package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// leafSpec describes a certificate the CA signs for one party: its subject, what it is used for and, for
// a serving certificate, the names it must cover.
type leafSpec struct {
	what    string // for error messages: "serving", "kubelet client", ...
	subject pkix.Name
	usage   x509.ExtKeyUsage
	names   altNames
}

// ensureLeaf reuses the certificate in tlsDir when it still suits spec and otherwise issues a new one. A
// leaf carries no trust of its own, so anything unusable (absent, unreadable, mismatched, expiring,
// missing a name, another subject, signed by another CA) is simply replaced.
func ensureLeaf(tlsDir, certName, keyName string, ca *authority, spec leafSpec, now time.Time) (tls.Certificate, error) {
	certPath := filepath.Join(tlsDir, certName)
	keyPath := filepath.Join(tlsDir, keyName)
	if pair, ok := loadLeaf(certPath, keyPath, ca, spec, now); ok {
		return pair, nil
	}
	return generateLeaf(certPath, keyPath, ca, spec, now)
}

func loadLeaf(certPath, keyPath string, ca *authority, spec leafSpec, now time.Time) (tls.Certificate, bool) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, false
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, false
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, false
	}
	leaf := pair.Leaf
	if !now.Add(renewBefore).Before(leaf.NotAfter) || !spec.names.coveredBy(leaf) {
		return tls.Certificate{}, false
	}
	if leaf.Subject.CommonName != spec.subject.CommonName || !slices.Equal(leaf.Subject.Organization, spec.subject.Organization) {
		return tls.Certificate{}, false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{spec.usage}}
	if _, err := leaf.Verify(opts); err != nil {
		return tls.Certificate{}, false
	}
	return pair, true
}

func generateLeaf(certPath, keyPath string, ca *authority, spec leafSpec, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate %s key: %w", spec.what, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	notAfter := now.Add(servingValidity)
	if ca.cert.NotAfter.Before(notAfter) {
		notAfter = ca.cert.NotAfter
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      spec.subject,
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{spec.usage},
		DNSNames:     spec.names.dns,
		IPAddresses:  spec.names.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create %s certificate: %w", spec.what, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse new %s certificate: %w", spec.what, err)
	}
	certPEM, err := certutil.EncodeCertificates(leaf)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("encode %s certificate: %w", spec.what, err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("encode %s key: %w", spec.what, err)
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write %s key: %w", spec.what, err)
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write %s certificate: %w", spec.what, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

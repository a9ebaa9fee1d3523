// Package serviceaccount issues and verifies service-account tokens as kube-apiserver does: JWTs signed
// with the cluster's service-account key (ES256 for an ECDSA P-256 key, RS256 for RSA) that carry the
// registered claims and the "kubernetes.io" private claim naming the namespace, the service account
// and the objects the token is bound to.
package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// DefaultIssuer is kube-apiserver's usual --service-account-issuer; it is also the audience the API
// server accepts by default.
const DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

// leeway tolerates clock differences when checking exp, nbf and iat, as Kubernetes' validator does.
const leeway = time.Minute

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid service-account token")

// Ref names an object a token speaks of.
type Ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// Claims is what a token says.
type Claims struct {
	Namespace      string
	ServiceAccount Ref
	// Pod, Secret and Node are the objects the token is bound to, when it is.
	Pod, Secret, Node *Ref
	Audiences         []string
	IssuedAt          time.Time
	NotBefore         time.Time
	Expiry            time.Time
	// WarnAfter is set on tokens whose lifetime was extended for old clients: using one after this time
	// is worth a warning (Kubernetes' --service-account-extend-token-expiration).
	WarnAfter time.Time
	// ID is the jti claim, unique per token.
	ID string
}

// Subject is the token's sub claim and the user name it authenticates as.
func (c *Claims) Subject() string { return Username(c.Namespace, c.ServiceAccount.Name) }

// Username is the user name of a service account: system:serviceaccount:<namespace>:<name>.
func Username(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// issuedClaims are the registered claims as Kubernetes writes them: unlike jwt.Claims, which writes a
// single audience as a string, aud is always an array.
type issuedClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  []string         `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// privateClaims is the "kubernetes.io" claim exactly as Kubernetes encodes it.
type privateClaims struct {
	Kubernetes kubernetesClaim `json:"kubernetes.io,omitempty"`
}

type kubernetesClaim struct {
	Namespace string           `json:"namespace,omitempty"`
	Svcacct   Ref              `json:"serviceaccount,omitempty"`
	Pod       *Ref             `json:"pod,omitempty"`
	Secret    *Ref             `json:"secret,omitempty"`
	Node      *Ref             `json:"node,omitempty"`
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
}

// Issuer signs and verifies the tokens of one issuer with one key.
type Issuer struct {
	issuer    string
	algorithm jose.SignatureAlgorithm
	signer    jose.Signer
	public    crypto.PublicKey
	keyID     string
}

// New returns an issuer named issuer that signs with key: ES256 for an ECDSA P-256 key, RS256 for RSA.
func New(key crypto.Signer, issuer string) (*Issuer, error) {
	if issuer == "" {
		return nil, errors.New("service-account issuer: empty issuer name")
	}
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("service-account issuer: ECDSA curve %s, want P-256", k.Curve.Params().Name)
		}
		alg = jose.ES256
	case *rsa.PrivateKey:
		alg = jose.RS256
	default:
		return nil, fmt.Errorf("service-account issuer: unsupported key type %T", key)
	}
	keyID, err := keyIDOf(key.Public())
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		return nil, fmt.Errorf("service-account issuer: %w", err)
	}
	return &Issuer{issuer: issuer, algorithm: alg, signer: signer, public: key.Public(), keyID: keyID}, nil
}

// keyIDOf is Kubernetes' key ID: the unpadded base64url SHA-256 of the public key's PKIX encoding, so
// that verifiers can pick the key out of a JWKS.
func keyIDOf(public crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(public)
	if err != nil {
		return "", fmt.Errorf("service-account key ID: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// Name is the iss claim of the issuer's tokens.
func (i *Issuer) Name() string { return i.issuer }

// KeyID is the kid header of the issuer's tokens.
func (i *Issuer) KeyID() string { return i.keyID }

// Issue signs c. An empty ID gets a random one.
func (i *Issuer) Issue(c Claims) (string, error) {
	if c.Namespace == "" || c.ServiceAccount.Name == "" || c.ServiceAccount.UID == "" {
		return "", errors.New("issue service-account token: namespace, service account name and uid are required")
	}
	if len(c.Audiences) == 0 {
		return "", errors.New("issue service-account token: no audience")
	}
	if c.ID == "" {
		c.ID = string(uuid.NewUUID())
	}
	registered := issuedClaims{
		Issuer:    i.issuer,
		Subject:   c.Subject(),
		Audience:  c.Audiences,
		Expiry:    jwt.NewNumericDate(c.Expiry),
		NotBefore: jwt.NewNumericDate(c.NotBefore),
		IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
		ID:        c.ID,
	}
	private := privateClaims{Kubernetes: kubernetesClaim{
		Namespace: c.Namespace, Svcacct: c.ServiceAccount, Pod: c.Pod, Secret: c.Secret, Node: c.Node,
	}}
	if !c.WarnAfter.IsZero() {
		private.Kubernetes.WarnAfter = jwt.NewNumericDate(c.WarnAfter)
	}
	token, err := jwt.Signed(i.signer).Claims(registered).Claims(private).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign service-account token: %w", err)
	}
	return token, nil
}

// Verify checks the token's signature, issuer, times (with a minute of leeway) and that one of its
// audiences is in audiences, and returns its claims. Whether the service account and the bound objects
// still exist is the caller's to check. Every error wraps ErrInvalid.
func (i *Issuer) Verify(token string, audiences []string, now time.Time) (*Claims, error) {
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{i.algorithm})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var registered jwt.Claims
	var private privateClaims
	if err := parsed.Claims(i.public, &registered, &private); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	expected := jwt.Expected{Issuer: i.issuer, AnyAudience: jwt.Audience(audiences), Time: now}
	if err := registered.ValidateWithLeeway(expected, leeway); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if registered.Expiry == nil {
		return nil, fmt.Errorf("%w: no expiry", ErrInvalid)
	}
	k := private.Kubernetes
	if k.Namespace == "" || k.Svcacct.Name == "" || k.Svcacct.UID == "" {
		return nil, fmt.Errorf("%w: no service account in the kubernetes.io claim", ErrInvalid)
	}
	if registered.Subject != Username(k.Namespace, k.Svcacct.Name) {
		return nil, fmt.Errorf("%w: subject %q does not match the kubernetes.io claim", ErrInvalid, registered.Subject)
	}
	c := &Claims{
		Namespace: k.Namespace, ServiceAccount: k.Svcacct, Pod: k.Pod, Secret: k.Secret, Node: k.Node,
		Audiences: registered.Audience, Expiry: registered.Expiry.Time(), ID: registered.ID,
	}
	if registered.IssuedAt != nil {
		c.IssuedAt = registered.IssuedAt.Time()
	}
	if registered.NotBefore != nil {
		c.NotBefore = registered.NotBefore.Time()
	}
	if k.WarnAfter != nil {
		c.WarnAfter = k.WarnAfter.Time()
	}
	return c, nil
}

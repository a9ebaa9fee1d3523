package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newIssuer(t *testing.T, key crypto.Signer, name string) *Issuer {
	t.Helper()
	iss, err := New(key, name)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return iss
}

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func podClaims() Claims {
	return Claims{
		Namespace:      "default",
		ServiceAccount: Ref{Name: "builder", UID: "sa-uid"},
		Pod:            &Ref{Name: "web", UID: "pod-uid"},
		Node:           &Ref{Name: "node1", UID: "node-uid"},
		Audiences:      []string{DefaultIssuer},
		IssuedAt:       now,
		NotBefore:      now,
		Expiry:         now.Add(time.Hour),
	}
}

// payload decodes the JWT's claims without verifying them, to compare with what Kubernetes issues.
func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", token)
	}
	var out map[string]any
	for i, part := range parts[:2] {
		raw, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			t.Fatalf("decode part %d: %v", i, err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if i == 0 {
			out = map[string]any{"header": m}
			continue
		}
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestIssueClaimsAsKubernetes(t *testing.T) {
	iss := newIssuer(t, newKey(t), DefaultIssuer)
	token, err := iss.Issue(podClaims())
	if err != nil {
		t.Fatal(err)
	}
	got := payload(t, token)
	header := got["header"].(map[string]any)
	if header["alg"] != "ES256" || header["kid"] != iss.KeyID() || header["typ"] != "JWT" {
		t.Errorf("header %v", header)
	}
	if got["iss"] != DefaultIssuer || got["sub"] != "system:serviceaccount:default:builder" {
		t.Errorf("iss %v sub %v", got["iss"], got["sub"])
	}
	if got["exp"] != float64(now.Add(time.Hour).Unix()) || got["iat"] != float64(now.Unix()) || got["nbf"] != float64(now.Unix()) {
		t.Errorf("times exp %v iat %v nbf %v", got["exp"], got["iat"], got["nbf"])
	}
	if aud, ok := got["aud"].([]any); !ok || len(aud) != 1 || aud[0] != DefaultIssuer {
		t.Errorf("aud %#v, want an array as Kubernetes writes it", got["aud"])
	}
	if id, _ := got["jti"].(string); len(id) != 36 {
		t.Errorf("jti %v, want a UUID", got["jti"])
	}
	wantKube := map[string]any{
		"namespace":      "default",
		"serviceaccount": map[string]any{"name": "builder", "uid": "sa-uid"},
		"pod":            map[string]any{"name": "web", "uid": "pod-uid"},
		"node":           map[string]any{"name": "node1", "uid": "node-uid"},
	}
	if !reflect.DeepEqual(got["kubernetes.io"], wantKube) {
		t.Errorf("kubernetes.io %v, want %v", got["kubernetes.io"], wantKube)
	}
}

func TestVerify(t *testing.T) {
	key := newKey(t)
	iss := newIssuer(t, key, DefaultIssuer)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		issuer    *Issuer // signs; iss verifies
		claims    func(*Claims)
		audiences []string
		at        time.Time
		tamper    func(string) string
		wantErr   bool
	}{
		{name: "valid", at: now.Add(time.Minute)},
		{name: "valid within leeway before nbf", at: now.Add(-30 * time.Second)},
		{name: "valid within leeway after exp", at: now.Add(time.Hour + 30*time.Second)},
		{name: "expired", at: now.Add(time.Hour + 2*time.Minute), wantErr: true},
		{name: "not yet valid", at: now.Add(-2 * time.Minute), wantErr: true},
		{name: "other audience", audiences: []string{"vault"}, wantErr: true},
		{name: "one of several audiences", claims: func(c *Claims) { c.Audiences = []string{"vault", DefaultIssuer} }},
		{name: "other issuer name", issuer: newIssuer(t, key, "https://elsewhere"), wantErr: true},
		{name: "other key", issuer: newIssuer(t, newKey(t), DefaultIssuer), wantErr: true},
		{name: "RS256 when ES256 is expected", issuer: newIssuer(t, rsaKey, DefaultIssuer), wantErr: true},
		{name: "tampered payload", tamper: func(tok string) string {
			parts := strings.Split(tok, ".")
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			raw = []byte(strings.Replace(string(raw), "builder", "admin00", 2))
			parts[1] = base64.RawURLEncoding.EncodeToString(raw)
			return strings.Join(parts, ".")
		}, wantErr: true},
		{name: "unsigned", tamper: func(tok string) string {
			header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
			return header + "." + strings.Split(tok, ".")[1] + "."
		}, wantErr: true},
		{name: "not a JWT", tamper: func(string) string { return "0123456789abcdef" }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signer := tc.issuer
			if signer == nil {
				signer = iss
			}
			c := podClaims()
			if tc.claims != nil {
				tc.claims(&c)
			}
			token, err := signer.Issue(c)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				token = tc.tamper(token)
			}
			auds := tc.audiences
			if auds == nil {
				auds = []string{DefaultIssuer}
			}
			at := tc.at
			if at.IsZero() {
				at = now
			}
			got, err := iss.Verify(token, auds, at)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Verify = %v, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject() != "system:serviceaccount:default:builder" || got.ServiceAccount.UID != "sa-uid" ||
				got.Pod == nil || got.Pod.UID != "pod-uid" || !got.Expiry.Equal(now.Add(time.Hour)) || got.ID == "" {
				t.Errorf("claims %+v", got)
			}
		})
	}
}

func TestRS256RoundTrip(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := newIssuer(t, key, DefaultIssuer)
	c := podClaims()
	c.Pod, c.Node = nil, nil
	c.WarnAfter = now.Add(30 * time.Minute)
	token, err := iss.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	if alg := payload(t, token)["header"].(map[string]any)["alg"]; alg != "RS256" {
		t.Errorf("alg %v", alg)
	}
	got, err := iss.Verify(token, []string{DefaultIssuer}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pod != nil || !got.WarnAfter.Equal(c.WarnAfter) {
		t.Errorf("claims %+v", got)
	}
}

func TestIssueRejects(t *testing.T) {
	iss := newIssuer(t, newKey(t), DefaultIssuer)
	for name, mutate := range map[string]func(*Claims){
		"no namespace": func(c *Claims) { c.Namespace = "" },
		"no uid":       func(c *Claims) { c.ServiceAccount.UID = "" },
		"no audiences": func(c *Claims) { c.Audiences = nil },
		"no sa name":   func(c *Claims) { c.ServiceAccount.Name = "" },
	} {
		c := podClaims()
		mutate(&c)
		if _, err := iss.Issue(c); err == nil {
			t.Errorf("%s: Issue succeeded", name)
		}
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(p384, DefaultIssuer); err == nil {
		t.Error("New accepted a P-384 key")
	}
}

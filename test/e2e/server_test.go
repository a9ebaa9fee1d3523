package e2e

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestServerBasics checks what `peapod server` sets up before any kubectl runs: the admin kubeconfig, the
// printed path, authentication and /version.
func TestServerBasics(t *testing.T) {
	srv := startServer(t)

	info, err := os.Stat(srv.kubeconfig())
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("kubeconfig mode %o, want 600", mode)
	}
	log, err := os.ReadFile(srv.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), srv.kubeconfig()) {
		t.Errorf("server output does not name the kubeconfig %s:\n%s", srv.kubeconfig(), log)
	}

	anonymous := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer anonymous.CloseIdleConnections()
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/v1/pods", http.StatusUnauthorized},
		{"/api/v1/namespaces/default/pods/x", http.StatusUnauthorized},
		{"/healthz", http.StatusOK},
		{"/livez", http.StatusOK},
		{"/readyz", http.StatusOK},
		{"/version", http.StatusOK},
	} {
		resp, err := anonymous.Get("https://" + srv.addr + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("unauthenticated GET %s: %d, want %d", tc.path, resp.StatusCode, tc.code)
		}
	}

	// kubectl's dispatcher picks a client by the minor; kubectl parses gitVersion as semver.
	v, err := srv.client(t).Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("/version: %v", err)
	}
	if v.Major != "1" || !regexp.MustCompile(`^(2[7-9]|3[0-3])$`).MatchString(v.Minor) {
		t.Errorf("/version major %q minor %q, want 1 and 27..33", v.Major, v.Minor)
	}
	if !regexp.MustCompile(`^v1\.` + v.Minor + `\.\d+(\+[0-9A-Za-z.-]+)?$`).MatchString(v.GitVersion) {
		t.Errorf("/version gitVersion %q is not semver v1.%s.N[+build]", v.GitVersion, v.Minor)
	}
	raw, _ := json.Marshal(v)
	t.Logf("/version: %s", raw)
}

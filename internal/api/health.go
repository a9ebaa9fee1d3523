package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// healthCheck is one named check of /healthz, /livez and /readyz.
type healthCheck struct {
	name  string
	check func(ctx context.Context) error
}

func isHealthPath(path string) bool {
	for _, endpoint := range []string{"/healthz", "/livez", "/readyz"} {
		if path == endpoint || strings.HasPrefix(path, endpoint+"/") {
			return true
		}
	}
	return false
}

// checks lists the checks of an endpoint; readiness adds the server's own readiness.
func (h *handler) checks(endpoint string) []healthCheck {
	checks := []healthCheck{
		{name: "ping", check: func(context.Context) error { return nil }},
		{name: "etcd", check: func(ctx context.Context) error {
			_, err := h.cfg.Store.Revision(ctx)
			return err
		}},
	}
	if endpoint == "readyz" && h.cfg.Ready != nil {
		checks = append(checks, healthCheck{name: "bootstrap", check: func(context.Context) error { return h.cfg.Ready() }})
	}
	return checks
}

// serveHealth serves /healthz, /livez and /readyz like kube-apiserver: "ok", or with ?verbose one line per
// check and "<endpoint> check passed"; /<endpoint>/<check> runs one check; ?exclude=<check> skips checks.
func (h *handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	endpoint := parts[0]
	checks := h.checks(endpoint)
	if len(parts) == 2 {
		i := slices.IndexFunc(checks, func(c healthCheck) bool { return c.name == parts[1] })
		if i < 0 {
			http.NotFound(w, r)
			return
		}
		checks = checks[i : i+1]
	}
	excluded := r.URL.Query()["exclude"]
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()

	var report strings.Builder
	failed := false
	for _, c := range checks {
		if slices.Contains(excluded, c.name) {
			fmt.Fprintf(&report, "[+]%s excluded: ok\n", c.name)
			continue
		}
		if err := c.check(ctx); err != nil {
			failed = true
			fmt.Fprintf(&report, "[-]%s failed: reason withheld\n", c.name)
			continue
		}
		fmt.Fprintf(&report, "[+]%s ok\n", c.name)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s%s check failed\n", report.String(), endpoint)
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprintf(w, "%s%s check passed\n", report.String(), endpoint)
		return
	}
	fmt.Fprint(w, "ok")
}

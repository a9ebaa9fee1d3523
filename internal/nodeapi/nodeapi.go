// Package nodeapi is the node agent's HTTPS endpoint, the part of the kubelet's API the API server calls:
// GET /containerLogs/{namespace}/{pod}/{container} with kubelet's query parameters, and /healthz. Only
// the API server, presenting its kubelet-client certificate signed by the cluster CA, may read logs. The
// package also holds the wire format both sides share (ParseLogOptions, ValidateLogOptions, LogQuery).
package nodeapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/peapod-dev/peapod/internal/crilog"
	"github.com/peapod-dev/peapod/internal/pki"
)

// Containers is what the node agent tells the endpoint about its containers.
type Containers interface {
	// LogPath returns the CRI log file of the container's current instance or, with previous, of the
	// instance before it. An *Error (see PodNotFound, Waiting, ...) reaches the client as the kubelet
	// words it; any other error is a 400 with its text, as the kubelet answers.
	LogPath(ctx context.Context, namespace, pod, container string, previous bool) (string, error)
	// Running says whether the container's current instance is running: following its log ends once it
	// is not and the file is drained. A followed log asks about ten times a second: keep it cheap.
	Running(ctx context.Context, namespace, pod, container string) bool
}

// Error is an answer the kubelet gives, passed through by the API server with its status code.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// PodNotFound is the kubelet's answer for a pod it does not run.
func PodNotFound(pod string) error {
	return &Error{Code: http.StatusNotFound, Message: fmt.Sprintf("pod %q does not exist", pod)}
}

// ContainerNotFound is the kubelet's answer for a container the pod's spec does not have.
func ContainerNotFound(container, pod string) error {
	return &Error{Code: http.StatusNotFound, Message: fmt.Sprintf("container %q not found in pod %q", container, pod)}
}

// PreviousNotFound is the kubelet's answer for previous logs of a container that never terminated.
func PreviousNotFound(container, pod string) error {
	return &Error{Code: http.StatusBadRequest, Message: fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod)}
}

// Terminated is the kubelet's answer for a terminated container whose instance left no log.
func Terminated(container, pod string) error {
	return &Error{Code: http.StatusBadRequest, Message: fmt.Sprintf("container %q in pod %q is terminated", container, pod)}
}

// Waiting is the kubelet's answer for a container that has not started, with its waiting reason
// (ContainerCreating, PodInitializing, ErrImagePull, ...; "" when it has no state yet).
func Waiting(container, pod, reason string) error {
	var msg string
	switch reason {
	case "":
		msg = fmt.Sprintf("container %q in pod %q is waiting to start - no logs yet", container, pod)
	case "ErrImagePull":
		msg = fmt.Sprintf("container %q in pod %q is waiting to start: image can't be pulled", container, pod)
	case "ImagePullBackOff":
		msg = fmt.Sprintf("container %q in pod %q is waiting to start: trying and failing to pull image", container, pod)
	default:
		msg = fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, pod, reason)
	}
	return &Error{Code: http.StatusBadRequest, Message: msg}
}

// ServerTLS is the endpoint's TLS configuration: it serves serving and asks clients for a certificate
// signed by the CA in caPEM (checked per request, so that /healthz needs none).
func ServerTLS(serving tls.Certificate, caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("node API TLS: no certificate in the CA bundle")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}

type handler struct {
	containers Containers
	log        *slog.Logger
	now        func() time.Time
}

// New returns the endpoint's handler; serve it over TLS configured by ServerTLS.
func New(containers Containers, logger *slog.Logger) http.Handler {
	return &handler{containers: containers, log: logger, now: time.Now}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
		return
	}
	if !h.authorized(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/containerLogs/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || slices.Contains(parts, "") {
		plainError(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		plainError(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	for _, part := range parts {
		// No object has such a name, and an agent may build file paths from these.
		if len(validation.IsDNS1123Subdomain(part)) > 0 {
			writeError(w, PodNotFound(parts[1]))
			return
		}
	}
	h.containerLogs(w, r, parts[0], parts[1], parts[2])
}

// authorized admits only the API server's kubelet-client identity, as the kubelet's x509 authentication
// and authorization would: no verified certificate is a 401, another identity a 403.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		plainError(w, "Unauthorized", http.StatusUnauthorized)
		return false
	}
	subject := r.TLS.VerifiedChains[0][0].Subject
	if subject.CommonName != pki.KubeletClientCommonName || !slices.Contains(subject.Organization, pki.KubeletClientOrganization) {
		plainError(w, fmt.Sprintf("Forbidden (user=%s, verb=get, resource=nodes, subresource(s)=[proxy])", subject.CommonName), http.StatusForbidden)
		return false
	}
	return true
}

func (h *handler) containerLogs(w http.ResponseWriter, r *http.Request, namespace, pod, container string) {
	query := r.URL.Query()
	// The kubelet still takes the old "tail" parameter; "all" is no limit.
	if tail := query.Get("tail"); tail != "" {
		query.Set("tailLines", tail)
		if tail == "all" {
			query.Del("tailLines")
		}
	}
	opts, err := ParseLogOptions(query)
	if err != nil {
		plainError(w, `{"message": "Unable to decode query."}`, http.StatusBadRequest)
		return
	}
	if errs := ValidateLogOptions(opts); len(errs) > 0 {
		plainError(w, `{"message": "Invalid request."}`, http.StatusUnprocessableEntity)
		return
	}
	ctx := r.Context()
	path, err := h.containers.LogPath(ctx, namespace, pod, container, opts.Previous)
	if err != nil {
		writeError(w, err)
		return
	}
	read := crilog.Options{
		TailLines:  opts.TailLines,
		Timestamps: opts.Timestamps,
		LimitBytes: opts.LimitBytes,
		Follow:     opts.Follow,
		Running:    func() bool { return !opts.Previous && h.containers.Running(ctx, namespace, pod, container) },
	}
	switch {
	case opts.SinceSeconds != nil:
		read.Since = h.now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	case opts.SinceTime != nil:
		read.Since = opts.SinceTime.Time
	}
	out := &recordingWriter{w: w}
	if f, ok := w.(http.Flusher); ok && opts.Follow {
		read.Flush = f.Flush
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := crilog.Read(ctx, path, read, out, out); err != nil {
		if !out.wrote {
			writeError(w, err)
			return
		}
		h.log.Warn("container log stream ended early", "namespace", namespace, "pod", pod, "container", container, "err", err)
	}
}

// writeError answers with an *Error's code and text, and any other error as the kubelet does: 400.
func writeError(w http.ResponseWriter, err error) {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		plainError(w, apiErr.Message, apiErr.Code)
		return
	}
	plainError(w, err.Error(), http.StatusBadRequest)
}

// plainError writes msg as it is, without the newline http.Error adds, as the kubelet answers: the
// API server passes the text on as the message of its error.
func plainError(w http.ResponseWriter, msg string, code int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// recordingWriter remembers whether anything was written: until then an error can still be answered.
type recordingWriter struct {
	w     io.Writer
	wrote bool
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.wrote = true
	return r.w.Write(p)
}

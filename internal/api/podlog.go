package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod-dev/peapod/internal/nodeapi"
)

const (
	// defaultKubeletPort is kube-apiserver's --kubelet-port, used when a node publishes none.
	defaultKubeletPort = 10250
	// maxNodeErrorBytes bounds how much of a node's error answer is read, as kube-apiserver does.
	maxNodeErrorBytes = 50000
)

// nodeClients reach node agents: one verifying their certificates, one for insecureSkipTLSVerifyBackend.
type nodeClients struct {
	verified, insecure *http.Client
}

func newNodeClients(cfg Config) *nodeClients {
	if cfg.NodeTLS == nil {
		return nil
	}
	client := func(tlsConfig *tls.Config) *http.Client {
		return &http.Client{
			Transport: &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true},
			// A node that redirects is refused, as kube-apiserver's PreventRedirects does.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	insecure := cfg.NodeTLS.Clone()
	insecure.InsecureSkipVerify = true
	return &nodeClients{verified: client(cfg.NodeTLS.Clone()), insecure: client(insecure)}
}

// podLog serves GET pods/<name>/log as kube-apiserver's LogREST does: it validates the options, picks
// the container, finds the pod's node and streams the node agent's answer.
func (h *handler) podLog(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := h.streamPodLog(w, r, rq); err != nil {
		writeError(w, r, err)
	}
}

// streamPodLog returns an error only while nothing has been written.
func (h *handler) streamPodLog(w http.ResponseWriter, r *http.Request, rq *request) error {
	opts, err := nodeapi.ParseLogOptions(rq.query)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if errs := nodeapi.ValidateLogOptions(opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, rq.name, errs)
	}
	ctx := r.Context()
	obj, _, err := h.getObject(ctx, rq.res, rq.namespace, rq.name)
	if err != nil {
		return err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("pods holds %T", obj))
	}
	container, err := logContainer(opts.Container, pod)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		// kube-apiserver answers logs of an unscheduled pod with an empty 200, which reads as a pod that
		// printed nothing; its answer for exec and attach says what is going on.
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	if h.nodes == nil {
		return apierrors.NewServiceUnavailable("the API server has no client for node agents")
	}
	host, err := h.nodeHost(ctx, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	location := &url.URL{
		Scheme:   "https",
		Host:     host,
		Path:     fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container),
		RawQuery: nodeapi.LogQuery(opts).Encode(),
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location.String(), nil)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	client := h.nodes.verified
	if opts.InsecureSkipTLSVerifyBackend {
		client = h.nodes.insecure
	}
	resp, err := client.Do(req)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("reach node %s: %w", pod.Spec.NodeName, err))
	}
	defer resp.Body.Close()
	if err := nodeAnswer(resp, pod.Name); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	out := io.Writer(w)
	if f, ok := w.(http.Flusher); ok && opts.Follow {
		out = &flushingWriter{w: w, flusher: f}
	}
	// The client going away ends ctx and with it the node's stream; nothing is left to answer then.
	_, _ = io.Copy(out, resp.Body)
	return nil
}

// logContainer picks the container whose log is read, with kube-apiserver's errors.
func logContainer(name string, pod *corev1.Pod) (string, error) {
	var all []string
	for _, c := range pod.Spec.InitContainers {
		all = append(all, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		all = append(all, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		all = append(all, c.Name)
	}
	if name != "" {
		if !slices.Contains(all, name) {
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
		}
		return name, nil
	}
	switch len(pod.Spec.Containers) {
	case 1:
		return pod.Spec.Containers[0].Name, nil
	case 0:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, all))
}

// nodeHost is host:port of the node agent: the node's InternalIP (else its Hostname address) and its
// published kubelet port.
func (h *handler) nodeHost(ctx context.Context, nodeName string) (string, error) {
	obj, err := h.getCore(ctx, "nodes", "", nodeName)
	if err != nil {
		return "", err
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return "", apierrors.NewInternalError(fmt.Errorf("nodes holds %T", obj))
	}
	var address string
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && a.Address != "" && address == "" {
				address = a.Address
			}
		}
	}
	if address == "" {
		return "", apierrors.NewInternalError(fmt.Errorf("no preferred addresses found; known addresses: %v", node.Status.Addresses))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = defaultKubeletPort
	}
	return net.JoinHostPort(address, strconv.Itoa(port)), nil
}

// nodeAnswer turns a node's error answer into the API error kube-apiserver makes of it (its generic
// HTTP response checker): a 400's and a 500's text become the message.
func nodeAnswer(resp *http.Response, podName string) error {
	if resp.StatusCode >= http.StatusOK && resp.StatusCode <= http.StatusPartialContent {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNodeErrorBytes))
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	text := string(body)
	switch resp.StatusCode {
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(errors.New(text))
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(text)
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", schema.GroupResource{Resource: "pods/log"}, podName, text, 0, false)
}

// flushingWriter sends each chunk of a followed log as it arrives.
type flushingWriter struct {
	w       io.Writer
	flusher http.Flusher
}

func (f *flushingWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.flusher.Flush()
	return n, err
}

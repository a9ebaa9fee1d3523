package agent

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/peapod-dev/peapod/internal/nodeapi"
)

// containerView is what the node endpoint may read of a container while the worker owns the records.
type containerView struct {
	restarts int32
	started  bool // an instance was created, so a log file exists
	running  bool
	waiting  string
}

// publishViews records the containers' views for the node endpoint; called by the worker after each step.
func (w *podWorker) publishViews(pod *corev1.Pod) {
	views := map[string]containerView{}
	for _, set := range []struct {
		containers []corev1.Container
		records    map[string]*containerRecord
	}{{pod.Spec.InitContainers, w.init}, {pod.Spec.Containers, w.app}} {
		for _, c := range set.containers {
			r := w.record(set.records, c.Name)
			views[c.Name] = containerView{restarts: r.restartCount, started: r.id != "", running: r.running, waiting: r.waitingReason}
		}
	}
	w.a.mu.Lock()
	w.views = views
	w.a.mu.Unlock()
}

// worker finds the worker of namespace/name.
func (a *Agent) worker(namespace, name string) (*podWorker, *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		if w.pod.Namespace == namespace && w.pod.Name == name {
			return w, w.pod
		}
	}
	return nil, nil
}

// nodeContainers answers the node endpoint's questions from the workers' published views.
type nodeContainers struct{ a *Agent }

func (n nodeContainers) view(namespace, pod, container string) (*corev1.Pod, containerView, error) {
	w, p := n.a.worker(namespace, pod)
	if w == nil {
		return nil, containerView{}, nodeapi.PodNotFound(pod)
	}
	n.a.mu.Lock()
	v, ok := w.views[container]
	n.a.mu.Unlock()
	if !ok {
		return nil, containerView{}, nodeapi.ContainerNotFound(container, pod)
	}
	return p, v, nil
}

func (n nodeContainers) LogPath(_ context.Context, namespace, pod, container string, previous bool) (string, error) {
	p, v, err := n.view(namespace, pod, container)
	if err != nil {
		return "", err
	}
	if previous {
		if v.restarts == 0 {
			return "", nodeapi.PreviousNotFound(container, pod)
		}
		return n.a.containerLogPath(p, container, int(v.restarts-1)), nil
	}
	if !v.started {
		return "", nodeapi.Waiting(container, pod, v.waiting)
	}
	return n.a.containerLogPath(p, container, int(v.restarts)), nil
}

func (n nodeContainers) Running(_ context.Context, namespace, pod, container string) bool {
	_, v, err := n.view(namespace, pod, container)
	return err == nil && v.running
}

// serveNodeAPI serves the kubelet-like HTTPS endpoint (logs) on the configured port until ctx ends.
func (a *Agent) serveNodeAPI(ctx context.Context) error {
	if a.cfg.ServingTLS == nil {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(a.cfg.Port)))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           nodeapi.New(nodeContainers{a}, a.logger.With("component", "nodeapi")),
		TLSConfig:         a.cfg.ServingTLS,
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed && ctx.Err() == nil {
			a.logger.Error("node endpoint stopped", "err", err)
		}
	}()
	return nil
}

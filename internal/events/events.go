// Package events records Kubernetes events through peapod's lean client, with client-go's event broadcaster:
// the same aggregation ("x3 over 2m"), spam filtering and retries the kubelet and kube-scheduler get.
package events

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"github.com/peapod-dev/peapod/internal/kube"
)

// sink writes the broadcaster's events with client; the broadcaster gives it no context, so writes use
// ctx, the recorder's lifetime.
type sink struct {
	ctx    context.Context
	client kube.Interface
}

func (s sink) Create(event *corev1.Event) (*corev1.Event, error) {
	return s.client.Events(event.Namespace).Create(s.ctx, event, metav1.CreateOptions{})
}

func (s sink) Update(event *corev1.Event) (*corev1.Event, error) {
	return s.client.Events(event.Namespace).Update(s.ctx, event, metav1.UpdateOptions{})
}

func (s sink) Patch(event *corev1.Event, data []byte) (*corev1.Event, error) {
	return s.client.Events(event.Namespace).Patch(s.ctx, event.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
}

// NewRecorder returns a recorder whose events carry source (component and, for node agents, host) and a
// function that stops it; events still queued when ctx ends are dropped, as client-go's are at shutdown.
func NewRecorder(ctx context.Context, client kube.Interface, source corev1.EventSource, logger *slog.Logger) (record.EventRecorder, func(), error) {
	scheme, err := kube.NewScheme()
	if err != nil {
		return nil, nil, fmt.Errorf("event recorder scheme: %w", err)
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(sink{ctx: ctx, client: client})
	broadcaster.StartEventWatcher(func(e *corev1.Event) {
		logger.Debug("event", "object", e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name, "reason", e.Reason, "message", e.Message)
	})
	return broadcaster.NewRecorder(scheme, source), broadcaster.Shutdown, nil
}

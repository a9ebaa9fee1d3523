package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peapod-dev/peapod/internal/storage"
)

// metrics are the API server's Prometheus series, named as kube-apiserver names them where it has them.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	watchers *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, store storage.Store) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out for each verb, resource, subresource and HTTP response code.",
		}, []string{"verb", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb, resource and subresource (watches excluded).",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"verb", "resource", "subresource"}),
		watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_registered_watchers",
			Help: "Number of currently open watches for a given resource.",
		}, []string{"resource"}),
	}
	revision := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peapod_storage_revision",
		Help: "Current revision of the store (the newest resourceVersion).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rev, err := store.Revision(ctx)
		if err != nil {
			return -1
		}
		return float64(rev)
	})
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.watchers, revision} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// observe records one finished request under kube-apiserver's verb labels (the HTTP method, or LIST and
// WATCH for collection reads). Watches count as requests but stay out of the latency histogram,
// as long-running requests do in Kubernetes.
func (m *metrics) observe(info requestInfo, code int, start time.Time) {
	verb := info.method
	switch info.verb {
	case "list", "watch":
		verb = strings.ToUpper(info.verb)
	}
	m.requests.WithLabelValues(verb, info.resource, info.subresource, strconv.Itoa(code)).Inc()
	if info.verb != "watch" {
		m.latency.WithLabelValues(verb, info.resource, info.subresource).Observe(time.Since(start).Seconds())
	}
}

package network

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkPodNetwork measures one pod's network start (NewNetNS + Attach) and stop (Detach + DeleteNetNS),
// reported as start-ns/op and stop-ns/op; ns/op is their sum.
func BenchmarkPodNetwork(b *testing.B) {
	requireRoot(b)
	for _, bc := range []struct {
		name  string
		ports func(i int) []PortMapping
	}{
		{"plain", func(int) []PortMapping { return nil }},
		{"hostPort", func(i int) []PortMapping {
			return []PortMapping{{Protocol: TCP, ContainerPort: 80, HostPort: uint16(20000 + i%10000)}}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := setUp(b, testConfig(b, 25))
			ctx := context.Background()
			prefix := testID(b, "bench")
			var start, stop time.Duration
			i := 0
			for b.Loop() {
				id := fmt.Sprintf("%s-%d", prefix, i)
				t0 := time.Now()
				path, err := n.NewNetNS(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := n.Attach(ctx, AttachRequest{ID: id, NetNSPath: path, HostPorts: bc.ports(i)}); err != nil {
					n.DeleteNetNS(ctx, id)
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := n.Detach(ctx, id); err != nil {
					b.Fatal(err)
				}
				if err := n.DeleteNetNS(ctx, id); err != nil {
					b.Fatal(err)
				}
				start += t1.Sub(t0)
				stop += time.Since(t1)
				i++
			}
			b.ReportMetric(float64(start.Nanoseconds())/float64(i), "start-ns/op")
			b.ReportMetric(float64(stop.Nanoseconds())/float64(i), "stop-ns/op")
		})
	}
}

package openapi

import (
	"net/http"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkNew is what the server start pays: checking the resources and laying out the routes.
func BenchmarkNew(b *testing.B) {
	resources := testResources()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := New(resources); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstRequest is what the first request for each document pays: building and serializing it.
func BenchmarkFirstRequest(b *testing.B) {
	benchmarks := []struct {
		name, path, accept string
	}{
		{"v3 index (builds all v3)", "/openapi/v3", ""},
		{"v2 JSON", "/openapi/v2", "application/json"},
		{"v2 protobuf", "/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
	}
	resources := testResources()
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				d, err := New(resources)
				if err != nil {
					b.Fatal(err)
				}
				if rec := get(d, bm.path, "Accept", bm.accept); rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", bm.path, rec.Code)
				}
			}
		})
	}
}

// BenchmarkFirstConversion is what the server's first write pays: building the type converter.
func BenchmarkFirstConversion(b *testing.B) {
	resources := testResources()
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d, err := New(resources)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.TypeConverter().ObjectToTyped(pod); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCachedRequest is a request for an already built document, plain and gzipped.
func BenchmarkCachedRequest(b *testing.B) {
	d, err := New(testResources())
	if err != nil {
		b.Fatal(err)
	}
	for _, encoding := range []string{"identity", "gzip"} {
		b.Run("v3 api/v1 "+encoding, func(b *testing.B) {
			get(d, "/openapi/v3/api/v1")
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if rec := get(d, "/openapi/v3/api/v1", "Accept-Encoding", encoding); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkRetainedHeap reports the heap the docs hold (retained-B/op) after New alone and after every
// document has been served in every format and the type converter used.
func BenchmarkRetainedHeap(b *testing.B) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	serveAll := func(d *Docs) {
		for _, r := range []struct{ path, accept string }{
			{"/openapi/v2", "application/json"},
			{"/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
			{"/openapi/v3", ""},
			{"/openapi/v3/api/v1", "application/json"},
			{"/openapi/v3/apis/coordination.k8s.io/v1", "application/json"},
		} {
			if rec := get(d, r.path, "Accept", r.accept); rec.Code != http.StatusOK {
				b.Fatalf("GET %s: %d", r.path, rec.Code)
			}
		}
	}
	for _, bm := range []struct {
		name  string
		after func(*Docs)
	}{
		{"after New", func(*Docs) {}},
		{"after serving everything", serveAll},
	} {
		b.Run(bm.name, func(b *testing.B) {
			var total uint64
			for i := 0; i < b.N; i++ {
				before := heap()
				d, err := New(testResources())
				if err != nil {
					b.Fatal(err)
				}
				bm.after(d)
				if after := heap(); after > before {
					total += after - before
				}
				runtime.KeepAlive(d)
			}
			b.ReportMetric(float64(total)/float64(b.N), "retained-B/op")
		})
	}
}

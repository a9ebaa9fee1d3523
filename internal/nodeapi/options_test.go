package nodeapi

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestParseLogOptions(t *testing.T) {
	since := metav1.NewTime(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC).Local())
	tests := []struct {
		query   string
		want    *corev1.PodLogOptions
		wantErr bool
	}{
		{query: "", want: &corev1.PodLogOptions{}},
		{query: "container=c&follow=true&previous=1&timestamps=yes", want: &corev1.PodLogOptions{Container: "c", Follow: true, Previous: true, Timestamps: true}},
		// As Kubernetes' conversion: only absent, "0" and "false" are false; an empty value is true.
		{query: "follow=false&previous=0&timestamps=", want: &corev1.PodLogOptions{Timestamps: true}},
		{query: "follow=FALSE", want: &corev1.PodLogOptions{}},
		{query: "tailLines=10&limitBytes=100&sinceSeconds=5", want: &corev1.PodLogOptions{TailLines: ptr.To[int64](10), LimitBytes: ptr.To[int64](100), SinceSeconds: ptr.To[int64](5)}},
		{query: "sinceTime=2026-05-01T10:00:00Z", want: &corev1.PodLogOptions{SinceTime: &since}},
		{query: "tailLines=ten", wantErr: true},
		{query: "sinceTime=yesterday", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseLogOptions(q)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseLogOptions = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// What the API server sends decodes to the same options, the container aside (it is in the path).
			sent := got.DeepCopy()
			sent.Container = ""
			back, err := ParseLogOptions(LogQuery(sent))
			if err != nil || !reflect.DeepEqual(back, sent) {
				t.Errorf("LogQuery round trip: %+v, %v; want %+v", back, err, sent)
			}
		})
	}
}

func TestValidateLogOptions(t *testing.T) {
	since := metav1.Now()
	tests := []struct {
		name string
		opts corev1.PodLogOptions
		want string
	}{
		{name: "valid", opts: corev1.PodLogOptions{TailLines: ptr.To[int64](0), LimitBytes: ptr.To[int64](1), SinceSeconds: ptr.To[int64](1)}},
		{name: "negative tail", opts: corev1.PodLogOptions{TailLines: ptr.To[int64](-1)}, want: "tailLines: Invalid value: -1: must be greater than or equal to 0"},
		{name: "zero limit", opts: corev1.PodLogOptions{LimitBytes: ptr.To[int64](0)}, want: "limitBytes: Invalid value: 0: must be greater than 0"},
		{name: "zero since", opts: corev1.PodLogOptions{SinceSeconds: ptr.To[int64](0)}, want: "sinceSeconds: Invalid value: 0: must be greater than 0"},
		{name: "both since", opts: corev1.PodLogOptions{SinceSeconds: ptr.To[int64](5), SinceTime: &since}, want: "[]: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if errs := ValidateLogOptions(&tc.opts); len(errs) > 0 {
				got = errs.ToAggregate().Error()
			}
			if got != tc.want {
				t.Errorf("%q, want %q", got, tc.want)
			}
		})
	}
}

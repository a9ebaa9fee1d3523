package all

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/utils/ptr"
)

func TestResources(t *testing.T) {
	reg := New()
	var names []string
	seen := map[schema.GroupVersionResource]bool{}
	for _, r := range reg.Resources {
		names = append(names, r.GroupVersionResource().String())
		if seen[r.GroupVersionResource()] {
			t.Errorf("%s listed twice", r.Name)
		}
		seen[r.GroupVersionResource()] = true
		// Every resource's types must be known to the scheme under its group version.
		for _, obj := range []runtime.Object{r.New(), r.NewList()} {
			gvks, _, err := reg.Scheme.ObjectKinds(obj)
			if err != nil {
				t.Errorf("%s: %T not in scheme: %v", r.Name, obj, err)
				continue
			}
			if gvks[0].GroupVersion() != r.GroupVersion {
				t.Errorf("%s: %T registered as %v", r.Name, obj, gvks[0])
			}
		}
		if gvks, _, _ := reg.Scheme.ObjectKinds(r.New()); len(gvks) > 0 && gvks[0].Kind != r.Kind {
			t.Errorf("%s: kind %s, scheme says %s", r.Name, r.Kind, gvks[0].Kind)
		}
	}
	want := []string{
		"/v1, Resource=configmaps", "/v1, Resource=events", "/v1, Resource=namespaces", "/v1, Resource=nodes",
		"/v1, Resource=pods", "/v1, Resource=secrets", "/v1, Resource=serviceaccounts",
		"coordination.k8s.io/v1, Resource=leases",
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("resources %v, want %v", names, want)
	}
}

func TestMetaTypes(t *testing.T) {
	scheme := New().Scheme
	tests := []struct {
		obj  runtime.Object
		want []string // every GroupVersionKind the type is registered as
	}{
		{&metav1.Table{}, []string{"meta.k8s.io/v1, Kind=Table"}},
		{&metav1.PartialObjectMetadata{}, []string{"meta.k8s.io/v1, Kind=PartialObjectMetadata"}},
		{&metav1.PartialObjectMetadataList{}, []string{"meta.k8s.io/v1, Kind=PartialObjectMetadataList"}},
		{&metav1.WatchEvent{}, []string{"/v1, Kind=WatchEvent", "coordination.k8s.io/v1, Kind=WatchEvent", "meta.k8s.io/v1, Kind=WatchEvent"}},
		{&metav1.DeleteOptions{}, []string{"/v1, Kind=DeleteOptions", "coordination.k8s.io/v1, Kind=DeleteOptions", "meta.k8s.io/v1, Kind=DeleteOptions"}},
		{&metav1.ListOptions{}, []string{"/v1, Kind=ListOptions", "coordination.k8s.io/v1, Kind=ListOptions", "meta.k8s.io/v1, Kind=ListOptions"}},
		{&metav1.Status{}, []string{"/v1, Kind=Status", "meta.k8s.io/v1, Kind=Status"}},
		{&metav1.APIResourceList{}, []string{"/v1, Kind=APIResourceList"}},
		{&authenticationv1.TokenRequest{}, []string{"authentication.k8s.io/v1, Kind=TokenRequest"}},
		{&metav1.APIGroupList{}, []string{"/v1, Kind=APIGroupList"}},
	}
	for _, tc := range tests {
		gvks, _, err := scheme.ObjectKinds(tc.obj)
		if err != nil {
			t.Errorf("%T: %v", tc.obj, err)
			continue
		}
		var got []string
		for _, gvk := range gvks {
			got = append(got, gvk.String())
		}
		if !sameSet(got, tc.want) {
			t.Errorf("%T registered as %v, want %v", tc.obj, got, tc.want)
		}
	}
	for _, obj := range []runtime.Object{&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroup{}} {
		if _, unversioned, _ := scheme.ObjectKinds(obj); !unversioned {
			t.Errorf("%T is not unversioned", obj)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// sampleObjects holds a filled-in object of every served kind.
func sampleObjects() []runtime.Object {
	meta := metav1.ObjectMeta{Name: "x", Namespace: "default", UID: "4f9b1d1e-5c0a-4bde-9d1e-2d8a6b1f0c11", ResourceVersion: "42",
		Labels: map[string]string{"app": "kubia"}, CreationTimestamp: metav1.Unix(1700000000, 0)}
	clusterMeta := meta
	clusterMeta.Namespace = ""
	return []runtime.Object{
		&corev1.Pod{ObjectMeta: meta, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kubia", Image: "busybox",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort}},
		&corev1.Namespace{ObjectMeta: clusterMeta, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Node{ObjectMeta: clusterMeta, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.42.0.0/24"}},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("2")},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Unix(1700000001, 0)}}}},
		&corev1.Event{ObjectMeta: meta, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "kubia", Namespace: "default"},
			Reason: "Scheduled", Message: "Successfully assigned default/kubia to node1", Type: "Normal", Count: 1,
			FirstTimestamp: metav1.Unix(1700000002, 0), EventTime: metav1.NewMicroTime(metav1.Unix(1700000003, 123000).Time)},
		&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": {0, 1}}, Immutable: ptr.To(true)},
		&corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("s3cret")}},
		&corev1.ServiceAccount{ObjectMeta: meta, Secrets: []corev1.ObjectReference{{Name: "tok"}}},
		&coordinationv1.Lease{ObjectMeta: meta, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node1"),
			LeaseDurationSeconds: ptr.To[int32](40), RenewTime: ptr.To(metav1.NewMicroTime(metav1.Unix(1700000004, 5000).Time))}},
	}
}

func TestRoundTrip(t *testing.T) {
	reg := New()
	codecs := serializer.NewCodecFactory(reg.Scheme)
	for _, mediaType := range []string{runtime.ContentTypeJSON, runtime.ContentTypeYAML, runtime.ContentTypeProtobuf} {
		info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mediaType)
		if !ok {
			t.Fatalf("no serializer for %s", mediaType)
		}
		for _, obj := range sampleObjects() {
			gvks, _, err := reg.Scheme.ObjectKinds(obj)
			if err != nil {
				t.Fatal(err)
			}
			gv := gvks[0].GroupVersion()
			t.Run(mediaType+"/"+gvks[0].Kind, func(t *testing.T) {
				encoder := codecs.EncoderForVersion(info.Serializer, gv)
				var buf bytes.Buffer
				if err := encoder.Encode(obj, &buf); err != nil {
					t.Fatalf("encode: %v", err)
				}
				if mediaType == runtime.ContentTypeProtobuf && !bytes.HasPrefix(buf.Bytes(), []byte("k8s\x00")) {
					t.Fatalf("protobuf without the k8s envelope: %q", buf.Bytes()[:8])
				}
				if mediaType == runtime.ContentTypeJSON && !strings.Contains(buf.String(), `"apiVersion":"`+gv.String()+`"`) {
					t.Errorf("JSON lacks apiVersion %s: %s", gv, buf.String())
				}
				decoded, gvk, err := codecs.UniversalDeserializer().Decode(buf.Bytes(), nil, nil)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if *gvk != gvks[0] {
					t.Errorf("decoded as %v, want %v", gvk, gvks[0])
				}
				// Compare without TypeMeta, which decoding fills in.
				decoded.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
				want := obj.DeepCopyObject()
				want.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
				if !equality.Semantic.DeepEqual(decoded, want) {
					t.Errorf("round trip changed the object\n got %#v\nwant %#v", decoded, want)
				}
			})
		}
	}
}

func TestStatusEncodesAsV1(t *testing.T) {
	// kubectl expects errors as {"kind":"Status","apiVersion":"v1"}, whatever group the request was for.
	reg := New()
	codecs := serializer.NewCodecFactory(reg.Scheme)
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	for _, gv := range []schema.GroupVersion{corev1.SchemeGroupVersion, coordinationv1.SchemeGroupVersion} {
		var buf bytes.Buffer
		status := &metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: 404}
		if err := codecs.EncoderForVersion(info.Serializer, gv).Encode(status, &buf); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), `"kind":"Status","apiVersion":"v1"`) {
			t.Errorf("status for %s encoded as %s", gv, buf.String())
		}
	}
}

func TestFieldLabelConversion(t *testing.T) {
	scheme := New().Scheme
	tests := []struct {
		kind   schema.GroupVersionKind
		label  string
		wantOK bool
	}{
		{corev1.SchemeGroupVersion.WithKind("Pod"), "spec.nodeName", true},
		{corev1.SchemeGroupVersion.WithKind("Pod"), "status.phase", true},
		{corev1.SchemeGroupVersion.WithKind("Pod"), "spec.containers", false},
		{corev1.SchemeGroupVersion.WithKind("Event"), "involvedObject.name", true},
		{corev1.SchemeGroupVersion.WithKind("Event"), "reason", true},
		{corev1.SchemeGroupVersion.WithKind("Event"), "metadata.namespace", true},
		{corev1.SchemeGroupVersion.WithKind("Event"), "spec.nodeName", false},
		{corev1.SchemeGroupVersion.WithKind("Node"), "spec.unschedulable", true},
		{corev1.SchemeGroupVersion.WithKind("Node"), "metadata.namespace", false},
		{corev1.SchemeGroupVersion.WithKind("Namespace"), "status.phase", true},
		{corev1.SchemeGroupVersion.WithKind("Secret"), "type", true},
		{corev1.SchemeGroupVersion.WithKind("ConfigMap"), "metadata.name", true},
		{corev1.SchemeGroupVersion.WithKind("ConfigMap"), "data", false},
		{coordinationv1.SchemeGroupVersion.WithKind("Lease"), "metadata.namespace", true},
		{coordinationv1.SchemeGroupVersion.WithKind("Lease"), "spec.holderIdentity", false},
	}
	for _, tc := range tests {
		label, value, err := scheme.ConvertFieldLabel(tc.kind, tc.label, "v")
		switch {
		case tc.wantOK && (err != nil || label != tc.label || value != "v"):
			t.Errorf("%s %s: %q %q %v", tc.kind.Kind, tc.label, label, value, err)
		case !tc.wantOK && (err == nil || err.Error() != "field label not supported: "+tc.label):
			t.Errorf("%s %s: want unsupported, got %v", tc.kind.Kind, tc.label, err)
		}
	}
}

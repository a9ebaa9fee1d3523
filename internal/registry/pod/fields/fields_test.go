package fields

import (
	"os"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// TestTableCoversEveryField walks the k8s.io/api types from PodSpec down through every supported field:
// a JSON field the table does not list (e.g. one a k8s.io/api upgrade adds) fails here.
func TestTableCoversEveryField(t *testing.T) {
	for typ, steps := range support.steps {
		for _, s := range steps {
			if s.rule == nil {
				t.Errorf("%s.%s (reached through %s) is not in the support table", s.owner, s.name, typ.Name())
			}
		}
	}
}

// TestTableHasNoStaleEntries fails on a misspelt entry or one for a field k8s.io/api removed: such an
// entry would silently never apply.
func TestTableHasNoStaleEntries(t *testing.T) {
	table := Table()
	p := newPlan(table)
	seen := map[ruleKey]bool{}
	for i := range table {
		f := &table[i]
		k := ruleKey{f.Type, f.Name}
		if seen[k] {
			t.Errorf("%s.%s is listed twice", f.Type, f.Name)
		}
		seen[k] = true
		if !p.used[f] {
			t.Errorf("%s.%s is not a field reachable from PodSpec through supported fields", f.Type, f.Name)
		}
	}
}

// TestAcceptValuesHaveTheFieldsType guards the Accept lists: a value of the wrong Go type (say the string
// "None" for a *MountPropagationMode) would never match and the default would be refused.
func TestAcceptValuesHaveTheFieldsType(t *testing.T) {
	for _, steps := range support.steps {
		for _, s := range steps {
			if s.rule == nil {
				continue
			}
			if len(s.rule.Accept) > 0 && s.rule.Status == Supported {
				t.Errorf("%s.%s: Accept on a supported field has no effect", s.owner, s.name)
			}
			want := s.typ
			for want.Kind() == reflect.Pointer {
				want = want.Elem()
			}
			for _, a := range s.rule.Accept {
				if got := reflect.TypeOf(a); got != want {
					t.Errorf("%s.%s: accept value %v has type %v, the field holds %v", s.owner, s.name, a, got, want)
				}
			}
		}
	}
}

func TestUnsupported(t *testing.T) {
	specPath := field.NewPath("spec")
	container := func(mutate func(*v1.Container)) v1.Container {
		c := v1.Container{Name: "app", Image: "busybox", ImagePullPolicy: v1.PullAlways,
			TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: v1.TerminationMessageReadFile}
		if mutate != nil {
			mutate(&c)
		}
		return c
	}
	tests := []struct {
		name string
		spec v1.PodSpec
		want []string // paths of the Forbidden errors, in order
	}{
		{
			name: "a defaulted pod of the source documents passes",
			spec: v1.PodSpec{
				Containers: []v1.Container{container(func(c *v1.Container) {
					c.Ports = []v1.ContainerPort{{ContainerPort: 8080, HostPort: 8001, Protocol: v1.ProtocolTCP}}
				})},
				InitContainers:                []v1.Container{container(nil)},
				RestartPolicy:                 v1.RestartPolicyAlways,
				TerminationGracePeriodSeconds: ptr.To[int64](30),
				DNSPolicy:                     v1.DNSClusterFirst,
				SecurityContext:               &v1.PodSecurityContext{},
				SchedulerName:                 v1.DefaultSchedulerName,
				EnableServiceLinks:            ptr.To(true),
				Priority:                      ptr.To[int32](0),
				PreemptionPolicy:              ptr.To(v1.PreemptLowerPriority),
				Tolerations:                   []v1.Toleration{{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}},
				Volumes: []v1.Volume{
					{Name: "data", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/data", Type: ptr.To(v1.HostPathUnset)}}},
					{Name: "kube-api-access-abcde", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
						DefaultMode: ptr.To[int32](420),
						Sources: []v1.VolumeProjection{
							{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
							{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
						},
					}}},
				},
			},
		},
		{
			name: "top-level refusals name the field",
			spec: v1.PodSpec{
				EphemeralContainers: []v1.EphemeralContainer{{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "debug"}}},
				RuntimeClassName:    ptr.To("kata"),
				ReadinessGates:      []v1.PodReadinessGate{{ConditionType: "x"}},
			},
			want: []string{"spec.ephemeralContainers", "spec.readinessGates", "spec.runtimeClassName"},
		},
		{
			name: "nested refusals carry indexes",
			spec: v1.PodSpec{
				Containers: []v1.Container{
					container(nil),
					container(func(c *v1.Container) {
						c.ResizePolicy = []v1.ContainerResizePolicy{{ResourceName: v1.ResourceCPU}}
						c.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: 9}}}
						c.SecurityContext = &v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}}
					}),
				},
				Volumes: []v1.Volume{{Name: "v", VolumeSource: v1.VolumeSource{NFS: &v1.NFSVolumeSource{Server: "s", Path: "/"}}}},
			},
			want: []string{
				"spec.volumes[0].nfs",
				"spec.containers[1].resizePolicy",
				"spec.containers[1].livenessProbe.grpc",
				"spec.containers[1].securityContext.seccompProfile",
			},
		},
		{
			name: "values meaning Kubernetes' default pass, others are refused",
			spec: v1.PodSpec{
				HostUsers:        ptr.To(true),
				PreemptionPolicy: ptr.To(v1.PreemptNever),
				Containers: []v1.Container{container(func(c *v1.Container) {
					c.VolumeMounts = []v1.VolumeMount{
						{Name: "a", MountPath: "/a", MountPropagation: ptr.To(v1.MountPropagationNone)},
						{Name: "b", MountPath: "/b", MountPropagation: ptr.To(v1.MountPropagationBidirectional)},
					}
				})},
			},
			want: []string{"spec.containers[0].volumeMounts[1].mountPropagation", "spec.preemptionPolicy"},
		},
		{
			name: "resource maps and projected sources are walked",
			spec: v1.PodSpec{
				Containers: []v1.Container{container(func(c *v1.Container) {
					c.Resources = v1.ResourceRequirements{
						Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")},
						Claims: []v1.ResourceClaim{{Name: "gpu"}},
					}
				})},
				Volumes: []v1.Volume{{Name: "p", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
					Sources: []v1.VolumeProjection{{ClusterTrustBundle: &v1.ClusterTrustBundleProjection{Path: "ca"}}},
				}}}},
			},
			want: []string{"spec.volumes[0].projected.sources[0].clusterTrustBundle", "spec.containers[0].resources.claims"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := Unsupported(&tt.spec, specPath)
			var got []string
			for _, e := range errs {
				if e.Type != field.ErrorTypeForbidden || e.Detail != NotSupportedMessage {
					t.Errorf("%s: got %s %q, want Forbidden %q", e.Field, e.Type, e.Detail, NotSupportedMessage)
				}
				got = append(got, e.Field)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("refused fields = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorPrintsAsKubectlShowsIt(t *testing.T) {
	errs := Unsupported(&v1.PodSpec{Overhead: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1")}}, field.NewPath("spec"))
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1", len(errs))
	}
	if got, want := errs[0].Error(), "spec.overhead: Forbidden: not supported by peapod yet"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// TestDocIsCurrent fails when docs/pod-fields.md differs from the table; run hack/gen-pod-fields.sh.
func TestDocIsCurrent(t *testing.T) {
	committed, err := os.ReadFile("../../../../docs/pod-fields.md")
	if err != nil {
		t.Fatalf("read committed doc: %v (run hack/gen-pod-fields.sh)", err)
	}
	if string(committed) != Markdown() {
		t.Errorf("docs/pod-fields.md is stale: run hack/gen-pod-fields.sh")
	}
}

func TestMarkdownIsDeterministic(t *testing.T) {
	first := Markdown()
	for i := 0; i < 20; i++ {
		if Markdown() != first {
			t.Fatal("Markdown differs between calls")
		}
	}
}

func BenchmarkUnsupported(b *testing.B) {
	spec := &v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "busybox", Env: []v1.EnvVar{{Name: "A", Value: "1"}},
		LivenessProbe: &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}}}},
		Volumes: []v1.Volume{{Name: "v", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}}
	for i := 0; i < b.N; i++ {
		if errs := Unsupported(spec, field.NewPath("spec")); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}

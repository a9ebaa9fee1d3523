package pod

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

const basePod = `
metadata: {name: web, namespace: default}
spec:
  containers:
  - name: web
    image: nginx:1.27
    ports: [{name: http, containerPort: 80}]
    volumeMounts: [{name: data, mountPath: /data}]
  initContainers:
  - name: init
    image: busybox
  volumes:
  - name: data
    emptyDir: {}`

// createErrors runs create validation on the base pod after mutate and returns each error as kubectl
// prints it after `The Pod "web" is invalid: `.
func createErrors(t *testing.T, mutate func(*v1.Pod)) []string {
	t.Helper()
	pod := created(t, basePod)
	mutate(pod)
	return errorStrings(Resource().Strategy.Validate(context.Background(), pod))
}

func errorStrings(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestValidateCreate(t *testing.T) {
	c0 := func(p *v1.Pod) *v1.Container { return &p.Spec.Containers[0] }
	tests := []struct {
		name   string
		mutate func(*v1.Pod)
		want   []string
	}{
		{"the base pod is valid", func(*v1.Pod) {}, []string{}},
		{"name must be a DNS subdomain", func(p *v1.Pod) { p.Name = "Web_1" }, []string{
			`metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		}},
		{"label values are checked", func(p *v1.Pod) { p.Labels = map[string]string{"app": "a b"} }, []string{
			`metadata.labels: Invalid value: "a b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
		}},
		{"at least one container", func(p *v1.Pod) { p.Spec.Containers = nil }, []string{
			`spec.containers: Required value`,
		}},
		{"container name is a DNS label", func(p *v1.Pod) { c0(p).Name = "Web" }, []string{
			`spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		}},
		{"container names are unique across init containers", func(p *v1.Pod) { p.Spec.InitContainers[0].Name = "web" }, []string{
			`spec.initContainers[0].name: Duplicate value: "web"`,
		}},
		{"image is required", func(p *v1.Pod) { c0(p).Image = "" }, []string{
			`spec.containers[0].image: Required value`,
		}},
		{"image has no surrounding blanks", func(p *v1.Pod) { c0(p).Image = "nginx " }, []string{
			`spec.containers[0].image: Invalid value: "nginx ": must not have leading or trailing whitespace`,
		}},
		{"container port range", func(p *v1.Pod) { c0(p).Ports[0].ContainerPort = 70000 }, []string{
			`spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
		}},
		{"container port required", func(p *v1.Pod) { c0(p).Ports[0].ContainerPort = 0 }, []string{
			`spec.containers[0].ports[0].containerPort: Required value`,
		}},
		{"port names are IANA service names and unique", func(p *v1.Pod) {
			c0(p).Ports = append(c0(p).Ports, v1.ContainerPort{Name: "http", ContainerPort: 81, Protocol: v1.ProtocolTCP},
				v1.ContainerPort{Name: "Http_1", ContainerPort: 82, Protocol: v1.ProtocolTCP})
		}, []string{
			`spec.containers[0].ports[1].name: Duplicate value: "http"`,
			`spec.containers[0].ports[2].name: Invalid value: "Http_1": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
		}},
		{"protocol enum", func(p *v1.Pod) { c0(p).Ports[0].Protocol = "HTTP" }, []string{
			`spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`,
		}},
		{"host ports may not clash", func(p *v1.Pod) {
			c0(p).Ports[0].HostPort = 8080
			p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "b", Image: "b", ImagePullPolicy: v1.PullAlways,
				TerminationMessagePolicy: v1.TerminationMessageReadFile, Ports: []v1.ContainerPort{{ContainerPort: 1, HostPort: 8080, Protocol: v1.ProtocolTCP}}})
		}, []string{
			`spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"`,
		}},
		{"env names", func(p *v1.Pod) { c0(p).Env = []v1.EnvVar{{Name: "A=B"}, {Name: ""}} }, []string{
			`spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
			`spec.containers[0].env[1].name: Required value`,
		}},
		{"env value and valueFrom", func(p *v1.Pod) {
			c0(p).Env = []v1.EnvVar{{Name: "A", Value: "x", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{
				LocalObjectReference: v1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}, []string{
			`spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when ` + "`value`" + ` is not empty`,
		}},
		{"downward API env field", func(p *v1.Pod) {
			c0(p).Env = []v1.EnvVar{{Name: "A", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.host"}}}}
		}, []string{
			`spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: "spec.host": error converting fieldPath: field label not supported: spec.host`,
		}},
		{"volume names are DNS labels and unique", func(p *v1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
				v1.Volume{Name: "Cache", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}})
		}, []string{
			`spec.volumes[2].name: Duplicate value: "data"`,
			`spec.volumes[3].name: Invalid value: "Cache": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		}},
		{"exactly one volume source", func(p *v1.Pod) {
			p.Spec.Volumes[0].HostPath = &v1.HostPathVolumeSource{Path: "/x"}
		}, []string{
			`spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type`,
			// An invalid volume is not mountable, as in Kubernetes.
			`spec.containers[0].volumeMounts[0].name: Not found: "data"`,
		}},
		{"hostPath type enum and backsteps", func(p *v1.Pod) {
			p.Spec.Volumes[0] = v1.Volume{Name: "data", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/a/../b", Type: ptr.To(v1.HostPathType("Dir"))}}}
		}, []string{
			`spec.volumes[0].hostPath.path: Invalid value: "/a/../b": must not contain '..'`,
			`spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"`,
			// An invalid volume is not mountable, as in Kubernetes.
			`spec.containers[0].volumeMounts[0].name: Not found: "data"`,
		}},
		{"secret volume needs a name and a valid mode", func(p *v1.Pod) {
			p.Spec.Volumes[0] = v1.Volume{Name: "data", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{DefaultMode: ptr.To[int32](0o1000)}}}
		}, []string{
			`spec.volumes[0].secret.secretName: Required value`,
			`spec.volumes[0].secret.defaultMode: Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive`,
			// An invalid volume is not mountable, as in Kubernetes.
			`spec.containers[0].volumeMounts[0].name: Not found: "data"`,
		}},
		{"mounts reference existing volumes at unique absolute paths", func(p *v1.Pod) {
			c0(p).VolumeMounts = append(c0(p).VolumeMounts, v1.VolumeMount{Name: "missing", MountPath: "/data"},
				v1.VolumeMount{Name: "data", MountPath: "relative"})
		}, []string{
			`spec.containers[0].volumeMounts[2].name: Not found: "missing"`,
			`spec.containers[0].volumeMounts[2].mountPath: Invalid value: "/data": must be unique`,
			`spec.containers[0].volumeMounts[3].mountPath: Invalid value: "relative": must be an absolute path`,
		}},
		{"restartPolicy, dnsPolicy and imagePullPolicy enums", func(p *v1.Pod) {
			p.Spec.RestartPolicy = "Sometimes"
			p.Spec.DNSPolicy = "Google"
			c0(p).ImagePullPolicy = "Maybe"
		}, []string{
			`spec.containers[0].imagePullPolicy: Unsupported value: "Maybe": supported values: "Always", "IfNotPresent", "Never"`,
			`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`,
			`spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`,
		}},
		{"requests may not exceed limits", func(p *v1.Pod) {
			c0(p).Resources = v1.ResourceRequirements{
				Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse("128Mi")},
			}
		}, []string{
			`spec.containers[0].resources.requests: Invalid value: "128Mi": must be less than or equal to memory limit of 64Mi`,
		}},
		{"resource names and negative quantities", func(p *v1.Pod) {
			c0(p).Resources = v1.ResourceRequirements{Limits: v1.ResourceList{
				"cpus": resource.MustParse("1"), v1.ResourceMemory: resource.MustParse("-1"),
			}}
		}, []string{
			`spec.containers[0].resources.limits[cpus]: Invalid value: cpus: must be a standard resource type or fully qualified`,
			`spec.containers[0].resources.limits[cpus]: Invalid value: cpus: must be a standard resource for containers`,
			`spec.containers[0].resources.limits[memory]: Invalid value: "-1": must be greater than or equal to 0`,
		}},
		{"probe needs exactly one handler and valid thresholds", func(p *v1.Pod) {
			c0(p).LivenessProbe = &v1.Probe{PeriodSeconds: -1, SuccessThreshold: 2, TimeoutSeconds: 1, FailureThreshold: 3}
			c0(p).ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{
				Exec:      &v1.ExecAction{Command: []string{"true"}},
				TCPSocket: &v1.TCPSocketAction{Port: intstr.FromString("http")},
			}, PeriodSeconds: 10, SuccessThreshold: 1, TimeoutSeconds: 1, FailureThreshold: 3}
		}, []string{
			`spec.containers[0].livenessProbe: Required value: must specify a handler type`,
			`spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0`,
			`spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1`,
			`spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type`,
		}},
		{"init containers may not have probes unless they are sidecars", func(p *v1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}}
			p.Spec.InitContainers[0].RestartPolicy = ptr.To(v1.ContainerRestartPolicy("Never"))
		}, []string{
			`spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"`,
			`spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always`,
		}},
		{"lifecycle sleep within the grace period", func(p *v1.Pod) {
			c0(p).Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Sleep: &v1.SleepAction{Seconds: 40}}}
		}, []string{
			`spec.containers[0].lifecycle.preStop.sleep: Invalid value: 40: must be non-negative and less than terminationGracePeriodSeconds (30)`,
		}},
		{"terminationGracePeriodSeconds is required", func(p *v1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil }, []string{
			`spec.terminationGracePeriodSeconds: Required value`,
		}},
		{"activeDeadlineSeconds is positive", func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) }, []string{
			`spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive`,
		}},
		{"hostAliases need IPs", func(p *v1.Pod) {
			p.Spec.HostAliases = []v1.HostAlias{{IP: "10.1.2", Hostnames: []string{"foo.remote"}}}
		}, []string{
			`spec.hostAliases[0].ip: Invalid value: "10.1.2": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`,
		}},
		{"toleration operator and effect", func(p *v1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, v1.Toleration{Key: "gpu", Operator: "In", Effect: "NoRun"},
				v1.Toleration{Operator: v1.TolerationOpEqual, Value: "x"})
		}, []string{
			`spec.tolerations[2].operator: Unsupported value: "In": supported values: "Equal", "Exists"`,
			`spec.tolerations[2].effect: Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`,
			`spec.tolerations[3].operator: Invalid value: "Equal": operator must be Exists when ` + "`key`" + ` is empty, which means "match all values and all keys"`,
		}},
		{"nodeSelector label syntax", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk type": "ssd"} }, []string{
			`spec.nodeSelector: Invalid value: "disk type": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
		}},
		{"node affinity operators", func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "disktype", Operator: v1.NodeSelectorOpIn}}}},
			}}}
		}, []string{
			`spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when ` + "`operator`" + ` is 'In' or 'NotIn'`,
		}},
		{"dnsPolicy None needs a dnsConfig", func(p *v1.Pod) { p.Spec.DNSPolicy = v1.DNSNone }, []string{
			`spec.dnsConfig: Required value: must provide ` + "`dnsConfig`" + ` when ` + "`dnsPolicy`" + ` is None`,
		}},
		{"hostNetwork ports", func(p *v1.Pod) { p.Spec.HostNetwork = true; c0(p).Ports[0].HostPort = 8080 }, []string{
			`spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match ` + "`containerPort`" + ` when ` + "`hostNetwork`" + ` is true`,
		}},
		{"a priority other than the computed one", func(p *v1.Pod) { p.Spec.Priority = ptr.To[int32](5) }, []string{
			`spec.priority: Forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`,
		}},
		{"unsupported fields are refused by name", func(p *v1.Pod) {
			p.Spec.EphemeralContainers = []v1.EphemeralContainer{{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
			p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: "nfs", VolumeSource: v1.VolumeSource{NFS: &v1.NFSVolumeSource{Server: "s", Path: "/"}}})
		}, []string{
			`spec.volumes[2].nfs: Forbidden: not supported by peapod yet`,
			`spec.ephemeralContainers: Forbidden: not supported by peapod yet`,
		}},
		{"envFrom needs exactly one source", func(p *v1.Pod) {
			c0(p).EnvFrom = []v1.EnvFromSource{{Prefix: "A="}}
		}, []string{
			`spec.containers[0].envFrom[0].prefix: Invalid value: "A=": a valid environment variable name must consist only of printable ASCII characters other than '='`,
			"spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`",
		}},
		{"downward API and projected paths", func(p *v1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes,
				v1.Volume{Name: "info", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
					{Path: "../labels", FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}},
				}}}},
				v1.Volume{Name: "proj", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
					{Secret: &v1.SecretProjection{LocalObjectReference: v1.LocalObjectReference{Name: "user"}, Items: []v1.KeyToPath{{Key: "u", Path: "cred"}}}},
					{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Items: []v1.KeyToPath{{Key: "c", Path: "cred"}}}},
				}}}})
		}, []string{
			`spec.volumes[2].downwardAPI.path: Invalid value: "../labels": must not contain '..'`,
			`spec.volumes[2].downwardAPI.fieldRef.fieldPath: Unsupported value: "status.podIP": supported values: "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"`,
			`spec.volumes[3].projected: Invalid value: "cfg": conflicting duplicate paths`,
		}},
		{"finalizer names", func(p *v1.Pod) { p.Finalizers = []string{"mine"} }, []string{
			`metadata.finalizers[0]: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, createErrors(t, tt.mutate)); diff != "" {
				t.Errorf("errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	const forbidden = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`," +
		"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
		"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
	tests := []struct {
		name   string
		mutate func(*v1.Pod)
		want   []string // errors; an entry ending in "\n" is a prefix (the diff follows)
		diff   []string // substrings the diff must contain
	}{
		{"image change", func(p *v1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28"; p.Spec.InitContainers[0].Image = "alpine" }, nil, nil},
		{"labels change", func(p *v1.Pod) { p.Labels = map[string]string{"tier": "web"} }, nil, nil},
		{"lower activeDeadlineSeconds", func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](5) }, nil, nil},
		{"added toleration", func(p *v1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, v1.Toleration{Key: "gpu", Operator: v1.TolerationOpExists})
		}, nil, nil},
		{"changed tolerationSeconds", func(p *v1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr.To[int64](60) }, nil, nil},
		{"removed default toleration comes back", func(p *v1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[1:] }, nil, nil},
		{"removed toleration", func(p *v1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[:2] }, []string{
			`spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds`,
		}, nil},
		{"restartPolicy change", func(p *v1.Pod) { p.Spec.RestartPolicy = v1.RestartPolicyNever }, []string{forbidden},
			[]string{`-`, `"Always"`, `+`, `"Never"`, `RestartPolicy`}},
		{"added container", func(p *v1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, *p.Spec.Containers[0].DeepCopy())
			p.Spec.Containers[1].Name = "second"
		}, []string{`spec.containers: Forbidden: pod updates may not add or remove containers`}, nil},
		{"name change", func(p *v1.Pod) { p.Name = "other" }, []string{
			`metadata.name: Invalid value: "other": field is immutable`,
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := created(t, basePod)
			old.ResourceVersion = "1"
			old.Spec.Tolerations = append(old.Spec.Tolerations, v1.Toleration{Key: "gpu", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule})
			pod := old.DeepCopy()
			tt.mutate(pod)
			s := Resource().Strategy
			s.Default(pod)
			s.PrepareForUpdate(context.Background(), pod, old)
			got := errorStrings(s.ValidateUpdate(context.Background(), pod, old))
			if len(got) != len(tt.want) {
				t.Fatalf("got errors %q, want %q", got, tt.want)
			}
			for i, want := range tt.want {
				if strings.HasSuffix(want, "\n") {
					if !strings.HasPrefix(got[i], want) {
						t.Errorf("error %d = %q, want prefix %q", i, got[i], want)
					}
					diff := strings.TrimPrefix(got[i], want)
					for _, part := range tt.diff {
						if !strings.Contains(diff, part) {
							t.Errorf("diff %q lacks %q", diff, part)
						}
					}
				} else if got[i] != want {
					t.Errorf("error %d = %q, want %q", i, got[i], want)
				}
			}
		})
	}
}

func TestUpdateKeepsStatusAndCountsSpecChanges(t *testing.T) {
	old := created(t, basePod)
	old.ResourceVersion = "1"
	old.Status.Phase = v1.PodRunning
	s := Resource().Strategy
	ctx := context.Background()

	same := old.DeepCopy()
	same.Status = v1.PodStatus{Phase: v1.PodFailed}
	same.Generation = 7
	same.Labels = map[string]string{"a": "b"}
	s.PrepareForUpdate(ctx, same, old)
	if same.Status.Phase != v1.PodRunning || same.Generation != 1 {
		t.Errorf("metadata-only update: phase %s generation %d, want Running 1", same.Status.Phase, same.Generation)
	}

	changed := old.DeepCopy()
	changed.Spec.Containers[0].Image = "nginx:1.28"
	changed.Spec.Tolerations = nil // the DefaultTolerationSeconds admission re-adds them
	s.PrepareForUpdate(ctx, changed, old)
	if changed.Generation != 2 {
		t.Errorf("image update: generation %d, want 2", changed.Generation)
	}
	if errs := s.ValidateUpdate(ctx, changed, old); len(errs) != 0 {
		t.Errorf("image update refused: %v", errs)
	}
}

func TestStatusUpdate(t *testing.T) {
	ctx := context.Background()
	s := Resource().Strategy
	old := created(t, basePod)
	old.ResourceVersion = "1"
	old.Spec.NodeName = "node-1"
	old.Spec.RestartPolicy = v1.RestartPolicyNever
	old.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "web", State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0}}}}

	tests := []struct {
		name   string
		mutate func(*v1.Pod)
		want   []string
	}{
		{"running with an IP", func(p *v1.Pod) {
			p.Status.Phase = v1.PodRunning
			p.Status.PodIPs = []v1.PodIP{{IP: "10.244.0.5"}}
			p.Status.PodIP = "10.244.0.5"
		}, []string{}},
		{"the spec is not the status writer's", func(p *v1.Pod) { p.Spec.Containers[0].Image = "evil" }, []string{}},
		{"phase enum", func(p *v1.Pod) { p.Status.Phase = "Done" }, []string{
			`status.phase: Unsupported value: "Done": supported values: "Pending", "Running", "Succeeded", "Failed", "Unknown"`,
		}},
		{"qosClass is immutable", func(p *v1.Pod) { p.Status.QOSClass = v1.PodQOSGuaranteed }, []string{
			`status.qosClass: Invalid value: "Guaranteed": field is immutable`,
		}},
		{"a terminated container does not come back under Never", func(p *v1.Pod) {
			p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "web", State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}
		}, []string{`status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state`}},
		{"pod IPs", func(p *v1.Pod) { p.Status.PodIPs = []v1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}} }, []string{
			`status.podIPs: Invalid value: []string{"10.0.0.1", "10.0.0.2"}: may specify no more than one IP for each IP family`,
		}},
		{"custom condition types are qualified names", func(p *v1.Pod) {
			p.Status.Conditions = []v1.PodCondition{{Type: "bad type", Status: v1.ConditionTrue}}
		}, []string{
			`metadata.conditions[0].Type: Invalid value: "bad type": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := old.DeepCopy()
			tt.mutate(pod)
			s.PrepareForStatusUpdate(ctx, pod, old)
			if !cmp.Equal(pod.Spec, old.Spec) {
				t.Errorf("status update changed the spec")
			}
			if diff := cmp.Diff(tt.want, errorStrings(s.ValidateStatusUpdate(ctx, pod, old))); diff != "" {
				t.Errorf("errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

// The pods of the source documents (/work/shared/seeds) must all be accepted: none uses a field peapod
// refuses.
func TestSourceDocumentPodsAreAccepted(t *testing.T) {
	manifests := map[string]string{
		"kubia-zxzij": `
metadata:
  annotations: {created-by: tiandeng}
  generateName: kubia-
  labels: {run: kubia}
  name: kubia-zxzij
  namespace: default
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    ports: [{containerPort: 8080, protocol: TCP}]
    resources: {requests: {cpu: 100m}}
    terminationMessagePath: /dev/termination-log
    volumeMounts: [{mountPath: /var/run/secrets/k8s.io/servacc, name: default-token-kvcqa, readOnly: true}]
  dnsPolicy: ClusterFirst
  nodeName: app-cluster-control-plane
  restartPolicy: Always
  serviceAccountName: default
  terminationGracePeriodSeconds: 30
  volumes:
  - name: default-token-kvcqa
    secret: {secretName: default-token-kvcqa}`,
		"nodeSelector and hostAliases": `
metadata: {name: hostaliases-pod, namespace: default}
spec:
  nodeSelector: {disktype: ssd}
  hostAliases: [{ip: "10.1.2.3", hostnames: [foo.remote, bar.remote]}]
  containers: [{name: c, image: busybox}]`,
		"shareProcessNamespace": `
metadata: {name: nginx, namespace: default}
spec:
  shareProcessNamespace: true
  containers:
  - {name: nginx, image: nginx}
  - {name: shell, image: busybox, stdin: true, tty: true}`,
		"host namespaces": `
metadata: {name: nginx, namespace: default}
spec:
  hostNetwork: true
  hostIPC: true
  hostPID: true
  containers:
  - {name: nginx, image: nginx}
  - {name: shell, image: busybox, stdin: true, tty: true}`,
		"lifecycle-demo": `
metadata: {name: lifecycle-demo, namespace: default}
spec:
  containers:
  - name: lifecycle-demo-container
    image: nginx
    lifecycle:
      postStart: {exec: {command: ["/bin/sh", "-c", "echo Hello from the postStart handler > /usr/share/message"]}}
      preStop: {exec: {command: ["/usr/sbin/nginx","-s","quit"]}}`,
		"test-projected-volume": `
metadata: {name: test-projected-volume, namespace: default}
spec:
  containers:
  - name: test-secret-volume
    image: busybox
    args: [sleep, "86400"]
    volumeMounts: [{name: mysql-cred, mountPath: /projected-volume, readOnly: true}]
  volumes:
  - name: mysql-cred
    projected: {sources: [{secret: {name: user}}, {secret: {name: pass}}]}`,
		"test-downwardapi-volume": `
metadata:
  name: test-downwardapi-volume
  namespace: default
  labels: {zone: us-est-coast, cluster: test-cluster1, rack: rack-22}
spec:
  containers:
  - name: client-container
    image: k8s.gcr.io/busybox
    command: ["sh", "-c"]
    args: ["while true; do cat /etc/podinfo/labels; sleep 5; done;"]
    volumeMounts: [{name: podinfo, mountPath: /etc/podinfo, readOnly: false}]
  volumes:
  - name: podinfo
    projected:
      sources:
      - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}`,
		"test-liveness-exec": `
metadata: {name: test-liveness-exec, namespace: default, labels: {test: liveness}}
spec:
  containers:
  - name: liveness
    image: busybox
    args: [/bin/sh, -c, "touch /tmp/healthy; sleep 30; rm -rf /tmp/healthy; sleep 600"]
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, initialDelaySeconds: 5, periodSeconds: 5}`,
	}
	for name, manifest := range manifests {
		t.Run(name, func(t *testing.T) {
			pod := created(t, manifest)
			if errs := Resource().Strategy.Validate(context.Background(), pod); len(errs) != 0 {
				t.Errorf("refused: %v", errs)
			}
		})
	}
}

package pod

import (
	"strings"

	v1 "k8s.io/api/core/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
)

// setDefaults fills what Kubernetes' generated defaulters for a v1 Pod fill
// (pkg/apis/core/v1/defaults.go and zz_generated.defaults.go), plus the v1 conversion of the deprecated
// serviceAccount field. It is idempotent: the server calls it on every write.
func setDefaults(pod *v1.Pod) {
	spec := &pod.Spec
	defaultRequestsFromLimits(spec.Containers)
	defaultRequestsFromLimits(spec.InitContainers)
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = ptr.To(v1.DefaultEnableServiceLinks)
	}
	if spec.HostNetwork {
		// With host networking a container port is a host port.
		defaultHostNetworkPorts(spec.Containers)
		defaultHostNetworkPorts(spec.InitContainers)
	}

	if spec.DNSPolicy == "" {
		spec.DNSPolicy = v1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = v1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &v1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To[int64](v1.DefaultTerminationGracePeriodSeconds)
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = v1.DefaultSchedulerName
	}
	// v1 conversion: serviceAccountName falls back to the deprecated field, which always mirrors it.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		defaultContainer((*v1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundUpResources(spec.Overhead)
}

func defaultRequestsFromLimits(containers []v1.Container) {
	for i := range containers {
		res := &containers[i].Resources
		if res.Limits == nil {
			continue
		}
		if res.Requests == nil {
			res.Requests = make(v1.ResourceList, len(res.Limits))
		}
		for name, limit := range res.Limits {
			if _, ok := res.Requests[name]; !ok {
				res.Requests[name] = limit.DeepCopy()
			}
		}
	}
}

func defaultHostNetworkPorts(containers []v1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			if p := &containers[i].Ports[j]; p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

func defaultVolume(vol *v1.Volume) {
	if ptr.AllPtrFieldsNil(&vol.VolumeSource) {
		vol.VolumeSource = v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}
	}
	src := &vol.VolumeSource
	if src.HostPath != nil && src.HostPath.Type == nil {
		src.HostPath.Type = ptr.To(v1.HostPathUnset)
	}
	if src.Secret != nil && src.Secret.DefaultMode == nil {
		src.Secret.DefaultMode = ptr.To[int32](v1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil && src.ConfigMap.DefaultMode == nil {
		src.ConfigMap.DefaultMode = ptr.To[int32](v1.ConfigMapVolumeSourceDefaultMode)
	}
	if src.DownwardAPI != nil {
		if src.DownwardAPI.DefaultMode == nil {
			src.DownwardAPI.DefaultMode = ptr.To[int32](v1.DownwardAPIVolumeSourceDefaultMode)
		}
		defaultFieldRefs(src.DownwardAPI.Items)
	}
	if src.Projected != nil {
		if src.Projected.DefaultMode == nil {
			src.Projected.DefaultMode = ptr.To[int32](v1.ProjectedVolumeSourceDefaultMode)
		}
		for i := range src.Projected.Sources {
			s := &src.Projected.Sources[i]
			if s.DownwardAPI != nil {
				defaultFieldRefs(s.DownwardAPI.Items)
			}
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
				s.ServiceAccountToken.ExpirationSeconds = ptr.To[int64](3600)
			}
		}
	}
}

func defaultFieldRefs(items []v1.DownwardAPIVolumeFile) {
	for i := range items {
		if ref := items[i].FieldRef; ref != nil && ref.APIVersion == "" {
			ref.APIVersion = "v1"
		}
	}
}

func defaultContainer(c *v1.Container) {
	if c.ImagePullPolicy == "" {
		if imageTag(c.Image) == "latest" {
			c.ImagePullPolicy = v1.PullAlways
		} else {
			c.ImagePullPolicy = v1.PullIfNotPresent
		}
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = v1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = v1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = v1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if from := c.Env[i].ValueFrom; from != nil && from.FieldRef != nil && from.FieldRef.APIVersion == "" {
			from.FieldRef.APIVersion = "v1"
		}
	}
	roundUpResources(c.Resources.Limits)
	roundUpResources(c.Resources.Requests)
	for _, probe := range []*v1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if probe != nil {
			defaultProbe(probe)
		}
	}
	if c.Lifecycle != nil {
		for _, h := range []*v1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil && h.HTTPGet != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

func defaultProbe(p *v1.Probe) {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		defaultHTTPGet(p.HTTPGet)
	}
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptr.To("")
	}
}

func defaultHTTPGet(h *v1.HTTPGetAction) {
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = v1.URISchemeHTTP
	}
}

// roundUpResources rounds quantities up to milli precision, as Kubernetes does to keep API compatibility.
func roundUpResources(list v1.ResourceList) {
	for name, q := range list {
		q.RoundUp(-3)
		list[name] = q
	}
}

// imageTag returns the tag of an image reference as Kubernetes' image parser sees it: "latest" when
// neither tag nor digest is given, "" for a digest-only reference.
func imageTag(image string) string {
	if image == "" {
		return "" // unparsable: Kubernetes' parser fails and the tag is empty
	}
	name, digest, hasDigest := strings.Cut(image, "@")
	// A ':' after the last '/' separates the tag; one before it belongs to a registry host:port.
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[i+1:]
	}
	if hasDigest && digest != "" {
		return ""
	}
	return "latest"
}

// Names and paths of the service account token volume, as Kubernetes' ServiceAccount admission adds it.
const (
	tokenVolumePrefix  = "kube-api-access-"
	tokenMountPath     = "/var/run/secrets/kubernetes.io/serviceaccount"
	defaultSAName      = "default"
	tokenExpirySeconds = 3607 // Kubernetes' WarnOnlyBoundTokenExpirationSeconds
	rootCAConfigMap    = "kube-root-ca.crt"
	mirrorAnnotation   = v1.MirrorPodAnnotationKey
	tolerationSeconds  = 300 // DefaultTolerationSeconds admission's default
)

// admitCreate applies what Kubernetes' default admission plugins do to a new pod: ServiceAccount (default
// name, token volume), DefaultTolerationSeconds and Priority.
func admitCreate(pod *v1.Pod) {
	if _, mirror := pod.Annotations[mirrorAnnotation]; !mirror {
		if pod.Spec.ServiceAccountName == "" {
			pod.Spec.ServiceAccountName = defaultSAName
		}
		pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
		if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
			mountServiceAccountToken(&pod.Spec)
		}
	}
	addDefaultTolerations(&pod.Spec)
	if pod.Spec.PriorityClassName == "" && pod.Spec.Priority == nil {
		pod.Spec.Priority = ptr.To[int32](0)
	}
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = ptr.To(v1.PreemptLowerPriority)
	}
}

// admitUpdate applies the admission plugins that also run on update: DefaultTolerationSeconds re-adds its
// tolerations, Priority keeps the values it set at create.
func admitUpdate(pod, old *v1.Pod) {
	addDefaultTolerations(&pod.Spec)
	if pod.Spec.Priority == nil {
		pod.Spec.Priority = old.Spec.Priority
	}
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
	}
}

// mountServiceAccountToken adds the projected kube-api-access-xxxxx volume and mounts it read-only in
// every container that has nothing at the token path yet.
func mountServiceAccountToken(spec *v1.PodSpec) {
	volumeName, hasVolume := "", false
	for _, vol := range spec.Volumes {
		if strings.HasPrefix(vol.Name, tokenVolumePrefix) {
			volumeName, hasVolume = vol.Name, true
			break
		}
	}
	if volumeName == "" {
		volumeName = tokenVolumePrefix + utilrand.String(5)
	}
	mount := v1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: tokenMountPath}
	needsVolume := false
	for _, containers := range [][]v1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			if !mountsPath(containers[i].VolumeMounts, tokenMountPath) {
				containers[i].VolumeMounts = append(containers[i].VolumeMounts, mount)
				needsVolume = true
			}
		}
	}
	if needsVolume && !hasVolume {
		spec.Volumes = append(spec.Volumes, v1.Volume{
			Name:         volumeName,
			VolumeSource: v1.VolumeSource{Projected: tokenVolumeSource()},
		})
	}
}

func mountsPath(mounts []v1.VolumeMount, path string) bool {
	for _, m := range mounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

func tokenVolumeSource() *v1.ProjectedVolumeSource {
	return &v1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](v1.ProjectedVolumeSourceDefaultMode),
		Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](tokenExpirySeconds)}},
			{ConfigMap: &v1.ConfigMapProjection{
				LocalObjectReference: v1.LocalObjectReference{Name: rootCAConfigMap},
				Items:                []v1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{
				Path:     "namespace",
				FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}

// addDefaultTolerations tolerates the not-ready and unreachable taints for 300s unless the pod already
// tolerates them (an empty key or effect matches), as the DefaultTolerationSeconds admission does.
func addDefaultTolerations(spec *v1.PodSpec) {
	notReady, unreachable := false, false
	for _, t := range spec.Tolerations {
		if t.Effect != v1.TaintEffectNoExecute && t.Effect != "" {
			continue
		}
		notReady = notReady || t.Key == v1.TaintNodeNotReady || t.Key == ""
		unreachable = unreachable || t.Key == v1.TaintNodeUnreachable || t.Key == ""
	}
	for _, taint := range []struct {
		key       string
		tolerated bool
	}{{v1.TaintNodeNotReady, notReady}, {v1.TaintNodeUnreachable, unreachable}} {
		if !taint.tolerated {
			spec.Tolerations = append(spec.Tolerations, v1.Toleration{
				Key: taint.key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute,
				TolerationSeconds: ptr.To[int64](tolerationSeconds),
			})
		}
	}
}

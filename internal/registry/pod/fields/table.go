// Package fields is peapod's honesty table for Pods: every JSON field of every k8s.io/api/core/v1 type a
// PodSpec reaches, marked supported or not supported yet. The same table refuses unsupported fields at
// admission (Unsupported) and renders docs/pod-fields.md (Markdown), so the two can never disagree.
package fields

import (
	v1 "k8s.io/api/core/v1"
)

// Status says whether peapod honours a field.
type Status int

const (
	// Supported fields are implemented, or being built in peapod's current issues.
	Supported Status = iota + 1
	// NotSupported fields are refused at create with a 422 naming the field.
	NotSupported
)

func (s Status) String() string {
	switch s {
	case Supported:
		return "supported"
	case NotSupported:
		return "not supported yet"
	default:
		return "unknown"
	}
}

// Field is one JSON field of a k8s.io/api/core/v1 type reachable from PodSpec.
type Field struct {
	Type   string // Go type name in k8s.io/api/core/v1, e.g. "Container"
	Name   string // JSON field name, e.g. "image"
	Status Status
	Note   string
	// Accept lists, for a NotSupported field, the values that mean Kubernetes' default behaviour and are
	// therefore honoured anyway (hostUsers: true, or a value the server fills itself such as
	// preemptionPolicy: PreemptLowerPriority). Values are compared after dereferencing pointers.
	Accept []any
}

func yes(typ, name, note string) Field {
	return Field{Type: typ, Name: name, Status: Supported, Note: note}
}

func no(typ, name, note string, accept ...any) Field {
	return Field{Type: typ, Name: name, Status: NotSupported, Note: note, Accept: accept}
}

// Table returns the support table, grouped by type in the order docs/pod-fields.md lists them.
func Table() []Field {
	return []Field{
		yes("PodSpec", "volumes", ""),
		yes("PodSpec", "initContainers", "run in order, each to success; restartPolicy Always makes a sidecar"),
		yes("PodSpec", "containers", ""),
		no("PodSpec", "ephemeralContainers", "kubectl debug is not implemented"),
		yes("PodSpec", "restartPolicy", "Always, OnFailure, Never with CrashLoopBackOff back-off"),
		yes("PodSpec", "terminationGracePeriodSeconds", "default 30"),
		yes("PodSpec", "activeDeadlineSeconds", "the pod fails with reason DeadlineExceeded"),
		yes("PodSpec", "dnsPolicy", "default ClusterFirst"),
		yes("PodSpec", "nodeSelector", ""),
		yes("PodSpec", "serviceAccountName", "default \"default\""),
		yes("PodSpec", "serviceAccount", "deprecated alias of serviceAccountName"),
		yes("PodSpec", "automountServiceAccountToken", "false skips the kube-api-access volume"),
		yes("PodSpec", "nodeName", "may be preset to bypass the scheduler"),
		yes("PodSpec", "hostNetwork", ""),
		yes("PodSpec", "hostPID", ""),
		yes("PodSpec", "hostIPC", ""),
		yes("PodSpec", "shareProcessNamespace", "the pause process is PID 1 and reaps zombies"),
		yes("PodSpec", "securityContext", ""),
		yes("PodSpec", "imagePullSecrets", "dockerconfigjson secrets"),
		yes("PodSpec", "hostname", ""),
		yes("PodSpec", "subdomain", ""),
		yes("PodSpec", "affinity", "node affinity only"),
		yes("PodSpec", "schedulerName", "peapod's scheduler serves default-scheduler; other names stay Pending as in Kubernetes"),
		yes("PodSpec", "tolerations", "not-ready and unreachable NoExecute 300s are added as in Kubernetes"),
		yes("PodSpec", "hostAliases", "written to the managed /etc/hosts"),
		no("PodSpec", "priorityClassName", "there is no PriorityClass API and no preemption"),
		yes("PodSpec", "priority", "set by the server to 0; a different value is refused"),
		yes("PodSpec", "dnsConfig", ""),
		no("PodSpec", "readinessGates", "nothing evaluates custom readiness conditions yet"),
		no("PodSpec", "runtimeClassName", "one OCI runtime per node"),
		yes("PodSpec", "enableServiceLinks", "there are no Services, so no variables are injected"),
		no("PodSpec", "preemptionPolicy", "no preemption; the server sets PreemptLowerPriority", v1.PreemptLowerPriority),
		no("PodSpec", "overhead", "set only through RuntimeClass"),
		no("PodSpec", "topologySpreadConstraints", ""),
		no("PodSpec", "setHostnameAsFQDN", "", false),
		no("PodSpec", "os", "peapod runs Linux pods only"),
		no("PodSpec", "hostUsers", "user namespaces are not implemented", true),
		no("PodSpec", "schedulingGates", ""),
		no("PodSpec", "resourceClaims", "dynamic resource allocation is not implemented"),
		no("PodSpec", "resources", "pod-level resources are not implemented"),

		yes("Volume", "name", ""),
		yes("VolumeSource", "hostPath", ""),
		yes("VolumeSource", "emptyDir", ""),
		no("VolumeSource", "gcePersistentDisk", ""),
		no("VolumeSource", "awsElasticBlockStore", ""),
		no("VolumeSource", "gitRepo", "deprecated in Kubernetes"),
		yes("VolumeSource", "secret", ""),
		no("VolumeSource", "nfs", ""),
		no("VolumeSource", "iscsi", ""),
		no("VolumeSource", "glusterfs", ""),
		no("VolumeSource", "persistentVolumeClaim", "there are no PersistentVolumes"),
		no("VolumeSource", "rbd", ""),
		no("VolumeSource", "flexVolume", ""),
		no("VolumeSource", "cinder", ""),
		no("VolumeSource", "cephfs", ""),
		no("VolumeSource", "flocker", ""),
		yes("VolumeSource", "downwardAPI", ""),
		no("VolumeSource", "fc", ""),
		no("VolumeSource", "azureFile", ""),
		yes("VolumeSource", "configMap", ""),
		no("VolumeSource", "vsphereVolume", ""),
		no("VolumeSource", "quobyte", ""),
		no("VolumeSource", "azureDisk", ""),
		no("VolumeSource", "photonPersistentDisk", ""),
		yes("VolumeSource", "projected", ""),
		no("VolumeSource", "portworxVolume", ""),
		no("VolumeSource", "scaleIO", ""),
		no("VolumeSource", "storageos", ""),
		no("VolumeSource", "csi", ""),
		no("VolumeSource", "ephemeral", ""),
		no("VolumeSource", "image", ""),

		yes("HostPathVolumeSource", "path", ""),
		yes("HostPathVolumeSource", "type", "checked before the container starts"),
		yes("EmptyDirVolumeSource", "medium", "\"\" (disk) or Memory (tmpfs)"),
		yes("EmptyDirVolumeSource", "sizeLimit", ""),
		yes("SecretVolumeSource", "secretName", ""),
		yes("SecretVolumeSource", "items", ""),
		yes("SecretVolumeSource", "defaultMode", "default 0644"),
		yes("SecretVolumeSource", "optional", ""),
		yes("KeyToPath", "key", ""),
		yes("KeyToPath", "path", ""),
		yes("KeyToPath", "mode", ""),
		yes("ConfigMapVolumeSource", "items", ""),
		yes("ConfigMapVolumeSource", "defaultMode", "default 0644"),
		yes("ConfigMapVolumeSource", "optional", ""),
		yes("LocalObjectReference", "name", ""),
		yes("DownwardAPIVolumeSource", "items", ""),
		yes("DownwardAPIVolumeSource", "defaultMode", "default 0644"),
		yes("DownwardAPIVolumeFile", "path", ""),
		yes("DownwardAPIVolumeFile", "fieldRef", ""),
		yes("DownwardAPIVolumeFile", "resourceFieldRef", ""),
		yes("DownwardAPIVolumeFile", "mode", ""),
		yes("ObjectFieldSelector", "apiVersion", "default v1"),
		yes("ObjectFieldSelector", "fieldPath", ""),
		yes("ResourceFieldSelector", "containerName", ""),
		yes("ResourceFieldSelector", "resource", ""),
		yes("ResourceFieldSelector", "divisor", ""),
		yes("ProjectedVolumeSource", "sources", ""),
		yes("ProjectedVolumeSource", "defaultMode", "default 0644"),
		yes("VolumeProjection", "secret", ""),
		yes("VolumeProjection", "downwardAPI", ""),
		yes("VolumeProjection", "configMap", ""),
		yes("VolumeProjection", "serviceAccountToken", ""),
		no("VolumeProjection", "clusterTrustBundle", "there is no ClusterTrustBundle API"),
		yes("SecretProjection", "items", ""),
		yes("SecretProjection", "optional", ""),
		yes("DownwardAPIProjection", "items", ""),
		yes("ConfigMapProjection", "items", ""),
		yes("ConfigMapProjection", "optional", ""),
		yes("ServiceAccountTokenProjection", "audience", ""),
		yes("ServiceAccountTokenProjection", "expirationSeconds", "default 3600"),
		yes("ServiceAccountTokenProjection", "path", ""),

		yes("Container", "name", ""),
		yes("Container", "image", ""),
		yes("Container", "command", "overrides the image ENTRYPOINT; $(VAR) expanded"),
		yes("Container", "args", "overrides the image CMD; $(VAR) expanded"),
		yes("Container", "workingDir", ""),
		yes("Container", "ports", ""),
		yes("Container", "envFrom", ""),
		yes("Container", "env", ""),
		yes("Container", "resources", "to cgroups: cpu shares, cpu quota, memory limit"),
		no("Container", "resizePolicy", "in-place resize is not implemented"),
		yes("Container", "restartPolicy", "Always on an init container makes it a sidecar"),
		yes("Container", "volumeMounts", ""),
		no("Container", "volumeDevices", "no block volumes"),
		yes("Container", "livenessProbe", "stored and validated; the node agent does not run probes yet and says so in a NotImplemented event"),
		yes("Container", "readinessProbe", "stored and validated; not run yet, so the container is reported unready (NotImplemented event)"),
		yes("Container", "startupProbe", "stored and validated; not run yet (NotImplemented event)"),
		yes("Container", "lifecycle", "postStart and preStop hooks: stored and validated; not run yet (NotImplemented event)"),
		yes("Container", "terminationMessagePath", "default /dev/termination-log"),
		yes("Container", "terminationMessagePolicy", "File or FallbackToLogsOnError"),
		yes("Container", "imagePullPolicy", "Always for :latest or no tag, else IfNotPresent"),
		yes("Container", "securityContext", ""),
		yes("Container", "stdin", ""),
		yes("Container", "stdinOnce", ""),
		yes("Container", "tty", ""),

		yes("ContainerPort", "name", ""),
		yes("ContainerPort", "hostPort", "forwarded from the node's addresses and 127.0.0.1"),
		yes("ContainerPort", "containerPort", ""),
		yes("ContainerPort", "protocol", "default TCP"),
		no("ContainerPort", "hostIP", "hostPort binds the node's addresses"),
		yes("EnvFromSource", "prefix", ""),
		yes("EnvFromSource", "configMapRef", ""),
		yes("EnvFromSource", "secretRef", ""),
		yes("ConfigMapEnvSource", "optional", ""),
		yes("SecretEnvSource", "optional", ""),
		yes("EnvVar", "name", ""),
		yes("EnvVar", "value", ""),
		yes("EnvVar", "valueFrom", ""),
		yes("EnvVarSource", "fieldRef", ""),
		yes("EnvVarSource", "resourceFieldRef", ""),
		yes("EnvVarSource", "configMapKeyRef", ""),
		yes("EnvVarSource", "secretKeyRef", ""),
		yes("ConfigMapKeySelector", "key", ""),
		yes("ConfigMapKeySelector", "optional", ""),
		yes("SecretKeySelector", "key", ""),
		yes("SecretKeySelector", "optional", ""),
		yes("ResourceRequirements", "limits", "requests default to limits"),
		yes("ResourceRequirements", "requests", ""),
		no("ResourceRequirements", "claims", "dynamic resource allocation is not implemented"),
		yes("VolumeMount", "name", ""),
		yes("VolumeMount", "readOnly", ""),
		no("VolumeMount", "recursiveReadOnly", "", v1.RecursiveReadOnlyDisabled),
		yes("VolumeMount", "mountPath", "must be absolute"),
		yes("VolumeMount", "subPath", ""),
		no("VolumeMount", "mountPropagation", "mounts are private", v1.MountPropagationNone),
		no("VolumeMount", "subPathExpr", ""),

		yes("Probe", "initialDelaySeconds", ""),
		yes("Probe", "timeoutSeconds", "default 1"),
		yes("Probe", "periodSeconds", "default 10"),
		yes("Probe", "successThreshold", "default 1"),
		yes("Probe", "failureThreshold", "default 3"),
		yes("Probe", "terminationGracePeriodSeconds", "grace of a kill after a failed liveness or startup probe"),
		yes("ProbeHandler", "exec", ""),
		yes("ProbeHandler", "httpGet", ""),
		yes("ProbeHandler", "tcpSocket", ""),
		no("ProbeHandler", "grpc", "gRPC health checks are not implemented"),
		yes("ExecAction", "command", "run in the container, not a shell"),
		yes("HTTPGetAction", "path", "default /"),
		yes("HTTPGetAction", "port", "number or container port name"),
		yes("HTTPGetAction", "host", "default the pod IP"),
		yes("HTTPGetAction", "scheme", "default HTTP; HTTPS skips certificate checks, as the kubelet does"),
		yes("HTTPGetAction", "httpHeaders", ""),
		yes("HTTPHeader", "name", ""),
		yes("HTTPHeader", "value", ""),
		yes("TCPSocketAction", "port", ""),
		yes("TCPSocketAction", "host", "default the pod IP"),
		yes("Lifecycle", "postStart", ""),
		yes("Lifecycle", "preStop", "runs before SIGTERM, within the grace period"),
		no("Lifecycle", "stopSignal", "containers are stopped with SIGTERM"),
		yes("LifecycleHandler", "exec", ""),
		yes("LifecycleHandler", "httpGet", ""),
		no("LifecycleHandler", "tcpSocket", "deprecated in Kubernetes; the kubelet does not run it either"),
		yes("LifecycleHandler", "sleep", ""),
		yes("SleepAction", "seconds", ""),

		yes("SecurityContext", "capabilities", "added to or dropped from the default set"),
		yes("SecurityContext", "privileged", ""),
		no("SecurityContext", "seLinuxOptions", ""),
		no("SecurityContext", "windowsOptions", "peapod runs Linux pods only"),
		yes("SecurityContext", "runAsUser", ""),
		yes("SecurityContext", "runAsGroup", ""),
		no("SecurityContext", "runAsNonRoot", "", false),
		yes("SecurityContext", "readOnlyRootFilesystem", ""),
		yes("SecurityContext", "allowPrivilegeEscalation", "false sets no_new_privs"),
		no("SecurityContext", "procMount", "", v1.DefaultProcMount),
		no("SecurityContext", "seccompProfile", ""),
		no("SecurityContext", "appArmorProfile", ""),
		yes("Capabilities", "add", ""),
		yes("Capabilities", "drop", ""),

		no("PodSecurityContext", "seLinuxOptions", ""),
		no("PodSecurityContext", "windowsOptions", "peapod runs Linux pods only"),
		yes("PodSecurityContext", "runAsUser", "default for every container"),
		yes("PodSecurityContext", "runAsGroup", "default for every container"),
		no("PodSecurityContext", "runAsNonRoot", "", false),
		yes("PodSecurityContext", "supplementalGroups", ""),
		no("PodSecurityContext", "supplementalGroupsPolicy", "groups from the image are always merged", v1.SupplementalGroupsPolicyMerge),
		yes("PodSecurityContext", "fsGroup", "owns emptyDir, secret, configMap, downwardAPI and projected volumes"),
		no("PodSecurityContext", "sysctls", ""),
		no("PodSecurityContext", "fsGroupChangePolicy", "", v1.FSGroupChangeAlways),
		no("PodSecurityContext", "seccompProfile", ""),
		no("PodSecurityContext", "appArmorProfile", ""),
		no("PodSecurityContext", "seLinuxChangePolicy", ""),

		yes("Affinity", "nodeAffinity", ""),
		no("Affinity", "podAffinity", ""),
		no("Affinity", "podAntiAffinity", ""),
		yes("NodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "a scheduling filter"),
		no("NodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution", "the scheduler does not score by preference"),
		yes("NodeSelector", "nodeSelectorTerms", "terms are ORed"),
		yes("NodeSelectorTerm", "matchExpressions", ""),
		yes("NodeSelectorTerm", "matchFields", "metadata.name only, as in Kubernetes"),
		yes("NodeSelectorRequirement", "key", ""),
		yes("NodeSelectorRequirement", "operator", "In, NotIn, Exists, DoesNotExist, Gt, Lt"),
		yes("NodeSelectorRequirement", "values", ""),

		yes("Toleration", "key", ""),
		yes("Toleration", "operator", ""),
		yes("Toleration", "value", ""),
		yes("Toleration", "effect", ""),
		yes("Toleration", "tolerationSeconds", ""),
		yes("HostAlias", "ip", ""),
		yes("HostAlias", "hostnames", ""),
		yes("PodDNSConfig", "nameservers", ""),
		yes("PodDNSConfig", "searches", ""),
		yes("PodDNSConfig", "options", ""),
		yes("PodDNSConfigOption", "name", ""),
		yes("PodDNSConfigOption", "value", ""),
	}
}

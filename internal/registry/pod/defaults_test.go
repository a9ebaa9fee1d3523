package pod

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// tokenSuffix matches the random suffix of the service account token volume.
var tokenSuffix = regexp.MustCompile(`kube-api-access-[a-z0-9]{5}`)

// created runs a manifest through what the server does on create: decode, Default, PrepareForCreate.
func created(t *testing.T, manifest string) *v1.Pod {
	t.Helper()
	pod := &v1.Pod{}
	if err := yaml.UnmarshalStrict([]byte(manifest), pod); err != nil {
		t.Fatalf("decode: %v", err)
	}
	s := Resource().Strategy
	s.Default(pod)
	s.PrepareForCreate(context.Background(), pod)
	return pod
}

// The expected objects are what `kubectl get pod -o yaml` shows on Kubernetes 1.33 for the pods of the
// source documents, without the metadata the API layer fills (uid, timestamps, resourceVersion).
func TestDefaultsMatchKubernetes(t *testing.T) {
	const tokenVolume = `
  - name: kube-api-access-xxxxx
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken:
          expirationSeconds: 3607
          path: token
      - configMap:
          items:
          - key: ca.crt
            path: ca.crt
          name: kube-root-ca.crt
      - downwardAPI:
          items:
          - fieldRef:
              apiVersion: v1
              fieldPath: metadata.namespace
            path: namespace`
	const tokenMount = `
    - mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      name: kube-api-access-xxxxx
      readOnly: true`
	const tolerations = `
  tolerations:
  - effect: NoExecute
    key: node.kubernetes.io/not-ready
    operator: Exists
    tolerationSeconds: 300
  - effect: NoExecute
    key: node.kubernetes.io/unreachable
    operator: Exists
    tolerationSeconds: 300`
	const podDefaults = `
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  preemptionPolicy: PreemptLowerPriority
  priority: 0`
	const podDefaults2 = `
  schedulerName: default-scheduler
  securityContext: {}
  serviceAccount: default
  serviceAccountName: default
  terminationGracePeriodSeconds: 30`

	tests := []struct {
		name     string
		manifest string
		want     string
	}{
		{
			name: "kubectl run kubia --image=busybox --port=8080",
			manifest: `
metadata: {name: kubia, labels: {run: kubia}}
spec:
  containers:
  - name: kubia
    image: busybox
    ports: [{containerPort: 8080}]
    resources: {}
  dnsPolicy: ClusterFirst
  restartPolicy: Always`,
			want: `metadata:
  creationTimestamp: null
  generation: 1
  labels:
    run: kubia
  name: kubia
spec:
  containers:
  - image: busybox
    imagePullPolicy: Always
    name: kubia
    ports:
    - containerPort: 8080
      protocol: TCP
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:` + tokenMount + podDefaults + `
  restartPolicy: Always` + podDefaults2 + tolerations + `
  volumes:` + tokenVolume + `
status:
  phase: Pending
  qosClass: BestEffort
`,
		},
		{
			name: "two containers sharing a hostPath volume",
			manifest: `
metadata: {name: two-containers}
spec:
  restartPolicy: Never
  volumes:
  - name: shared-data
    hostPath: {path: /data}
  containers:
  - name: nginx-container
    image: nginx
    volumeMounts: [{name: shared-data, mountPath: /usr/share/nginx/html}]
  - name: debian-container
    image: debian
    volumeMounts: [{name: shared-data, mountPath: /pod-data}]
    command: ["/bin/sh"]
    args: ["-c", "echo Hello from the debian container > /pod-data/index.html"]`,
			want: `metadata:
  creationTimestamp: null
  generation: 1
  name: two-containers
spec:
  containers:
  - image: nginx
    imagePullPolicy: Always
    name: nginx-container
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /usr/share/nginx/html
      name: shared-data` + tokenMount + `
  - args:
    - -c
    - echo Hello from the debian container > /pod-data/index.html
    command:
    - /bin/sh
    image: debian
    imagePullPolicy: Always
    name: debian-container
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /pod-data
      name: shared-data` + tokenMount + podDefaults + `
  restartPolicy: Never` + podDefaults2 + tolerations + `
  volumes:
  - hostPath:
      path: /data
      type: ""
    name: shared-data` + tokenVolume + `
status:
  phase: Pending
  qosClass: BestEffort
`,
		},
		{
			name: "javaweb: init container, emptyDir, hostPort",
			manifest: `
metadata: {name: javaweb-2}
spec:
  initContainers:
  - image: geektime/sample:v2
    name: war
    command: ["cp", "/sample.war", "/app"]
    volumeMounts: [{mountPath: /app, name: app-volume}]
  containers:
  - image: geektime/tomcat:7.0
    name: tomcat
    command: ["sh","-c","/root/apache-tomcat-7.0.42-v2/bin/start.sh"]
    volumeMounts: [{mountPath: /root/apache-tomcat-7.0.42-v2/webapps, name: app-volume}]
    ports: [{containerPort: 8080, hostPort: 8001}]
  volumes:
  - name: app-volume
    emptyDir: {}`,
			want: `metadata:
  creationTimestamp: null
  generation: 1
  name: javaweb-2
spec:
  containers:
  - command:
    - sh
    - -c
    - /root/apache-tomcat-7.0.42-v2/bin/start.sh
    image: geektime/tomcat:7.0
    imagePullPolicy: IfNotPresent
    name: tomcat
    ports:
    - containerPort: 8080
      hostPort: 8001
      protocol: TCP
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /root/apache-tomcat-7.0.42-v2/webapps
      name: app-volume` + tokenMount + `
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  initContainers:
  - command:
    - cp
    - /sample.war
    - /app
    image: geektime/sample:v2
    imagePullPolicy: IfNotPresent
    name: war
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /app
      name: app-volume` + tokenMount + `
  preemptionPolicy: PreemptLowerPriority
  priority: 0
  restartPolicy: Always` + podDefaults2 + tolerations + `
  volumes:
  - emptyDir: {}
    name: app-volume` + tokenVolume + `
status:
  phase: Pending
  qosClass: BestEffort
`,
		},
		{
			name: "liveness probe, resources, projected downward API, no token",
			manifest: `
metadata: {name: test-liveness-exec, labels: {test: liveness}}
spec:
  automountServiceAccountToken: false
  containers:
  - name: liveness
    image: busybox:1.36
    args: [/bin/sh, -c, "sleep 600"]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      initialDelaySeconds: 5
      periodSeconds: 5
    readinessProbe:
      httpGet: {port: 8080}
    resources:
      limits: {memory: 128Mi, cpu: 500m}
      requests: {memory: 64Mi}
    volumeMounts: [{name: podinfo, mountPath: /etc/podinfo}]
  volumes:
  - name: podinfo
    projected:
      sources:
      - downwardAPI:
          items:
          - path: labels
            fieldRef: {fieldPath: metadata.labels}`,
			want: `metadata:
  creationTimestamp: null
  generation: 1
  labels:
    test: liveness
  name: test-liveness-exec
spec:
  automountServiceAccountToken: false
  containers:
  - args:
    - /bin/sh
    - -c
    - sleep 600
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    livenessProbe:
      exec:
        command:
        - cat
        - /tmp/healthy
      failureThreshold: 3
      initialDelaySeconds: 5
      periodSeconds: 5
      successThreshold: 1
      timeoutSeconds: 1
    name: liveness
    readinessProbe:
      failureThreshold: 3
      httpGet:
        path: /
        port: 8080
        scheme: HTTP
      periodSeconds: 10
      successThreshold: 1
      timeoutSeconds: 1
    resources:
      limits:
        cpu: 500m
        memory: 128Mi
      requests:
        cpu: 500m
        memory: 64Mi
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /etc/podinfo
      name: podinfo` + podDefaults + `
  restartPolicy: Always` + podDefaults2 + tolerations + `
  volumes:
  - name: podinfo
    projected:
      defaultMode: 420
      sources:
      - downwardAPI:
          items:
          - fieldRef:
              apiVersion: v1
              fieldPath: metadata.labels
            path: labels
status:
  phase: Pending
  qosClass: Burstable
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := yaml.Marshal(created(t, tt.manifest))
			if err != nil {
				t.Fatal(err)
			}
			got := tokenSuffix.ReplaceAllString(string(out), "kube-api-access-xxxxx")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stored pod differs from Kubernetes' (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenVolumeIsSharedAndRespectsExistingMounts(t *testing.T) {
	pod := created(t, `
metadata: {name: p}
spec:
  containers:
  - {name: a, image: busybox}
  - name: b
    image: busybox
    volumeMounts: [{name: own, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}]
  volumes: [{name: own, emptyDir: {}}]`)
	if n := len(pod.Spec.Volumes); n != 2 {
		t.Fatalf("got %d volumes, want own + one token volume", n)
	}
	token := pod.Spec.Volumes[1].Name
	if !strings.HasPrefix(token, "kube-api-access-") || len(token) != len("kube-api-access-")+5 {
		t.Errorf("token volume name %q", token)
	}
	if got := pod.Spec.Containers[0].VolumeMounts; len(got) != 1 || got[0].Name != token || !got[0].ReadOnly {
		t.Errorf("container a mounts %+v, want the token volume read-only", got)
	}
	if got := pod.Spec.Containers[1].VolumeMounts; len(got) != 1 || got[0].Name != "own" {
		t.Errorf("container b mounts %+v, want only its own volume at the token path", got)
	}

	// Defaulting and create admission run once per write; a second pass must not add anything.
	again := pod.DeepCopy()
	Resource().Strategy.Default(again)
	if diff := cmp.Diff(pod, again); diff != "" {
		t.Errorf("Default is not idempotent (-first +second):\n%s", diff)
	}
}

func TestDefaultsFillWhatKubernetesFills(t *testing.T) {
	pod := created(t, `
metadata: {name: p}
spec:
  serviceAccount: builder
  hostNetwork: true
  tolerations: [{operator: Exists}]
  containers:
  - name: a
    image: registry.local:5000/app@sha256:0123456789012345678901234567890123456789012345678901234567890123
    ports: [{containerPort: 80}]
    env: [{name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
    startupProbe: {grpc: {port: 9000}}
    lifecycle: {preStop: {httpGet: {port: 80}}}
    resources: {limits: {cpu: "0.0001"}}
  volumes:
  - name: s
    secret: {secretName: s}
  - name: c
    configMap: {name: c}
  - name: d
    downwardAPI: {items: [{path: podname, fieldRef: {fieldPath: metadata.name}}]}
  - name: nothing`)
	c := pod.Spec.Containers[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"serviceAccountName from the deprecated field", pod.Spec.ServiceAccountName, "builder"},
		{"hostPort from containerPort on the host network", c.Ports[0].HostPort, int32(80)},
		{"pull policy of a digest", c.ImagePullPolicy, v1.PullIfNotPresent},
		{"env fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"grpc service", *c.StartupProbe.GRPC.Service, ""},
		{"preStop httpGet path", c.Lifecycle.PreStop.HTTPGet.Path, "/"},
		{"cpu rounded up to milli", c.Resources.Limits.Cpu().String(), "1m"},
		{"request from limit", c.Resources.Requests.Cpu().String(), "1m"},
		{"secret mode", *pod.Spec.Volumes[0].Secret.DefaultMode, int32(0o644)},
		{"configMap mode", *pod.Spec.Volumes[1].ConfigMap.DefaultMode, int32(0o644)},
		{"downwardAPI mode", *pod.Spec.Volumes[2].DownwardAPI.DefaultMode, int32(0o644)},
		{"downwardAPI apiVersion", pod.Spec.Volumes[2].DownwardAPI.Items[0].FieldRef.APIVersion, "v1"},
		{"empty volume is an emptyDir", pod.Spec.Volumes[3].EmptyDir != nil, true},
		{"an all-keys toleration covers both taints", len(pod.Spec.Tolerations), 1},
		{"Guaranteed needs cpu and memory", pod.Status.QOSClass, v1.PodQOSBurstable},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s: got %v, want %v", check.what, check.got, check.want)
		}
	}
}

func TestImageTag(t *testing.T) {
	tests := map[string]string{
		"busybox":                      "latest",
		"busybox:latest":               "latest",
		"busybox:1.36":                 "1.36",
		"localhost:5000/busybox":       "latest",
		"localhost:5000/busybox:v1":    "v1",
		"busybox@sha256:abc":           "",
		"busybox:1.36@sha256:abc":      "1.36",
		"docker.io/library/nginx:1.27": "1.27",
		"":                             "",
	}
	for image, want := range tests {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

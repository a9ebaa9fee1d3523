package core

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
)

func TestDiscovery(t *testing.T) {
	all := []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	tests := []struct {
		res          *registry.Resource
		kind         string
		name         string
		singular     string
		shortNames   []string
		namespaced   bool
		verbs        []string
		subresources []string
		newObj       runtime.Object
		newList      runtime.Object
	}{
		{Namespaces(), "Namespace", "namespaces", "namespace", []string{"ns"}, false,
			[]string{"create", "delete", "get", "list", "patch", "update", "watch"}, []string{"finalize", "status"},
			&corev1.Namespace{}, &corev1.NamespaceList{}},
		{Nodes(), "Node", "nodes", "node", []string{"no"}, false, all, []string{"status"}, &corev1.Node{}, &corev1.NodeList{}},
		{Events(), "Event", "events", "event", []string{"ev"}, true, all, nil, &corev1.Event{}, &corev1.EventList{}},
		{ConfigMaps(), "ConfigMap", "configmaps", "configmap", []string{"cm"}, true, all, nil, &corev1.ConfigMap{}, &corev1.ConfigMapList{}},
		{Secrets(), "Secret", "secrets", "secret", nil, true, all, nil, &corev1.Secret{}, &corev1.SecretList{}},
		{ServiceAccounts(), "ServiceAccount", "serviceaccounts", "serviceaccount", []string{"sa"}, true, all, nil,
			&corev1.ServiceAccount{}, &corev1.ServiceAccountList{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.res
			if r.GroupVersion.Group != "" || r.GroupVersion.Version != "v1" {
				t.Errorf("group version %v, want core v1", r.GroupVersion)
			}
			if r.Kind != tc.kind || r.Name != tc.name || r.SingularName != tc.singular {
				t.Errorf("kind/name/singular = %s/%s/%s", r.Kind, r.Name, r.SingularName)
			}
			if !reflect.DeepEqual(r.ShortNames, tc.shortNames) {
				t.Errorf("shortNames %v, want %v", r.ShortNames, tc.shortNames)
			}
			if len(r.Categories) != 0 {
				t.Errorf("categories %v, want none", r.Categories)
			}
			if r.Namespaced != tc.namespaced {
				t.Errorf("namespaced %v", r.Namespaced)
			}
			if !reflect.DeepEqual(r.Verbs, tc.verbs) {
				t.Errorf("verbs %v, want %v", r.Verbs, tc.verbs)
			}
			if !reflect.DeepEqual(r.Subresources, tc.subresources) {
				t.Errorf("subresources %v, want %v", r.Subresources, tc.subresources)
			}
			if reflect.TypeOf(r.New()) != reflect.TypeOf(tc.newObj) || reflect.TypeOf(r.NewList()) != reflect.TypeOf(tc.newList) {
				t.Errorf("New/NewList give %T/%T", r.New(), r.NewList())
			}
			// Every row must match the column count, whatever the object.
			cells, err := r.Strategy.TableRow(r.New())
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != len(r.Strategy.TableColumns()) {
				t.Errorf("%d cells for %d columns", len(cells), len(r.Strategy.TableColumns()))
			}
			if _, err := r.Strategy.TableRow(&corev1.Pod{}); err == nil {
				t.Error("TableRow accepted a Pod")
			}
		})
	}
}

func columnNames(cols []metav1.TableColumnDefinition) (names []string, wide []string) {
	for _, c := range cols {
		if c.Priority == 0 {
			names = append(names, c.Name)
		} else {
			wide = append(wide, c.Name)
		}
		if c.Description == "" {
			names = append(names, "<no description for "+c.Name+">")
		}
	}
	return names, wide
}

func TestTableColumns(t *testing.T) {
	tests := []struct {
		name     string
		strategy registry.Strategy
		columns  []string
		wide     []string
	}{
		{"namespaces", Namespaces().Strategy, []string{"Name", "Status", "Age"}, nil},
		{"nodes", Nodes().Strategy, []string{"Name", "Status", "Roles", "Age", "Version"},
			[]string{"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}},
		{"events", Events().Strategy, []string{"Last Seen", "Type", "Reason", "Object", "Message"},
			[]string{"Subobject", "Source", "First Seen", "Count", "Name"}},
		{"configmaps", ConfigMaps().Strategy, []string{"Name", "Data", "Age"}, nil},
		{"secrets", Secrets().Strategy, []string{"Name", "Type", "Data", "Age"}, nil},
		{"serviceaccounts", ServiceAccounts().Strategy, []string{"Name", "Secrets", "Age"}, nil},
	}
	for _, tc := range tests {
		names, wide := columnNames(tc.strategy.TableColumns())
		if !reflect.DeepEqual(names, tc.columns) || !reflect.DeepEqual(wide, tc.wide) {
			t.Errorf("%s: columns %v wide %v, want %v wide %v", tc.name, names, wide, tc.columns, tc.wide)
		}
	}
}

func TestTableRows(t *testing.T) {
	fiveDaysAgo := metav1.NewTime(time.Now().Add(-5 * 24 * time.Hour))
	ready := func(status corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: status}}
	}
	tests := []struct {
		name     string
		strategy registry.Strategy
		obj      runtime.Object
		want     []interface{}
	}{
		{"namespace active", Namespaces().Strategy,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "test1", CreationTimestamp: fiveDaysAgo}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			[]interface{}{"test1", "Active", "5d"}},
		{"namespace terminating", Namespaces().Strategy,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "test2"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			[]interface{}{"test2", "Terminating", "<unknown>"}},
		{"node ready", Nodes().Strategy,
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "foo1"}, Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue)}},
			[]interface{}{"foo1", "Ready", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"node ready and unschedulable", Nodes().Strategy,
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "foo2"}, Spec: corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue)}},
			[]interface{}{"foo2", "Ready,SchedulingDisabled", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"node not ready", Nodes().Strategy,
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "foo3"}, Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionFalse)}},
			[]interface{}{"foo3", "NotReady", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"node ready unknown", Nodes().Strategy,
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "foo4"}, Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionUnknown)}},
			[]interface{}{"foo4", "NotReady", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"node without conditions, cordoned", Nodes().Strategy,
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "foo5"}, Spec: corev1.NodeSpec{Unschedulable: true}},
			[]interface{}{"foo5", "Unknown,SchedulingDisabled", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"node roles and wide columns", Nodes().Strategy,
			&corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "foo6", CreationTimestamp: fiveDaysAgo, Labels: map[string]string{
					"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "true",
					"node-role.kubernetes.io/": "", "kubernetes.io/role": "node", "gpu": "true"}},
				Status: corev1.NodeStatus{
					Conditions: ready(corev1.ConditionTrue),
					Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "foo6"},
						{Type: corev1.NodeExternalIP, Address: "2.2.2.2"}, {Type: corev1.NodeInternalIP, Address: "1.1.1.1"},
						{Type: corev1.NodeInternalIP, Address: "1.1.1.2"}},
					NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.33.0+peapod", OSImage: "Debian GNU/Linux 12 (bookworm)",
						KernelVersion: "6.1.0-28-amd64", ContainerRuntimeVersion: "peapod://0.1.0"},
				}},
			[]interface{}{"foo6", "Ready", "control-plane,node,worker", "5d", "v1.33.0+peapod", "1.1.1.1", "2.2.2.2",
				"Debian GNU/Linux 12 (bookworm)", "6.1.0-28-amd64", "peapod://0.1.0"}},
		{"configmap counts data and binaryData", ConfigMaps().Strategy,
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm1", CreationTimestamp: fiveDaysAgo},
				Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {3}}},
			[]interface{}{"cm1", int64(3), "5d"}},
		{"secret", Secrets().Strategy,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1"}, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			[]interface{}{"s1", "kubernetes.io/tls", int64(2), "<unknown>"}},
		{"service account", ServiceAccounts().Strategy,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: fiveDaysAgo},
				Secrets: []corev1.ObjectReference{{Name: "a"}}},
			[]interface{}{"default", int64(1), "5d"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.strategy.TableRow(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestEventCells(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	daysAgo := func(d int) time.Time { return now.AddDate(0, 0, -d) }
	base := func(name string) corev1.Event {
		return corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name},
			Source:         corev1.EventSource{Component: "kubelet", Host: "Node1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "Deployment Name", FieldPath: "spec.containers{foo}"},
			Reason:         "Event Reason",
			Message:        "  Message Data\n",
			Type:           corev1.EventTypeWarning,
		}
	}
	tests := []struct {
		name   string
		modify func(*corev1.Event)
		want   []interface{}
	}{
		{"first and last timestamps", func(e *corev1.Event) {
			e.FirstTimestamp, e.LastTimestamp, e.Count = metav1.NewTime(daysAgo(3)), metav1.NewTime(daysAgo(2)), 6
		}, []interface{}{"2d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", int64(6), "e"}},
		{"eventTime stands in for first seen", func(e *corev1.Event) {
			e.EventTime, e.LastTimestamp, e.Count = metav1.NewMicroTime(daysAgo(3)), metav1.NewTime(daysAgo(2)), 1
		}, []interface{}{"2d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", int64(1), "e"}},
		{"no last timestamp: last seen is first seen", func(e *corev1.Event) {
			e.FirstTimestamp, e.Count = metav1.NewTime(daysAgo(3)), 1
		}, []interface{}{"3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", int64(1), "e"}},
		{"series gives last seen and count", func(e *corev1.Event) {
			e.EventTime = metav1.NewMicroTime(daysAgo(3))
			e.Series = &corev1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(daysAgo(2))}
		}, []interface{}{"2d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", int64(2), "e"}},
		{"singleton without count counts 1", func(e *corev1.Event) {
			e.EventTime = metav1.NewMicroTime(daysAgo(3))
		}, []interface{}{"3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", int64(1), "e"}},
		{"reporting fields stand in for source; nameless object", func(e *corev1.Event) {
			e.Source = corev1.EventSource{}
			e.ReportingController, e.ReportingInstance = "default-scheduler", "peapod-1"
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node"}
		}, []interface{}{"<unknown>", "Warning", "Event Reason", "node", "", "default-scheduler, peapod-1", "Message Data", "<unknown>", int64(1), "e"}},
		{"source without host", func(e *corev1.Event) {
			e.Source = corev1.EventSource{Component: "default-scheduler"}
			e.InvolvedObject = corev1.ObjectReference{Kind: "Pod", Name: "kubia"}
			e.FirstTimestamp, e.LastTimestamp, e.Count = metav1.NewTime(now.Add(-90*time.Second)), metav1.NewTime(now.Add(-90*time.Second)), 1
		}, []interface{}{"90s", "Warning", "Event Reason", "pod/kubia", "", "default-scheduler", "Message Data", "90s", int64(1), "e"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := base("e")
			tc.modify(&ev)
			if got := eventCells(&ev, now); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestSelectableFields(t *testing.T) {
	tests := []struct {
		name     string
		strategy registry.Strategy
		obj      runtime.Object
		want     map[string]string
	}{
		{"namespace", Namespaces().Strategy,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns1"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			map[string]string{"metadata.name": "ns1", "name": "ns1", "status.phase": "Active"}},
		{"node", Nodes().Strategy,
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Unschedulable: true}},
			map[string]string{"metadata.name": "n1", "spec.unschedulable": "true"}},
		{"secret", Secrets().Strategy,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: corev1.SecretTypeOpaque},
			map[string]string{"metadata.name": "s", "metadata.namespace": "default", "type": "Opaque"}},
		{"configmap", ConfigMaps().Strategy,
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}},
			map[string]string{"metadata.name": "c", "metadata.namespace": "default"}},
		{"event with reporting controller as source", Events().Strategy,
			&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "kubia", UID: "u1",
					APIVersion: "v1", ResourceVersion: "7", FieldPath: "spec.containers{kubia}"},
				Reason: "Pulled", Type: "Normal", ReportingController: "kubelet"},
			map[string]string{"metadata.name": "e", "metadata.namespace": "default",
				"involvedObject.kind": "Pod", "involvedObject.namespace": "default", "involvedObject.name": "kubia",
				"involvedObject.uid": "u1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "7",
				"involvedObject.fieldPath": "spec.containers{kubia}", "reason": "Pulled", "reportingComponent": "kubelet",
				"source": "kubelet", "type": "Normal"}},
	}
	for _, tc := range tests {
		if got := map[string]string(tc.strategy.SelectableFields(tc.obj)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: fields %v, want %v", tc.name, got, tc.want)
		}
	}
}

// errorSummary renders field errors as sorted "type path" pairs, enough to tell which rule fired (map
// iteration makes the order of errors about map keys random).
func errorSummary(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return out
}

func TestValidate(t *testing.T) {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "default"} }
	tooBig := strings.Repeat("x", maxDataSize/2+1)
	tests := []struct {
		name     string
		strategy registry.Strategy
		obj      runtime.Object
		want     []string
	}{
		{"namespace ok", Namespaces().Strategy, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"},
			Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes", "example.com/cleanup"}}}, nil},
		{"namespace name is a DNS label", Namespaces().Strategy, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a.b"}},
			[]string{"FieldValueInvalid metadata.name"}},
		{"namespace must not have a namespace", Namespaces().Strategy, &corev1.Namespace{ObjectMeta: meta("x")},
			[]string{"FieldValueForbidden metadata.namespace"}},
		{"namespace finalizer neither standard nor qualified", Namespaces().Strategy,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"cleanup"}}},
			[]string{"FieldValueInvalid spec.finalizers"}},

		{"configmap ok", ConfigMaps().Strategy, &corev1.ConfigMap{ObjectMeta: meta("c"), Data: map[string]string{"app.properties": "a=b", "-x_y.z": ""}}, nil},
		{"configmap key", ConfigMaps().Strategy, &corev1.ConfigMap{ObjectMeta: meta("c"), Data: map[string]string{"a/b": ""}},
			[]string{"FieldValueInvalid data[a/b]"}},
		{"configmap binary key and duplicate", ConfigMaps().Strategy,
			&corev1.ConfigMap{ObjectMeta: meta("c"), Data: map[string]string{"k": ""}, BinaryData: map[string][]byte{"k": nil, "..": nil}},
			[]string{"FieldValueInvalid binaryData[..]", "FieldValueInvalid data[k]"}},
		{"configmap over 1MiB", ConfigMaps().Strategy,
			&corev1.ConfigMap{ObjectMeta: meta("c"), Data: map[string]string{"a": tooBig}, BinaryData: map[string][]byte{"b": []byte(tooBig)}},
			// Kubernetes reports the whole object, printed as "[]".
			[]string{"FieldValueTooLong []"}},
		{"configmap needs a namespace", ConfigMaps().Strategy, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
			[]string{"FieldValueRequired metadata.namespace"}},

		{"secret opaque", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": nil}}, nil},
		{"secret key", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Data: map[string][]byte{"a b": nil}},
			[]string{"FieldValueInvalid data[a b]"}},
		{"secret over 1MiB", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Data: map[string][]byte{"a": []byte(tooBig), "b": []byte(tooBig)}},
			[]string{"FieldValueTooLong data"}},
		{"dockerconfigjson missing", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeDockerConfigJson},
			[]string{"FieldValueRequired data[.dockerconfigjson]"}},
		{"dockerconfigjson not json", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{".dockerconfigjson": []byte("{")}}, []string{"FieldValueInvalid data[.dockerconfigjson]"}},
		{"dockerconfigjson ok", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}}, nil},
		{"dockercfg missing", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeDockercfg},
			[]string{"FieldValueRequired data[.dockercfg]"}},
		{"basic-auth needs username or password", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeBasicAuth},
			[]string{"FieldValueRequired data[password]", "FieldValueRequired data[username]"}},
		{"basic-auth with an empty password", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeBasicAuth,
			Data: map[string][]byte{"password": nil}}, nil},
		{"ssh-auth", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeSSHAuth},
			[]string{"FieldValueRequired data[ssh-privatekey]"}},
		{"tls", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeTLS},
			[]string{"FieldValueRequired data[tls.crt]", "FieldValueRequired data[tls.key]"}},
		{"service account token", Secrets().Strategy, &corev1.Secret{ObjectMeta: meta("s"), Type: corev1.SecretTypeServiceAccountToken},
			[]string{"FieldValueRequired metadata.annotations[kubernetes.io/service-account.name]"}},

		{"service account name", ServiceAccounts().Strategy, &corev1.ServiceAccount{ObjectMeta: meta("Default")},
			[]string{"FieldValueInvalid metadata.name"}},

		{"node ok", Nodes().Strategy, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1.example.com"},
			Spec: corev1.NodeSpec{PodCIDRs: []string{"10.42.0.0/24", "fd00::/64"},
				Taints: []corev1.Taint{{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}, {Key: "gpu", Effect: corev1.TaintEffectNoExecute}}},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("2"), "pods": resource.MustParse("110"),
				"memory": resource.MustParse("4Gi")}}}, nil},
		{"node taints", Nodes().Strategy, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{
				{Key: "a", Effect: corev1.TaintEffectNoSchedule}, {Key: "a", Effect: corev1.TaintEffectNoSchedule},
				{Key: "b", Effect: "Sometimes"}, {Key: "c"}, {Key: "d_", Value: "x y", Effect: corev1.TaintEffectNoSchedule}}}},
			[]string{"FieldValueDuplicate metadata.taints[1]", "FieldValueInvalid metadata.taints[4].key",
				"FieldValueInvalid metadata.taints[4].value", "FieldValueNotSupported metadata.taints[2].effect",
				"FieldValueRequired metadata.taints[3].effect"}},
		{"node pod CIDRs", Nodes().Strategy, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"},
			Spec: corev1.NodeSpec{PodCIDRs: []string{"10.42.0.0/24", "10.43.0.0/24"}}},
			[]string{"FieldValueInvalid spec.podCIDRs"}},
		{"node bad CIDR", Nodes().Strategy, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"},
			Spec: corev1.NodeSpec{PodCIDRs: []string{"10.42.0.0"}}},
			[]string{"FieldValueInvalid spec.podCIDRs[0]"}},
		{"node resources", Nodes().Strategy, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"pods": resource.MustParse("1500m")},
				Allocatable: corev1.ResourceList{"memory": resource.MustParse("-1"), "example.com/gpu": resource.MustParse("0.5")}}},
			[]string{"FieldValueInvalid status.allocatable.example.com/gpu", "FieldValueInvalid status.allocatable.memory",
				"FieldValueInvalid status.capacity.pods"}},

		{"event ok", Events().Strategy, &corev1.Event{ObjectMeta: meta("kubia.17a3b1c2d3e4f5a6"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "kubia"}}, nil},
		{"event about a node in default", Events().Strategy, &corev1.Event{ObjectMeta: meta("n1.1"),
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, nil},
		{"event namespace mismatch", Events().Strategy, &corev1.Event{ObjectMeta: meta("e"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "other", Name: "p"}},
			[]string{"FieldValueInvalid involvedObject.namespace"}},
		{"event name is a path segment", Events().Strategy, &corev1.Event{ObjectMeta: meta("a%b"),
			InvolvedObject: corev1.ObjectReference{Namespace: "default"}}, []string{"FieldValueInvalid metadata.name"}},
		{"new-style event needs reporter, action and reason", Events().Strategy, &corev1.Event{ObjectMeta: meta("e"),
			EventTime: metav1.NewMicroTime(time.Now()), InvolvedObject: corev1.ObjectReference{Namespace: "default"}},
			// An empty qualified name breaks two rules, as in Kubernetes.
			[]string{"FieldValueInvalid reportingComponent", "FieldValueInvalid reportingComponent",
				"FieldValueRequired action", "FieldValueRequired reason", "FieldValueRequired reportingComponent",
				"FieldValueRequired reportingInstance"}},
		{"new-style event ok", Events().Strategy, &corev1.Event{ObjectMeta: meta("e"), EventTime: metav1.NewMicroTime(time.Now()),
			InvolvedObject: corev1.ObjectReference{Namespace: "default"}, ReportingController: "peapod.dev/agent",
			ReportingInstance: "agent-node1", Action: "Binding", Reason: "Scheduled", Message: strings.Repeat("m", 1024)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := errorSummary(tc.strategy.Validate(context.Background(), tc.obj))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

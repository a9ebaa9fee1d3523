package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHostsFile(t *testing.T) {
	aliases := []corev1.HostAlias{{IP: "127.0.0.1", Hostnames: []string{"foo.local", "bar.local"}}, {IP: "10.1.2.3", Hostnames: []string{"foo.remote"}}}
	got := string(hostsFile([]string{"10.42.0.5"}, "hostaliases-pod", "", aliases))
	want := "# Kubernetes-managed hosts file.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n" +
		"10.42.0.5\thostaliases-pod\n" +
		"\n" +
		"# Entries added by HostAliases.\n" +
		"127.0.0.1\tfoo.local\tbar.local\n" +
		"10.1.2.3\tfoo.remote\n"
	if got != want {
		t.Errorf("hosts file\n%s\nwant\n%s", got, want)
	}
	if got := string(hostsFile([]string{"10.42.0.5"}, "web-0", "nginx.default.svc.cluster.local", nil)); got[len(got)-len("10.42.0.5\tweb-0.nginx.default.svc.cluster.local\tweb-0\n"):] != "10.42.0.5\tweb-0.nginx.default.svc.cluster.local\tweb-0\n" {
		t.Errorf("with subdomain:\n%s", got)
	}
	if got := string(hostNetworkHostsFile([]byte("127.0.0.1 localhost\n"), nil)); got != "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n" {
		t.Errorf("host network: %q", got)
	}
}

func TestPodHostname(t *testing.T) {
	long := "a123456789b123456789c123456789d123456789e123456789f123456789g1-xyz"
	for _, tc := range []struct {
		pod          corev1.Pod
		host, domain string
	}{
		{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kubia", Namespace: "default"}}, "kubia", ""},
		{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Hostname: "h", Subdomain: "s"}}, "h", "s.ns.svc.cluster.local"},
		{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: long, Namespace: "default"}}, long[:62], ""},
	} {
		host, domain := podHostname(&tc.pod)
		if host != tc.host || domain != tc.domain {
			t.Errorf("podHostname(%s) = %q %q, want %q %q", tc.pod.Name, host, domain, tc.host, tc.domain)
		}
	}
}

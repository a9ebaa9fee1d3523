// Package version says which peapod this is and which Kubernetes API version it serves.
package version

import (
	"fmt"
	"runtime"

	apiversion "k8s.io/apimachinery/pkg/version"
)

// Peapod is peapod's own version, set at build time with -ldflags "-X .../internal/version.Peapod=...".
var Peapod = "0.1.0-dev"

// Kubernetes API level served. The minor decides which kubectl the kubectl dispatcher picks (27..33).
const (
	kubeMajor = "1"
	kubeMinor = "33"
)

// Get returns the /version answer: a semver gitVersion with the Kubernetes minor and peapod as build metadata.
func Get() apiversion.Info {
	return apiversion.Info{
		Major:      kubeMajor,
		Minor:      kubeMinor,
		GitVersion: fmt.Sprintf("v%s.%s.0+peapod-%s", kubeMajor, kubeMinor, Peapod),
		GitCommit:  "",
		BuildDate:  "",
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
}

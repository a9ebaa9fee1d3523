// Package deps pins the dependencies the team is about to use while the packages using them are written.
// Delete it once every import below is used elsewhere.
package deps

import (
	_ "github.com/google/gnostic-models/openapiv2"
	_ "github.com/google/gnostic-models/openapiv3"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/spf13/cobra"
	_ "go.etcd.io/bbolt"
	_ "gopkg.in/evanphx/json-patch.v4"
	_ "k8s.io/api/coordination/v1"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/api/equality"
	_ "k8s.io/apimachinery/pkg/runtime/serializer"
	_ "k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	_ "k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	_ "k8s.io/apimachinery/pkg/util/managedfields"
	_ "k8s.io/apimachinery/pkg/util/mergepatch"
	_ "k8s.io/apimachinery/pkg/util/strategicpatch"
	_ "k8s.io/client-go/informers"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/tools/cache"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/component-base/version"
	_ "k8s.io/kube-openapi/pkg/builder"
	_ "k8s.io/kube-openapi/pkg/builder3"
	_ "k8s.io/kube-openapi/pkg/common"
	_ "k8s.io/kube-openapi/pkg/handler"
	_ "k8s.io/kube-openapi/pkg/handler3"
	_ "k8s.io/kube-openapi/pkg/validation/spec"
)

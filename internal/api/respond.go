package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/munnerz/goautoneg"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// outputKind is the representation a client asked for in Accept.
type outputKind int

const (
	outputObject      outputKind = iota // the object or its typed list
	outputTable                         // meta.k8s.io Table
	outputPartial                       // meta.k8s.io PartialObjectMetadata (single object)
	outputPartialList                   // meta.k8s.io PartialObjectMetadataList
)

// output is the negotiated response form.
type output struct {
	kind          outputKind
	metaVersion   schema.GroupVersion // meta.k8s.io/v1 or v1beta1 for Table and PartialObjectMetadata
	includeObject metav1.IncludeObjectPolicy
	pretty        bool
	// protobuf: the client prefers Kubernetes protobuf, which single objects are answered in (lists, tables
	// and watch events stay JSON, which such clients accept as well).
	protobuf bool
}

// target is what a response carries: one object, a collection, or a stream of watch events (each one
// object, though clients may ask for either PartialObjectMetadata form).
type target int

const (
	targetObject target = iota
	targetList
	targetWatch
)

// negotiateOutput reads Accept the way kube-apiserver does: the first acceptable clause (by q, then
// order) decides. A Table or PartialObjectMetadata transform applies when asked for with group
// meta.k8s.io; protobuf is honoured for single objects, JSON is the encoding otherwise.
func negotiateOutput(r *http.Request, t target) (output, error) {
	out := output{pretty: isPrettyPrint(r), includeObject: metav1.IncludeMetadata}
	if v := r.URL.Query().Get("includeObject"); v != "" {
		switch p := metav1.IncludeObjectPolicy(v); p {
		case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
			out.includeObject = p
		default:
			return out, apierrors.NewBadRequest(fmt.Sprintf("unrecognized includeObject value: %q", v))
		}
	}
	header := r.Header.Get("Accept")
	if header == "" {
		return out, nil
	}
	for _, clause := range goautoneg.ParseAccept(header) {
		if !encodable(clause.Type, clause.SubType) {
			continue
		}
		as := clause.Params["as"]
		if as == "" {
			out.protobuf = clause.Type+"/"+clause.SubType == runtime.ContentTypeProtobuf
			return out, nil
		}
		if clause.Params["g"] != metav1.GroupName {
			continue
		}
		version := clause.Params["v"]
		if version != "v1" && version != "v1beta1" {
			continue
		}
		out.metaVersion = schema.GroupVersion{Group: metav1.GroupName, Version: version}
		switch {
		case as == "Table":
			out.kind = outputTable
		case as == "PartialObjectMetadata" && t != targetList,
			as == "PartialObjectMetadataList" && t == targetWatch:
			out.kind = outputPartial
		case as == "PartialObjectMetadataList" && t == targetList:
			out.kind = outputPartialList
		default:
			continue
		}
		return out, nil
	}
	// kube-apiserver answers 406 here; serving plain JSON keeps odd clients working and is what they get
	// from the trailing application/json clause every Kubernetes client sends anyway.
	return out, nil
}

// encodable says whether a media range can be answered with JSON (the only response encoding).
func encodable(typ, subtype string) bool {
	switch typ + "/" + subtype {
	case "*/*", "application/*", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf":
		return true
	}
	return false
}

// isPrettyPrint follows kube-apiserver: ?pretty, else browsers and command-line HTTP tools get indentation.
func isPrettyPrint(r *http.Request) bool {
	if strings.Contains(r.URL.RawQuery, "pretty") {
		if v := r.URL.Query().Get("pretty"); v != "" {
			pretty, _ := strconv.ParseBool(v)
			return pretty
		}
	}
	ua := r.UserAgent()
	return strings.HasPrefix(ua, "curl") || strings.HasPrefix(ua, "Wget") || strings.HasPrefix(ua, "Mozilla/5.0")
}

// writeJSON writes v as JSON with the Content-Type every Kubernetes client relies on.
func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, apierrors.NewInternalError(fmt.Errorf("encode response: %w", err)))
		return
	}
	writeRawJSON(w, r, code, data)
}

// writeRawJSON writes already-encoded JSON, indenting it when the client asked for pretty output.
func writeRawJSON(w http.ResponseWriter, r *http.Request, code int, data []byte) {
	if isPrettyPrint(r) {
		var buf bytes.Buffer
		if json.Indent(&buf, data, "", "  ") == nil {
			data = buf.Bytes()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(data)
	_, _ = w.Write([]byte{'\n'})
}

// writeError writes err as a metav1.Status exactly as kube-apiserver does; errors that are not API
// errors become 500 InternalError.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := errorStatus(err)
	writeJSON(w, r, int(status.Code), status)
}

func errorStatus(err error) *metav1.Status {
	var status metav1.Status
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		status = apiStatus.Status()
	} else {
		status = apierrors.NewInternalError(err).ErrStatus
	}
	status.Kind, status.APIVersion = "Status", "v1"
	if status.Status == "" {
		status.Status = metav1.StatusFailure
	}
	if status.Code == 0 {
		status.Code = http.StatusInternalServerError
	}
	return &status
}

// addWarnings sends each warning as a `Warning: 299 - "text"` header, which kubectl prints.
func addWarnings(w http.ResponseWriter, warnings []string) {
	seen := map[string]bool{}
	for _, text := range warnings {
		if text == "" || seen[text] {
			continue
		}
		seen[text] = true
		if header, err := utilnet.NewWarningHeader(299, "-", text); err == nil {
			w.Header().Add("Warning", header)
		}
	}
}

func encodeStatus(status *metav1.Status) ([]byte, error) {
	return json.Marshal(status)
}

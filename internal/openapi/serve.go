package openapi

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/munnerz/goautoneg"
)

// format is one representation of a document: the Accept subtype that selects it and the Content-Type served.
type format struct {
	subType     string // "json", "com.github.proto-openapi.spec.v2@v1.0+protobuf" ...
	contentType string
	proto       bool
}

// v2Formats are the representations of /openapi/v2 in kube-apiserver's order of preference; both protobuf
// spellings answer with the current one.
func v2Formats() []format {
	const proto = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	return []format{
		{"json", "application/json", false},
		{"com.github.proto-openapi.spec.v2@v1.0+protobuf", proto, true},
		{"com.github.proto-openapi.spec.v2.v1.0+protobuf", proto, true},
	}
}

// v3Formats are the representations of a v3 group version document.
func v3Formats() []format {
	const proto = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	return []format{
		{"json", "application/json", false},
		{"com.github.proto-openapi.spec.v3.v1.0+protobuf", proto, true},
		{"com.github.proto-openapi.spec.v3@v1.0+protobuf", proto, true},
	}
}

// jsonOnly is the one representation of the v3 index.
func jsonOnly() []format { return v3Formats()[:1] }

// negotiate picks the format for an Accept header the way kube-openapi's handlers do: the first format
// matching the most preferred clause. ok is false when nothing matches (406).
func negotiate(accept string, formats []format) (format, bool) {
	if accept == "" {
		accept = "*/*"
	}
	for _, clause := range goautoneg.ParseAccept(accept) {
		for _, f := range formats {
			if (clause.Type == "application" || clause.Type == "*") && (clause.SubType == f.subType || clause.SubType == "*") {
				return f, true
			}
		}
	}
	return format{}, false
}

// serialized is a document's bytes, kept instead of the spec structures they were made from.
type serialized struct {
	json     []byte
	etag     string // hex SHA-512 of json, as kube-apiserver computes it; protobuf shares it (Vary: Accept)
	modified time.Time

	toProto   func(json []byte) ([]byte, error)
	protoOnce sync.Once
	proto     []byte
	protoErr  error
}

func newSerialized(json []byte, toProto func([]byte) ([]byte, error)) *serialized {
	return &serialized{json: json, etag: fmt.Sprintf("%X", sha512.Sum512(json)), modified: time.Now(), toProto: toProto}
}

// bytes returns the document in format f, converting it to protobuf on first demand.
func (s *serialized) bytes(f format) ([]byte, error) {
	if !f.proto {
		return s.json, nil
	}
	s.protoOnce.Do(func() {
		s.proto, s.protoErr = s.toProto(s.json)
		if s.protoErr != nil {
			s.protoErr = fmt.Errorf("convert OpenAPI document to protobuf: %w", s.protoErr)
		}
	})
	return s.proto, s.protoErr
}

// serve writes s in the format the request accepts. ServeContent answers If-None-Match and HEAD.
func (s *serialized) serve(w http.ResponseWriter, r *http.Request, formats []format) {
	w.Header().Add("Vary", "Accept")
	f, ok := negotiate(r.Header.Get("Accept"), formats)
	if !ok {
		http.Error(w, "no acceptable OpenAPI format", http.StatusNotAcceptable)
		return
	}
	data, err := s.bytes(f)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Etag", strconv.Quote(s.etag))
	http.ServeContent(w, r, "", s.modified, bytes.NewReader(data))
}

// serveImmutable serves a v3 group version document addressed as the index lists it: a stale hash is
// redirected to the current one, a current hash may be cached for good (as kube-apiserver does).
func (s *serialized) serveImmutable(w http.ResponseWriter, r *http.Request, gv string) {
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != s.etag {
			http.Redirect(w, r, serverRelativeURL(gv, s.etag), http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).Format(time.RFC1123))
	}
	s.serve(w, r, v3Formats())
}

// serverRelativeURL is the address of a v3 group version document in the index: /openapi/v3/api/v1?hash=...
func serverRelativeURL(gv, etag string) string {
	u := url.URL{Path: V3Path + "/" + gv, RawQuery: url.Values{"hash": {etag}}.Encode()}
	return u.String()
}

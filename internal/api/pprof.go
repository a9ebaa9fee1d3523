package api

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// servePprof serves Go's profiles under /debug/pprof/ (index, profile, trace, symbol, cmdline and the
// named profiles such as heap and goroutine).
func servePprof(w http.ResponseWriter, r *http.Request) {
	switch name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/"); name {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r) // also serves /debug/pprof/<named profile>
	}
}

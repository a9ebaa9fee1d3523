package agent

import (
	"slices"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"VAR_A": "a", "VAR_B": "b", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	// Cases from Kubernetes' expansion tests.
	for _, tc := range []struct{ in, want string }{
		{"$(VAR_A)", "a"},
		{"___$(VAR_B)___", "___b___"},
		{"$(VAR_A)-$(VAR_B)", "a-b"},
		{"$(EMPTY)", ""},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(VAR_A)", "$(VAR_A)"},
		{"$$$(VAR_A)", "$a"},
		{"$$$$(VAR_A)", "$$(VAR_A)"},
		{"$(VAR_A", "$(VAR_A"},
		{"$VAR_A", "$VAR_A"},
		{"$", "$"},
		{"a$", "a$"},
		{"$()", "$()"},
		{"no vars", "no vars"},
	} {
		if got := expand(tc.in, lookup); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestContainerArgs(t *testing.T) {
	lookup := func(k string) (string, bool) { return map[string]string{"MSG": "hi"}[k], k == "MSG" }
	entrypoint, cmd := []string{"/entry"}, []string{"default-arg"}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/entry", "default-arg"}},
		{"args replace cmd", nil, []string{"echo", "$(MSG)"}, []string{"/entry", "echo", "hi"}},
		{"command drops cmd", []string{"sh", "-c"}, nil, []string{"sh", "-c"}},
		{"command and args", []string{"sh", "-c"}, []string{"echo $(MSG)"}, []string{"sh", "-c", "echo hi"}},
	} {
		if got := containerArgs(tc.command, tc.args, entrypoint, cmd, lookup); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

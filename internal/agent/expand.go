package agent

import "strings"

// expand replaces $(VAR) references in s with lookup's value, as Kubernetes expands command, args and env
// values: "$$" is a literal "$", a reference lookup does not know stays as written, and a lone "$" or an
// unterminated "$(" is kept.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if value, ok := lookup(name); ok {
				b.WriteString(value)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// containerArgs applies Kubernetes' rules for command and args against the image's entrypoint and cmd:
// command replaces the entrypoint and drops the image's cmd; args alone replace only the cmd. Both are
// expanded against the container's environment.
func containerArgs(command, args, imageEntrypoint, imageCmd []string, lookup func(string) (string, bool)) []string {
	var out []string
	switch {
	case len(command) > 0:
		out = append(append(out, expandAll(command, lookup)...), expandAll(args, lookup)...)
	case len(args) > 0:
		out = append(append(out, imageEntrypoint...), expandAll(args, lookup)...)
	default:
		out = append(append(out, imageEntrypoint...), imageCmd...)
	}
	return out
}

func expandAll(values []string, lookup func(string) (string, bool)) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = expand(v, lookup)
	}
	return out
}

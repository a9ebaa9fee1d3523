package fields

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// NotSupportedMessage is the detail of the Forbidden error for a refused field; kubectl prints it as
// `The Pod "x" is invalid: spec.ephemeralContainers: Forbidden: not supported by peapod yet`.
const NotSupportedMessage = "not supported by peapod yet"

const corePkg = "k8s.io/api/core/v1"

// step is one JSON field of a core/v1 struct, with inline structs flattened into their parent.
type step struct {
	index []int  // for reflect.Value.FieldByIndex
	owner string // the core/v1 type that declares the field (the inline type for flattened fields)
	name  string // JSON name
	typ   reflect.Type
	rule  *Field // nil when the table misses the field: refused, and the coverage test fails
}

// occurrence is where a type is reached: "Container.livenessProbe", or "Volume (inline)".
type occurrence struct {
	typ   string
	where string
}

// plan is the table resolved against the Go types reachable from PodSpec through supported fields.
type plan struct {
	steps map[reflect.Type][]step
	// order lists every reached type (inline ones included) in the order a reader meets them, and
	// usedBy where each is reached, for docs/pod-fields.md.
	order  []string
	usedBy map[string][]string
	// used records which table entries some step resolved, so the test can find stale entries.
	used map[*Field]bool
}

// support is built once from the constant table and only read afterwards.
var support = newPlan(Table())

type ruleKey struct{ typ, name string }

func newPlan(table []Field) *plan {
	rules := make(map[ruleKey]*Field, len(table))
	for i := range table {
		rules[ruleKey{table[i].Type, table[i].Name}] = &table[i]
	}
	p := &plan{steps: map[reflect.Type][]step{}, usedBy: map[string][]string{}, used: map[*Field]bool{}}
	seen := map[string]bool{}
	var visit func(t reflect.Type, from occurrence)
	visit = func(t reflect.Type, from occurrence) {
		t = elemType(t)
		if t.Kind() != reflect.Struct || t.PkgPath() != corePkg {
			return
		}
		p.noteUse(t.Name(), from, seen)
		if _, done := p.steps[t]; done {
			return
		}
		steps := flatten(t, nil, func(inline reflect.Type) {
			p.noteUse(inline.Name(), occurrence{typ: t.Name(), where: t.Name() + " (inline)"}, seen)
		})
		p.steps[t] = steps
		for i := range steps {
			s := &steps[i]
			s.rule = rules[ruleKey{s.owner, s.name}]
			if s.rule != nil {
				p.used[s.rule] = true
			}
			if s.rule != nil && s.rule.Status == Supported {
				visit(s.typ, occurrence{typ: s.owner, where: s.owner + "." + s.name})
			}
		}
	}
	visit(reflect.TypeOf(v1.PodSpec{}), occurrence{where: "Pod.spec"})
	return p
}

func (p *plan) noteUse(typ string, from occurrence, seen map[string]bool) {
	if !seen[typ] {
		seen[typ] = true
		p.order = append(p.order, typ)
	}
	for _, w := range p.usedBy[typ] {
		if w == from.where {
			return
		}
	}
	p.usedBy[typ] = append(p.usedBy[typ], from.where)
}

// flatten lists t's JSON fields in declaration order; anonymous inline structs contribute their own
// fields, reported to onInline.
func flatten(t reflect.Type, prefix []int, onInline func(reflect.Type)) []step {
	var out []step
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		index := append(append([]int(nil), prefix...), i)
		if f.Anonymous && strings.Contains(opts, "inline") {
			onInline(f.Type)
			out = append(out, flatten(f.Type, index, onInline)...)
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		out = append(out, step{index: index, owner: t.Name(), name: name, typ: f.Type})
	}
	return out
}

func elemType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	return t
}

// Unsupported returns a Forbidden error for every field of spec that is set and not supported by
// peapod, at its concrete path under specPath (e.g. spec.initContainers[1].resizePolicy). Fields whose
// value is Kubernetes' default behaviour (the table's Accept values) pass.
func Unsupported(spec *v1.PodSpec, specPath *field.Path) field.ErrorList {
	return support.check(reflect.ValueOf(spec), specPath, nil)
}

func (p *plan) check(v reflect.Value, path *field.Path, errs field.ErrorList) field.ErrorList {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return errs
		}
		return p.check(v.Elem(), path, errs)
	case reflect.Slice, reflect.Array:
		if !p.mayHold(v.Type().Elem()) {
			return errs
		}
		for i := 0; i < v.Len(); i++ {
			errs = p.check(v.Index(i), path.Index(i), errs)
		}
	case reflect.Map:
		if !p.mayHold(v.Type().Elem()) {
			return errs
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			errs = p.check(v.MapIndex(k), path.Key(fmt.Sprint(k)), errs)
		}
	case reflect.Struct:
		for _, s := range p.steps[v.Type()] {
			fv := v.FieldByIndex(s.index)
			if fv.IsZero() {
				continue
			}
			fp := path.Child(s.name)
			if s.rule != nil && s.rule.Status == Supported {
				errs = p.check(fv, fp, errs)
				continue
			}
			if s.rule != nil && accepts(s.rule.Accept, fv) {
				continue
			}
			errs = append(errs, field.Forbidden(fp, NotSupportedMessage))
		}
	}
	return errs
}

// mayHold says whether values of t can contain a struct the plan checks, to skip string lists and
// resource maps cheaply.
func (p *plan) mayHold(t reflect.Type) bool {
	_, ok := p.steps[elemType(t)]
	return ok
}

func accepts(accept []any, v reflect.Value) bool {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	for _, a := range accept {
		if reflect.DeepEqual(v.Interface(), a) {
			return true
		}
	}
	return false
}

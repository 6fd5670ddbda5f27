// Package filter evaluates LXD's ?filter= expressions on API objects:
// "name eq c1 and status eq Running", "config.user.team ne ops or not
// ephemeral eq true". Fields are the object's JSON fields, with dots
// descending into maps (config.* keys keep their own dots).
package filter

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// clause is "[not] field op value".
type clause struct {
	not       bool
	field, op string
	value     string
}

// Expr is a parsed filter: clauses joined by and/or, and binding tighter.
type Expr struct {
	any [][]clause // OR of ANDs
}

// Parse reads a filter expression; an empty one matches everything.
func Parse(s string) (*Expr, error) {
	words, err := split(s)
	if err != nil {
		return nil, err
	}
	e := &Expr{}
	if len(words) == 0 {
		return e, nil
	}
	var group []clause
	for i := 0; i < len(words); {
		c := clause{}
		if strings.EqualFold(words[i], "not") {
			c.not = true
			i++
		}
		if i+2 >= len(words) {
			return nil, fmt.Errorf("filter %q: incomplete clause (want FIELD eq|ne VALUE)", s)
		}
		c.field, c.op, c.value = words[i], strings.ToLower(words[i+1]), words[i+2]
		if c.op != "eq" && c.op != "ne" {
			return nil, fmt.Errorf("filter %q: operator %q is not eq or ne", s, c.op)
		}
		group = append(group, c)
		i += 3
		if i == len(words) {
			break
		}
		switch strings.ToLower(words[i]) {
		case "and":
		case "or":
			e.any = append(e.any, group)
			group = nil
		default:
			return nil, fmt.Errorf("filter %q: expected and/or, got %q", s, words[i])
		}
		i++
		if i == len(words) {
			return nil, fmt.Errorf("filter %q ends with a conjunction", s)
		}
	}
	e.any = append(e.any, group)
	return e, nil
}

// split cuts on spaces, keeping quoted values whole.
func split(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quote := rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
		case quote == 0 && r == ' ':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("filter %q: unterminated quote", s)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out, nil
}

// Match says whether obj (any JSON-encodable value) passes the filter.
func (e *Expr) Match(obj any) bool {
	if len(e.any) == 0 {
		return true
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return false
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	for _, group := range e.any {
		ok := true
		for _, c := range group {
			if !c.match(m) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c clause) match(m map[string]any) bool {
	v, found := lookup(m, c.field)
	equal := found && valueMatches(v, c.value)
	if c.op == "ne" {
		equal = !equal
	}
	return equal != c.not
}

// lookup descends "a.b.c", trying the longest key at each level, since
// config keys contain dots.
func lookup(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	parts := strings.Split(path, ".")
	for i := len(parts) - 1; i >= 1; i-- {
		head := strings.Join(parts[:i], ".")
		if sub, ok := m[head].(map[string]any); ok {
			return lookup(sub, strings.Join(parts[i:], "."))
		}
	}
	return nil, false
}

func valueMatches(v any, want string) bool {
	var got string
	switch x := v.(type) {
	case string:
		got = x
	case nil:
		got = ""
	default:
		b, _ := json.Marshal(x)
		got = string(b)
	}
	if got == want || strings.EqualFold(got, want) {
		return true
	}
	// LXD treats values as regular expressions when they are valid ones.
	if re, err := regexp.Compile("^(?:" + want + ")$"); err == nil {
		return re.MatchString(got)
	}
	return false
}

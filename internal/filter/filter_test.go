package filter

import "testing"

type inst struct {
	Name   string            `json:"name"`
	Status string            `json:"status"`
	Config map[string]string `json:"config"`
	Eph    bool              `json:"ephemeral"`
}

func TestMatch(t *testing.T) {
	a := inst{Name: "web1", Status: "Running", Config: map[string]string{"user.team": "ops", "image.os": "Debian"}}
	b := inst{Name: "db", Status: "Stopped", Config: map[string]string{}, Eph: true}
	cases := map[string][2]bool{
		"":                                      {true, true},
		"name eq web1":                          {true, false},
		"status eq running":                     {true, false},
		"name eq web.* and status eq Running":   {true, false},
		"name eq db or config.user.team eq ops": {true, true},
		"not name eq web1":                      {false, true},
		"ephemeral eq true":                     {false, true},
		"config.image.os eq Debian":             {true, false},
		"config.user.team ne ops":               {false, true},
		`name eq "db"`:                          {false, true},
	}
	for expr, want := range cases {
		e, err := Parse(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		if e.Match(a) != want[0] || e.Match(b) != want[1] {
			t.Errorf("%q: got %v/%v, want %v", expr, e.Match(a), e.Match(b), want)
		}
	}
	for _, bad := range []string{"name", "name eq", "name gt 3", "name eq a and", "name eq 'x", "name eq a xor b eq c"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

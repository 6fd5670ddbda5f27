package proxy

import "testing"

func TestParseEndpoint(t *testing.T) {
	e, err := ParseEndpoint("tcp:127.0.0.1:8080")
	if err != nil || e.Proto != "tcp" || e.Port() != 8080 || e.Host() != "127.0.0.1" {
		t.Fatalf("%+v %v", e, err)
	}
	if e, err := ParseEndpoint("udp:[::1]:53"); err != nil || e.Host() != "::1" {
		t.Fatalf("%+v %v", e, err)
	}
	for _, bad := range []string{"tcp:localhost:80", "tcp:1.2.3.4", "sctp:1.2.3.4:5", "tcp:1.2.3.4:70000", "unix:/run/x.sock"} {
		if _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

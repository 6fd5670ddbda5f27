package project

import "testing"

func TestNamesOfTheDefaultProjectStayBare(t *testing.T) {
	for _, p := range []string{"", Default} {
		if StoreKey(p, "c1") != "c1" || HostName(p, "c1") != "c1" || URL(p, "/1.0/instances/c1") != "/1.0/instances/c1" {
			t.Fatalf("project %q renames its objects", p)
		}
	}
}

func TestOtherProjectsNeverMeetTheDefault(t *testing.T) {
	if got := StoreKey("web", "c1"); got != "web:c1" {
		t.Fatalf("store key: %s", got)
	}
	if got := HostName("web", "c1"); got != "web_c1" {
		t.Fatalf("host name: %s", got)
	}
	if got := URL("web", "/1.0/instances/c1"); got != "/1.0/instances/c1?project=web" {
		t.Fatalf("url: %s", got)
	}
}

func TestKeysAndHostNamesRoundTrip(t *testing.T) {
	for _, c := range []struct{ p, name string }{{Default, "c1"}, {"web", "c1"}, {"a-b", "x-y"}} {
		key := StoreKey(c.p, c.name)
		if p, n := SplitKey(key); p != c.p || n != c.name {
			t.Errorf("SplitKey(%q) = %s, %s", key, p, n)
		}
		if h := HostOfKey(key); h != HostName(c.p, c.name) || KeyOfHost(h) != key {
			t.Errorf("host name of %q: %q, back to %q", key, h, KeyOfHost(h))
		}
	}
}

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

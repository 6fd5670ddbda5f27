package test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
)

// TestNetworkACLs drives network ACLs on a bridge (network_acl,
// network_bridge_acl) with lxc 5.0.2 and lodge: the outside reaches the
// ports an ACL allows and no other, the instance reaches out only once
// egress is allowed, drop beats allow, DHCP works through it all, and the
// rules survive a daemon restart and go with security.acls.
func TestNetworkACLs(t *testing.T) {
	d, outside := startDaemonInNetns(t)
	nsRun(t, outside, "ip", "route", "add", "10.58.0.0/24", "via", "198.51.100.1")
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")

	d.MustLXC("network", "acl", "create", "web")
	d.MustLXC("network", "acl", "rule", "add", "web", "ingress", "action=allow", "protocol=tcp", "destination_port=80")
	br := uniq("abr")
	d.MustLodge("network", "create", br, "ipv4.address=10.58.0.1/24", "ipv4.nat=false", "security.acls=web")
	name := uniq("acl")
	launchOnNetwork(t, d, "busybox", name, br, "ipv4.address=10.58.0.7")
	ipv4Of(t, d, name) // DHCP through the ACL's baseline
	serveName(t, d, name, 80)
	serveName(t, d, name, 8080)
	waitFor(t, "the outside to reach the allowed port", 10*time.Second, func() bool {
		return answerFrom(d, outside, "", "10.58.0.7", 80) == name
	})
	if got := answerFrom(d, outside, "", "10.58.0.7", 8080); got != "" {
		t.Fatalf("a port no rule allows answered: %q", got)
	}
	if out := d.MustLXC("network", "acl", "show", "web"); !strings.Contains(out, "/1.0/networks/"+br) {
		t.Fatalf("used_by lacks the network:\n%s", out)
	}
	// A PATCH merges: the rules stay.
	if code, env := d.API("PATCH", "/1.0/network-acls/web", map[string]any{"description": "patched", "config": map[string]string{"user.k": "v"}}); code != http.StatusOK {
		t.Fatalf("PATCH of an ACL: %d %s", code, env.Error)
	}
	if out := d.MustLXC("network", "acl", "show", "web"); !strings.Contains(out, "description: patched") || !strings.Contains(out, "destination_port: \"80\"") || !strings.Contains(out, "user.k: v") {
		t.Fatalf("after the PATCH:\n%s", out)
	}

	// Egress: rejected by default, then allowed.
	listenIn(t, outside, "198.51.100.2:9000")
	if got := answerFrom(d, "", name, "198.51.100.2", 9000); got != "" {
		t.Fatalf("the instance reached out with egress rejected: %q", got)
	}
	d.MustLXC("network", "set", br, "security.acls.default.egress.action=allow")
	if got := answerFrom(d, "", name, "198.51.100.2", 9000); got != "from 10.58.0.7" {
		t.Fatalf("egress allowed, the outside heard %q", got)
	}

	// Drop beats allow, whatever the order; lodge adds and removes it.
	d.MustLodge("network", "acl", "rule", "add", "web", "ingress", "action=drop", "source=198.51.100.2", "description=the outside")
	if got := answerFrom(d, outside, "", "10.58.0.7", 80); got != "" {
		t.Fatalf("a dropped source got through: %q", got)
	}
	d.MustLodge("network", "acl", "rule", "remove", "web", "ingress", "action=drop")
	if got := answerFrom(d, outside, "", "10.58.0.7", 80); got != name {
		t.Fatalf("after the drop rule went: %q", got)
	}

	// Refusals, each saying what to fix; the rules stay as they were.
	before := nftRuleset(t, d.Netns)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "acl", "delete", "web"}, "in use"},
		{[]string{"network", "acl", "rename", "web", "web2"}, "in use"},
		{[]string{"network", "acl", "create", "2web"}, "invalid"},
		{[]string{"network", "acl", "create", "web"}, "already exists"},
		{[]string{"network", "acl", "rule", "add", "web", "ingress", "action=accept"}, "not allow, reject or drop"},
		{[]string{"network", "acl", "rule", "add", "web", "ingress", "action=allow", "destination_port=22"}, "ports need protocol"},
		{[]string{"network", "acl", "rule", "add", "web", "ingress", "action=allow", "source=@internal"}, "OVN"},
		{[]string{"network", "set", br, "security.acls=web,nosuch"}, "no network ACL \"nosuch\""},
		{[]string{"network", "set", br, "security.acls.default.ingress.action=deny"}, "not allow, reject or drop"},
	} {
		if _, stderr, err := d.LXC(c.args...); err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("lxc %v: %v %q, want an error with %q", c.args, err, stderr, c.want)
		}
	}
	if after := nftRuleset(t, d.Netns); after != before {
		t.Fatalf("a refused change touched the rules:\n%s\n----\n%s", before, after)
	}
	// A restricted project without networks of its own may not change the
	// ones it shares.
	d.MustLodge("project", "create", "aclp", "-c", "restricted=true", "-c", "features.networks=false")
	if code, env := d.API("POST", "/1.0/network-acls?project=aclp", api.NetworkACLsPost{NetworkACLPost: api.NetworkACLPost{Name: "mine"}}); code != http.StatusForbidden {
		t.Fatalf("a restricted project's ACL: %d %s", code, env.Error)
	}
	if code, env := d.API("PATCH", "/1.0/networks/"+br+"?project=aclp", map[string]any{"config": map[string]string{"security.acls": ""}}); code != http.StatusForbidden {
		t.Fatalf("a restricted project's change of a shared network: %d %s", code, env.Error)
	}

	// A project with networks of its own has its own ACLs, and is not
	// empty while it has one.
	d.MustLXC("project", "create", "aclown", "-c", "features.networks=true")
	d.MustLXC("network", "acl", "create", "web", "--project", "aclown")
	if _, stderr, err := d.LXC("project", "delete", "aclown"); err == nil || !strings.Contains(stderr, "network-acls/web") {
		t.Fatalf("a project with an ACL was deleted: %v %q", err, stderr)
	}
	d.MustLXC("network", "acl", "delete", "web", "--project", "aclown")
	d.MustLXC("project", "delete", "aclown")

	// The rules come back with the daemon.
	d.Stop()
	d.Start()
	waitFor(t, "the allowed port after a daemon restart", 10*time.Second, func() bool {
		return answerFrom(d, outside, "", "10.58.0.7", 80) == name
	})
	if got := answerFrom(d, outside, "", "10.58.0.7", 8080); got != "" {
		t.Fatalf("after a restart a port no rule allows answered: %q", got)
	}

	// Without security.acls the bridge is open again, and the ACL can go.
	d.MustLXC("network", "unset", br, "security.acls")
	if got := answerFrom(d, outside, "", "10.58.0.7", 8080); got != name {
		t.Fatalf("with no ACL, port 8080: %q", got)
	}
	d.MustLXC("network", "acl", "rename", "web", "web2")
	d.MustLXC("network", "acl", "delete", "web2")
	if rules := nftRuleset(t, d.Netns); strings.Contains(rules, "acl_") {
		t.Fatalf("ACL chains left:\n%s", rules)
	}
}

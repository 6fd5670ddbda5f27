package test

import (
	"fmt"
	"strings"
	"testing"
)

// TestImagesBetweenProjects copies private images between projects of
// one host with lxc 5.0.2 (image copy --target-project): the target
// project pulls from the source's, which the request names
// (image_source_project), over the host's own HTTPS address.
func TestImagesBetweenProjects(t *testing.T) {
	d := startDaemon(t)
	d.MustLXC("config", "set", "core.https_address", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	d.MustLXC("project", "create", "p2", "-c", "features.images=true", "-c", "features.profiles=true")
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "bb", "--project", "p2")
	if out := d.MustLXC("image", "list", "-c", "l", "--format", "csv"); strings.Contains(out, "bb") {
		t.Fatalf("the default project sees p2's image: %q", out)
	}
	// lxc takes the source's project from its remote (project switch),
	// not from --project.
	d.MustLXC("project", "switch", "p2")
	d.MustLXC("image", "copy", "bb", "local:", "--target-project", "default", "--alias", "from-p2")
	d.MustLXC("project", "switch", "default")
	if out := d.MustLXC("image", "list", "-c", "l", "--format", "csv"); !strings.Contains(out, "from-p2") {
		t.Fatalf("the image copied from p2 into default: %q", out)
	}
	d.MustLXC("project", "create", "p3", "-c", "features.images=true", "-c", "features.profiles=true")
	d.MustLXC("image", "copy", "from-p2", "local:", "--target-project", "p3", "--alias", "to-p3")
	if out := d.MustLXC("image", "list", "-c", "l", "--format", "csv", "--project", "p3"); !strings.Contains(out, "to-p3") {
		t.Fatalf("the image copied from default into p3: %q", out)
	}
}

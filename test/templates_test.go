package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// templatedImage is the busybox image with templates in its metadata,
// as LXD's images have them: hostname and hosts at create, copy and
// rename, a start one that reads config and properties, a create_only
// one.
func templatedImage(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	if _, stderr, err := run(nil, "", "tar", "-xzf", busyboxImage(t), "-C", work); err != nil {
		t.Fatalf("untar: %v %s", err, stderr)
	}
	md, err := os.ReadFile(filepath.Join(work, "metadata.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	md = append(md, []byte(`
templates:
  /etc/hostname:
    when: [create, copy, rename]
    template: hostname.tpl
  /etc/hosts:
    when: [create, copy]
    template: hosts.tpl
  /etc/lodge/started:
    when: [start]
    template: start.tpl
    properties:
      p: from-properties
  /etc/once:
    when: [start]
    create_only: true
    template: once.tpl
`)...)
	if err := os.WriteFile(filepath.Join(work, "metadata.yaml"), md, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"hostname.tpl": "{{ instance.name }}\n",
		"hosts.tpl":    "127.0.0.1 localhost\n127.0.1.1 {{ container.name }}\n",
		"start.tpl":    "trigger={{ trigger }} path={{ path }} greeting={{ config_get(\"user.greeting\", \"none\") }} prop={{ properties.p }} privileged={{ instance.privileged }}\n",
		"once.tpl":     "first\n",
	} {
		if err := os.MkdirAll(filepath.Join(work, "templates"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "templates", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "templated.tar.gz")
	if _, stderr, err := run(nil, "", "tar", "-czf", out, "-C", work, "metadata.yaml", "rootfs", "templates"); err != nil {
		t.Fatalf("tar: %v %s", err, stderr)
	}
	return out
}

func TestTemplates(t *testing.T) {
	d := startDaemon(t)
	d.MustLodge("image", "import", templatedImage(t), "--alias", "tpl")
	cat := func(name, path string) string {
		out, _, err := d.Lodge("exec", name, "--", "cat", path)
		if err != nil {
			return "<missing>"
		}
		return strings.TrimSpace(out)
	}

	// Create templates wait for the first start.
	d.MustLodge("init", "tpl", "t1", "-c", "user.greeting=hello")
	if v := strings.TrimSpace(d.MustLodge("config", "get", "t1", "volatile.apply_template")); v != "create" {
		t.Fatalf("volatile.apply_template after init: %q", v)
	}
	d.MustLodge("start", "t1")
	if got := cat("t1", "/etc/hostname"); got != "t1" {
		t.Errorf("/etc/hostname: %q", got)
	}
	if got := cat("t1", "/etc/hosts"); !strings.Contains(got, "127.0.1.1 t1") {
		t.Errorf("/etc/hosts: %q", got)
	}
	if got := cat("t1", "/etc/lodge/started"); got != "trigger=start path=/etc/lodge/started greeting=hello prop=from-properties privileged=false" {
		t.Errorf("the start template: %q", got)
	}
	if v := strings.TrimSpace(d.MustLodge("config", "get", "t1", "volatile.apply_template")); v != "" {
		t.Errorf("volatile.apply_template after the first start: %q", v)
	}
	// Owned by the instance's root, not the host's.
	if out := d.MustLodge("exec", "t1", "--", "stat", "-c", "%u:%g", "/etc/lodge", "/etc/lodge/started"); strings.Join(strings.Fields(out), " ") != "0:0 0:0" {
		t.Errorf("owners inside: %q", out)
	}
	// create_only: an existing file is left alone.
	d.MustLodge("exec", "t1", "--", "sh", "-c", "echo mine > /etc/once; echo edited > /etc/hostname")
	d.MustLodge("restart", "t1", "--force")
	if got := cat("t1", "/etc/once"); got != "mine" {
		t.Errorf("a create_only template rewrote an existing file: %q", got)
	}
	if got := cat("t1", "/etc/hostname"); got != "edited" {
		t.Errorf("a create template ran again at a plain start: %q", got)
	}

	// A copy gets the copy templates; a rename the rename ones.
	d.MustLodge("stop", "t1", "--force")
	d.MustLodge("copy", "t1", "t2")
	if v := strings.TrimSpace(d.MustLodge("config", "get", "t2", "volatile.apply_template")); v != "copy" {
		t.Fatalf("volatile.apply_template of a copy: %q", v)
	}
	d.MustLodge("start", "t2")
	if got := cat("t2", "/etc/hostname"); got != "t2" {
		t.Errorf("the copy's /etc/hostname: %q", got)
	}
	d.MustLodge("stop", "t2", "--force")
	d.MustLodge("move", "t2", "t3")
	d.MustLodge("start", "t3")
	if got := cat("t3", "/etc/hostname"); got != "t3" {
		t.Errorf("the renamed instance's /etc/hostname: %q", got)
	}
	if got := cat("t3", "/etc/hosts"); !strings.Contains(got, "127.0.1.1 t2") {
		t.Errorf("a rename ran a template without rename in when: %q", got)
	}

	// lxc 5.0.2 reads and edits them.
	if out := d.MustLXC("config", "metadata", "show", "t1"); !strings.Contains(out, "template: hostname.tpl") || !strings.Contains(out, "/etc/lodge/started") {
		t.Errorf("lxc config metadata show:\n%s", out)
	}
	if out := d.MustLXC("config", "template", "list", "t1", "--format", "csv"); !strings.Contains(out, "start.tpl") {
		t.Errorf("lxc config template list:\n%s", out)
	}
	if out := d.MustLXC("config", "template", "show", "t1", "hosts.tpl"); !strings.Contains(out, "{{ container.name }}") {
		t.Errorf("lxc config template show:\n%s", out)
	}
	d.MustLXC("config", "template", "create", "t1", "motd.tpl")
	if _, stderr, err := run(d.lxcEnv(), "Welcome to {{ instance.name }}\n", "lxc", "config", "template", "edit", "t1", "motd.tpl"); err != nil {
		t.Fatalf("lxc config template edit: %v %s", err, stderr)
	}
	meta := d.MustLXC("config", "metadata", "show", "t1")
	meta += "  /etc/motd:\n    when: [start]\n    template: motd.tpl\n"
	if !strings.Contains(meta, "templates:") {
		t.Fatalf("no templates section to extend:\n%s", meta)
	}
	if _, stderr, err := run(d.lxcEnv(), meta, "lxc", "config", "metadata", "edit", "t1"); err != nil {
		t.Fatalf("lxc config metadata edit: %v %s", err, stderr)
	}
	d.MustLodge("start", "t1")
	if got := cat("t1", "/etc/motd"); got != "Welcome to t1" {
		t.Errorf("a template added with lxc: %q", got)
	}

	// And lodge, with lxc's grammar.
	if out := d.MustLodge("config", "metadata", "show", "t1"); !strings.Contains(out, "motd.tpl") {
		t.Errorf("lodge config metadata show:\n%s", out)
	}
	if out := d.MustLodge("config", "template", "list", "t1"); !strings.Contains(out, "motd.tpl") || !strings.Contains(out, "hosts.tpl") {
		t.Errorf("lodge config template list:\n%s", out)
	}
	if _, stderr, err := d.LodgeIn("x {{ instance.name }}\n", "config", "template", "create", "t1", "extra.tpl"); err != nil {
		t.Fatalf("lodge config template create: %v %s", err, stderr)
	}
	if out := d.MustLodge("config", "template", "show", "t1", "extra.tpl"); out != "x {{ instance.name }}\n" {
		t.Errorf("lodge config template show: %q", out)
	}
	d.MustLodge("config", "template", "delete", "t1", "extra.tpl")
	if _, _, err := d.Lodge("config", "template", "show", "t1", "extra.tpl"); err == nil {
		t.Error("a deleted template still shows")
	}

	// Bad input: 400s that name the problem, and nothing changes.
	bad := map[string]string{
		"missing file":    "templates:\n  /etc/x:\n    when: [start]\n    template: nope.tpl\n",
		"unknown trigger": "templates:\n  /etc/x:\n    when: [reboot]\n    template: start.tpl\n",
		"relative path":   "templates:\n  etc/x:\n    when: [start]\n    template: start.tpl\n",
		"escaping name":   "templates:\n  /etc/x:\n    when: [start]\n    template: ../metadata.yaml\n",
	}
	wants := map[string]string{"missing file": "templates/nope.tpl does not exist", "unknown trigger": `"reboot"`, "relative path": "absolute", "escaping name": "no slashes"}
	for what, doc := range bad {
		_, stderr, err := run(d.lxcEnv(), "architecture: x86_64\n"+doc, "lxc", "config", "metadata", "edit", "t1")
		if err == nil || !strings.Contains(stderr, wants[what]) {
			t.Errorf("%s: %v %s", what, err, stderr)
		}
	}
	if out := d.MustLXC("config", "metadata", "show", "t1"); !strings.Contains(out, "motd.tpl") {
		t.Errorf("a refused edit changed the metadata:\n%s", out)
	}
	if _, stderr, err := d.LXC("config", "template", "show", "t1", "../metadata.yaml"); err == nil {
		t.Errorf("a template name with ..: %s", stderr)
	}

	// A template that does not render fails the start, and writes nothing.
	if _, stderr, err := run(d.lxcEnv(), "{% if %}broken\n", "lxc", "config", "template", "edit", "t1", "motd.tpl"); err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	d.MustLodge("stop", "t1", "--force")
	if _, stderr, err := d.Lodge("start", "t1"); err == nil || !strings.Contains(stderr, "motd.tpl") {
		t.Errorf("start with a broken template: %v %s", err, stderr)
	}
}

// TestTemplatesStayInTheInstance: a link the instance plants where a
// template writes leads the write inside the instance, never to the host.
func TestTemplatesStayInTheInstance(t *testing.T) {
	d := startDaemon(t)
	d.MustLodge("image", "import", templatedImage(t), "--alias", "tpl")
	d.MustLodge("launch", "tpl", "h1")
	hostFile := filepath.Join(t.TempDir(), "planted")
	hostDir := filepath.Join(t.TempDir(), "dir")
	if err := os.Mkdir(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The file a rename template writes, and the parent of a start
	// template's, become absolute links to host paths.
	d.MustLodge("exec", "h1", "--", "sh", "-c",
		"rm -rf /etc/lodge /etc/hostname; ln -s "+hostDir+" /etc/lodge; ln -s "+hostFile+" /etc/hostname; mkdir -p "+hostDir+" "+filepath.Dir(hostFile))
	d.MustLodge("stop", "h1", "--force")
	d.MustLodge("move", "h1", "h2") // a rename: /etc/hostname is written at the next start
	d.MustLodge("start", "h2")
	if _, err := os.Stat(hostFile); err == nil {
		t.Fatal("a template wrote through a link to a host file")
	}
	if entries, _ := os.ReadDir(hostDir); len(entries) > 0 {
		t.Fatalf("a template wrote into a host directory through a link: %v", entries)
	}
	// Inside, the links resolve in the instance's root.
	if out := d.MustLodge("exec", "h2", "--", "cat", hostDir+"/started"); !strings.Contains(out, "trigger=start") {
		t.Errorf("inside, the start template's file: %q", out)
	}
	if out := d.MustLodge("exec", "h2", "--", "cat", hostFile); strings.TrimSpace(out) != "h2" {
		t.Errorf("inside, the rename template's file: %q", out)
	}
	// A link that climbs above the root is refused: the start fails with
	// the reason, and the host is untouched.
	d.MustLodge("exec", "h2", "--", "sh", "-c", "rm -rf /etc/lodge; ln -s ../../../../../../.."+hostDir+" /etc/lodge")
	d.MustLodge("stop", "h2", "--force")
	if _, stderr, err := d.Lodge("start", "h2"); err == nil || !strings.Contains(stderr, "outside the instance's root") {
		t.Errorf("start through a climbing link: %v %s", err, stderr)
	}
	if entries, _ := os.ReadDir(hostDir); len(entries) > 0 {
		t.Fatalf("a template wrote into a host directory through a .. link: %v", entries)
	}
}

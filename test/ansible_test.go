package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ansiblePlaybook is a playbook of Ansible's LXD modules (Debian's
// ansible, community.general): a project, a profile with a NIC, and a
// container driven over HTTPS (trusted by password, a client certificate
// of the test's) and over the unix socket: started until it has an
// address, unchanged when asked again, changed, frozen, stopped, gone.
const ansiblePlaybook = `
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    unix: "unix:%[1]s/unix.socket"
    https: "https://%[2]s"
    cert: "%[3]s/client.crt"
    key: "%[3]s/client.key"
  tasks:
    - community.general.lxd_project:
        url: "{{ unix }}"
        name: ansp
        config: {features.images: "false", features.profiles: "false", limits.instances: "5"}
    - community.general.lxd_profile:
        url: "{{ unix }}"
        name: ansprof
        description: from ansible
        config: {limits.memory: 128MiB}
        devices:
          eth0: {type: nic, network: "%[4]s", name: eth0}
    - name: started over HTTPS, trusted by password
      community.general.lxd_container:
        url: "{{ https }}"
        client_cert: "{{ cert }}"
        client_key: "{{ key }}"
        trust_password: ansible-pw
        name: ans1
        state: started
        source: {type: image, alias: busybox}
        profiles: [default, ansprof]
        config: {user.note: one}
        wait_for_ipv4_addresses: true
        timeout: 90
      register: started
    - assert:
        that:
          - started.changed
          - started.addresses.eth0 | length == 1
    - name: the same again changes nothing
      community.general.lxd_container:
        url: "{{ unix }}"
        name: ans1
        state: started
        source: {type: image, alias: busybox}
        profiles: [default, ansprof]
        config: {user.note: one}
        ignore_volatile_options: true
      register: again
    - assert: {that: [not again.changed]}
    - name: a config change
      community.general.lxd_container:
        url: "{{ unix }}"
        name: ans1
        state: started
        config: {user.note: two}
        ignore_volatile_options: true
      register: changed
    - assert: {that: [changed.changed]}
    - community.general.lxd_container: {url: "{{ unix }}", name: ans1, state: frozen}
    - community.general.lxd_container: {url: "{{ unix }}", name: ans1, state: stopped, force_stop: true}
    - community.general.lxd_container: {url: "{{ unix }}", name: ans1, state: absent}
    - community.general.lxd_profile: {url: "{{ unix }}", name: ansprof, state: absent}
    - community.general.lxd_project: {url: "{{ unix }}", name: ansp, state: absent}
`

// TestAnsible runs Ansible's LXD modules against lodged, in its network
// namespace (its HTTPS address is on the namespace's loopback).
func TestAnsible(t *testing.T) {
	d, _ := startDaemonInNetns(t)
	d.MustLodge("image", "import", busyboxImage(t), "--alias", "busybox")
	br := uniq("ans")
	d.MustLodge("network", "create", br, "ipv4.address=10.60.0.1/24")
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	d.MustLodge("config", "set", "core.https_address", addr)
	d.MustLodge("config", "set", "core.trust_password", "ansible-pw")
	dir := t.TempDir()
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
		"-keyout", filepath.Join(dir, "client.key"), "-out", filepath.Join(dir, "client.crt"), "-days", "1", "-subj", "/CN=ansible").CombinedOutput(); err != nil {
		t.Fatalf("a client certificate: %v %s", err, out)
	}
	play := filepath.Join(dir, "play.yml")
	if err := os.WriteFile(play, []byte(fmt.Sprintf(ansiblePlaybook, d.Dir, addr, dir, br)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+d.Netns, "/usr/bin/ansible-playbook", "-i", "localhost,",
		"-e", "ansible_python_interpreter=/usr/bin/python3", play)
	cmd.Dir = dir
	// Ansible checks the server's certificate against the system's CAs and
	// the URL's host: lodged's names the addresses it listens on, so
	// trusting it is enough (LXD's names none, and fails the host check).
	cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_NOCOLOR=1", "PYTHONPATH=",
		"SSL_CERT_FILE="+filepath.Join(d.Dir, "server.crt"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "failed=0") {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
	if list := d.MustLodge("list", "--format", "csv"); strings.Contains(list, "ans1") {
		t.Fatalf("the container Ansible removed is still there:\n%s", list)
	}
}

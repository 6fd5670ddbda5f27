package test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

func TestConsole(t *testing.T) {
	d := withBusybox(t)
	name := uniq("con")
	d.MustLodge("launch", "busybox", name)
	c := client.New(filepath.Join(d.Dir, "unix.socket"))
	resp, _, err := c.Query("POST", "/1.0/instances/"+name+"/console", map[string]any{"width": 80, "height": 24}, "")
	if err != nil {
		t.Fatal(err)
	}
	var op api.Operation
	_ = json.Unmarshal(resp.Metadata, &op)
	fds := op.Metadata["fds"].(map[string]any)
	ctl, err := c.OperationWebsocket(resp.Operation, fmt.Sprint(fds["control"]))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	term, err := c.OperationWebsocket(resp.Operation, fmt.Sprint(fds["0"]))
	if err != nil {
		t.Fatal(err)
	}
	// busybox init runs a shell on the console: talk to it.
	out := make(chan string, 100)
	go func() {
		for {
			_, data, err := term.ReadMessage()
			if err != nil {
				close(out)
				return
			}
			out <- string(data)
		}
	}()
	_ = term.WriteMessage(websocket.BinaryMessage, []byte("echo console-$((20+3))\n"))
	var seen strings.Builder
	deadline := time.After(10 * time.Second)
	for !strings.Contains(seen.String(), "console-23") {
		select {
		case s, ok := <-out:
			if !ok {
				t.Fatalf("console closed; saw %q", seen.String())
			}
			seen.WriteString(s)
		case <-deadline:
			t.Fatalf("no answer on the console; saw %q", seen.String())
		}
	}
	term.Close()

	// The log holds it too, through lodge and lxc.
	if log := d.MustLodge("console", name, "--show-log"); !strings.Contains(log, "console-23") {
		t.Fatalf("lodge console --show-log:\n%s", log)
	}
	if log := d.MustLXC("console", name, "--show-log"); !strings.Contains(log, "console-23") {
		t.Fatalf("lxc console --show-log:\n%s", log)
	}
	// One keeper serves every container of the daemon.
	second := uniq("con")
	d.MustLodge("launch", "busybox", second)
	if out, _ := exec.Command("pgrep", "-f", "console-keeper "+d.Dir).Output(); len(strings.Fields(string(out))) != 1 {
		t.Fatalf("console keepers for two containers: %q", out)
	}
	// The console outlives lodged.
	d.Kill()
	d.Start()
	if log := d.MustLodge("console", name, "--show-log"); !strings.Contains(log, "console-23") {
		t.Fatalf("console log after a daemon restart:\n%s", log)
	}
	// With no console left to hold, the keeper exits (even with lodged
	// stopped); the next start brings a keeper back.
	keepers := func() int {
		out, _ := exec.Command("pgrep", "-f", "console-keeper "+d.Dir).Output()
		return len(strings.Fields(string(out)))
	}
	d.MustLodge("stop", "-f", name, second)
	d.Kill()
	waitFor(t, "the console keeper to exit", 10*time.Second, func() bool { return keepers() == 0 })
	d.Start()
	d.MustLodge("start", name)
	if keepers() != 1 {
		t.Fatalf("no console keeper after a start")
	}
	waitFor(t, "the restarted console's log", 10*time.Second, func() bool {
		log, _, _ := d.Lodge("console", name, "--show-log")
		return strings.TrimSpace(log) != ""
	})
}

// TestAutostartAndHostShutdown: SIGPWR stops instances cleanly and the next
// lodged brings back the ones that ran, plus boot.autostart ones, in
// priority order; what a user does to an instance while autostart is under
// way wins.
func TestAutostartAndHostShutdown(t *testing.T) {
	d := withBusybox(t)
	auto, ran, late, idle := uniq("auto"), uniq("ran"), uniq("late"), uniq("idle")
	d.MustLodge("init", "busybox", auto, "-c", "boot.autostart=true", "-c", "boot.autostart.priority=10", "-c", "boot.autostart.delay=2")
	d.MustLodge("launch", "busybox", ran, "-c", "boot.host_shutdown_timeout=20")
	d.MustLodge("launch", "busybox", late, "-c", "boot.autostart.priority=-1")
	d.MustLodge("init", "busybox", idle)
	pid := statePid(t, d, ran)

	if err := d.cmd.Process.Signal(syscall.SIGPWR); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lodged to stop instances and exit", 30*time.Second, func() bool {
		return syscall.Kill(int(pid), 0) != nil && d.cmd.ProcessState == nil && processGone(d)
	})
	d.Kill()
	d.Start()
	waitFor(t, "autostart of the first", 20*time.Second, func() bool {
		out, _, _ := d.Lodge("list", "--format", "csv")
		return strings.Contains(out, auto+",RUNNING")
	})
	// Within auto's delay: the user starts and stops ran (the start fails
	// if autostart got there first; the stop must hold either way).
	_, _, _ = d.Lodge("start", ran)
	d.MustLodge("stop", "-f", ran)
	waitFor(t, "autostart of the last", 20*time.Second, func() bool {
		out, _, _ := d.Lodge("list", "--format", "csv")
		return strings.Contains(out, late+",RUNNING")
	})
	out := d.MustLodge("list", "--format", "csv")
	if !strings.Contains(out, idle+",STOPPED") {
		t.Fatalf("an instance that was not running was started:\n%s", out)
	}
	if !strings.Contains(out, ran+",STOPPED") {
		t.Fatalf("autostart started an instance its user had stopped meanwhile:\n%s", out)
	}
	var a, l api.Instance
	_, env := d.API("GET", "/1.0/instances/"+auto, nil)
	_ = json.Unmarshal(env.Metadata, &a)
	_, env = d.API("GET", "/1.0/instances/"+late, nil)
	_ = json.Unmarshal(env.Metadata, &l)
	if a.LastUsedAt.After(l.LastUsedAt) {
		t.Fatalf("priority 10 started after priority -1: %s vs %s", a.LastUsedAt, l.LastUsedAt)
	}
	// A clean stop by the user is remembered: not started again, while one
	// that died with lodged away is.
	latePid := statePid(t, d, late)
	d.Kill()
	_ = syscall.Kill(int(latePid), syscall.SIGKILL)
	waitFor(t, late+" to die", 10*time.Second, func() bool { return syscall.Kill(int(latePid), 0) != nil })
	d.Start()
	waitFor(t, "autostart", 20*time.Second, func() bool {
		out, _, _ := d.Lodge("list", "--format", "csv")
		return strings.Contains(out, late+",RUNNING")
	})
	if out := d.MustLodge("list", "--format", "csv"); !strings.Contains(out, ran+",STOPPED") {
		t.Fatalf("a stopped instance came back:\n%s", out)
	}
}

// processGone says whether lodged has exited on its own.
func processGone(d *Daemon) bool {
	return syscall.Kill(d.cmd.Process.Pid, 0) != nil || isZombie(d.cmd.Process.Pid)
}

func isZombie(pid int) bool {
	data, err := readFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(data)
	return len(fields) > 2 && fields[2] == "Z"
}

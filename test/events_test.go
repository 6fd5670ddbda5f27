package test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

func TestEventsAndOperations(t *testing.T) {
	d := withBusybox(t)
	c := client.New(filepath.Join(d.Dir, "unix.socket"))
	ws, err := c.Websocket("/1.0/events?type=lifecycle,operation")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	events := make(chan api.Event, 100)
	go func() {
		for {
			var ev api.Event
			if err := ws.ReadJSON(&ev); err != nil {
				close(events)
				return
			}
			events <- ev
		}
	}()
	name := uniq("ev")
	d.MustLodge("launch", "busybox", name)
	want := map[string]bool{"instance-created": false, "instance-started": false}
	sawOperation := false
	deadline := time.After(10 * time.Second)
	for !want["instance-created"] || !want["instance-started"] || !sawOperation {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream closed")
			}
			if ev.Type == "operation" {
				sawOperation = true
			}
			if ev.Type == "lifecycle" {
				raw, _ := json.Marshal(ev.Metadata)
				var lc api.EventLifecycle
				_ = json.Unmarshal(raw, &lc)
				if _, ok := want[lc.Action]; ok && strings.HasSuffix(lc.Source, "/"+name) {
					want[lc.Action] = true
				}
			}
		case <-deadline:
			t.Fatalf("events seen: %v, operation %v", want, sawOperation)
		}
	}

	// An operation can be waited on with a timeout and shows in the list.
	resp, _, err := c.Query("PUT", "/1.0/instances/"+name+"/state", api.InstanceStatePut{Action: "stop", Timeout: 30}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Operation, "/1.0/operations/") {
		t.Fatalf("async response without an operation: %+v", resp)
	}
	var op api.Operation
	// The wait outlasts the stop's own timeout, which ends with a kill.
	if _, err := c.Get(resp.Operation+"/wait?timeout=60", &op); err != nil || op.StatusCode != api.Success {
		t.Fatalf("wait: %+v %v", op, err)
	}
	if out := d.MustLodge("operation", "show", op.ID); !strings.Contains(out, "Success") {
		t.Fatalf("operation show: %s", out)
	}
	if st, _ := d.API("GET", "/1.0/operations/nope", nil); st != 404 {
		t.Fatalf("unknown operation: %d", st)
	}
	// A failing operation carries the error.
	st, env := d.API("PUT", "/1.0/instances/"+name+"/state", api.InstanceStatePut{Action: "stop"})
	if st != 400 || !strings.Contains(env.Error, "not running") {
		t.Fatalf("stopping a stopped instance: %d %q", st, env.Error)
	}
}

func TestLogsAndMonitor(t *testing.T) {
	d := withBusybox(t)
	name := uniq("log")
	d.MustLodge("launch", "busybox", name)
	// The console log holds what init printed on the console.
	d.MustLodge("exec", name, "--", "sh", "-c", "echo console-marker > /dev/console")
	waitFor(t, "console log to hold the marker", 5*time.Second, func() bool {
		out, _, _ := d.Lodge("info", "--show-log", name)
		return strings.Contains(out, "console-marker")
	})
}

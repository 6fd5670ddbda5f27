package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

// Copies and moves between remotes, as lxc makes them: the source is
// asked to send (an operation whose metadata holds its websockets'
// secrets), then the target to receive: it connects to the source (pull,
// the default), is connected to (push), or the client joins both
// (relay).

// crossCopy is what lodge copy/move across remotes was asked.
type crossCopy struct {
	mode         string
	instanceOnly bool
	stateless    bool
	move         bool
	// refresh brings a copy the target has up to date.
	refresh bool
	// edit changes the new instance's request (-c, -s, -p).
	edit func(req *api.InstancesPost, inst api.Instance) error
}

// sourceSide is what the source host is asked: the path to POST (an
// instance's, or a snapshot's) and the request, given the target's
// operation in push mode (nil otherwise).
type sourceSide struct {
	path string
	req  func(target *api.InstancePostTarget) any
}

// targetSide is what the target host is asked: the path to POST (the
// instances', or a pool's volumes') and the request, given the mode and,
// to pull, the source's operation, certificate and secrets.
type targetSide struct {
	path string
	req  func(mode, opURL, cert string, secrets map[string]string) any
}

// instanceTarget is the target side that makes instance req.
func instanceTarget(req api.InstancesPost) targetSide {
	return targetSide{path: "/1.0/instances", req: func(mode, opURL, cert string, secrets map[string]string) any {
		req.Source.Mode, req.Source.Operation, req.Source.Websockets, req.Source.Certificate = mode, opURL, secrets, cert
		return req
	}}
}

// copyAcross copies instance srcName of src (or its snapshot, for
// "NAME/SNAP") to dstName on dst; a move then deletes the source, once
// the target has the whole instance, and starts the target when the
// source ran.
func copyAcross(out io.Writer, src, dst *client.Client, srcName, dstName string, o crossCopy) error {
	if name, snap, ok := strings.Cut(srcName, "/"); ok {
		return copySnapshotAcross(out, src, dst, name, snap, dstName, o)
	}
	var inst api.Instance
	if _, err := src.Get(instancePath(srcName), &inst); err != nil {
		return err
	}
	if dstName == "" {
		dstName = inst.Name
	}
	req := api.InstancesPost{Name: dstName, Type: inst.Type, InstancePut: api.InstancePut{Architecture: inst.Architecture,
		Config: map[string]string{}, Devices: inst.Devices, Profiles: inst.Profiles, Ephemeral: inst.Ephemeral, Description: inst.Description}}
	for k, v := range inst.Config {
		// A copy is a new instance; a move keeps its addresses.
		if o.move || !strings.HasPrefix(k, "volatile.") {
			req.Config[k] = v
		}
	}
	if o.edit != nil {
		if err := o.edit(&req, inst); err != nil {
			return err
		}
	}
	running := inst.StatusCode == api.Running
	live := running && !o.stateless
	req.Source = api.InstanceSource{Type: "migration", InstanceOnly: o.instanceOnly, Live: live, BaseImage: inst.Config["volatile.base_image"],
		Refresh: o.refresh}
	side := sourceSide{path: instancePath(srcName), req: func(target *api.InstancePostTarget) any {
		return api.InstancePost{Migration: true, Live: live, InstanceOnly: o.instanceOnly, Target: target}
	}}
	progress, done := showProgressOf(out, "Transferring instance", "fs_progress")
	defer done()
	err := transfer(src, dst, side, instanceTarget(req), o.mode, progress)
	if err == nil && o.refresh {
		// As lxc does: the copy's config follows the source's too.
		put := req.InstancePut
		put.Config = map[string]string{}
		for k, v := range req.Config {
			if !strings.HasPrefix(k, "volatile.") {
				put.Config[k] = v
			}
		}
		_, err = dst.Do("PUT", instancePath(dstName), put, "")
	}
	if err != nil || !o.move {
		return err
	}
	done()
	if running {
		if _, err := src.Do("PUT", instancePath(srcName)+"/state", api.InstanceStatePut{Action: "stop", Force: true}, ""); err != nil {
			return fmt.Errorf("the copy is made, but stopping the source: %w", err)
		}
	}
	if _, err := src.Do("DELETE", instancePath(srcName), nil, ""); err != nil {
		return fmt.Errorf("the copy is made, but deleting the source: %w", err)
	}
	if running && !live {
		if _, err := dst.Do("PUT", instancePath(dstName)+"/state", api.InstanceStatePut{Action: "start"}, ""); err != nil {
			return fmt.Errorf("moved, but starting it there: %w", err)
		}
	}
	return nil
}

// copySnapshotAcross makes snapshot snap of instance name on src an
// instance dstName of dst (lxc copy c1/snap0 other:c2): the snapshot's
// config, its tree as the new instance's volume, no snapshots.
func copySnapshotAcross(out io.Writer, src, dst *client.Client, name, snap, dstName string, o crossCopy) error {
	if o.move || o.refresh {
		return errors.New("a snapshot is copied to another host, not moved or refreshed: copy it, then delete it here")
	}
	var sn api.InstanceSnapshot
	if _, err := src.Get(instancePath(name)+"/snapshots/"+url.PathEscape(snap), &sn); err != nil {
		return err
	}
	var inst api.Instance
	if _, err := src.Get(instancePath(name), &inst); err != nil {
		return err
	}
	if dstName == "" {
		dstName = name
	}
	req := api.InstancesPost{Name: dstName, Type: inst.Type, InstancePut: api.InstancePut{Architecture: sn.Architecture,
		Config: map[string]string{}, Devices: sn.Devices, Profiles: sn.Profiles, Ephemeral: sn.Ephemeral}}
	for k, v := range sn.Config {
		if !strings.HasPrefix(k, "volatile.") {
			req.Config[k] = v
		}
	}
	if o.edit != nil {
		if err := o.edit(&req, inst); err != nil {
			return err
		}
	}
	req.Source = api.InstanceSource{Type: "migration", InstanceOnly: true, BaseImage: sn.Config["volatile.base_image"]}
	side := sourceSide{path: instancePath(name) + "/snapshots/" + url.PathEscape(snap), req: func(target *api.InstancePostTarget) any {
		return api.InstanceSnapshotPost{Migration: true, Name: dstName, Target: target}
	}}
	progress, done := showProgressOf(out, "Transferring snapshot", "fs_progress")
	defer done()
	return transfer(src, dst, side, instanceTarget(req), o.mode, progress)
}

// transfer runs a migration of what side names on src into req on dst,
// in mode: the target connects to the source (pull), the source to the
// target (push), or this client joins both (relay).
func transfer(src, dst *client.Client, side sourceSide, target targetSide, mode string, progress func(map[string]any)) error {
	switch mode {
	case "", "pull":
		return handOver(src, func() (*api.Operation, map[string]string, error) {
			return startOperation(src, "POST", side.path, side.req(nil))
		}, func(opURL, cert string, secrets map[string]string) error {
			_, err := dst.DoProgress("POST", target.path, target.req("pull", opURL, cert, secrets), progress)
			return err
		})
	case "push":
		return handOver(dst, func() (*api.Operation, map[string]string, error) {
			return startOperation(dst, "POST", target.path, target.req("push", "", "", nil))
		}, func(opURL, cert string, secrets map[string]string) error {
			_, err := src.DoProgress("POST", side.path, side.req(&api.InstancePostTarget{Operation: opURL, Certificate: cert, Websockets: secrets}), progress)
			return err
		})
	case "relay":
		return relayCopy(src, dst, side, target, progress)
	}
	return fmt.Errorf("--mode %q: give pull, push or relay", mode)
}

// handOver starts the side that listens (its operation's websockets, on
// host listener), then has the other side connect to it through one of
// listener's addresses, and waits for both. A failure cancels the
// listener's operation.
func handOver(listener *client.Client, listen func() (*api.Operation, map[string]string, error),
	connect func(opURL, cert string, secrets map[string]string) error) error {
	op, secrets, err := listen()
	if err != nil {
		return err
	}
	cert, urls, err := reachable(listener, op.ID)
	if err != nil {
		cancelOperation(listener, op.ID)
		return err
	}
	err = throughAny(urls, func(u string) error { return connect(u, cert, secrets) })
	if err != nil {
		cancelOperation(listener, op.ID)
		return err
	}
	_, err = listener.Wait("/1.0/operations/" + op.ID)
	return err
}

// startOperation sends a request that starts an operation and returns it
// (its metadata holds its websockets' secrets) without waiting.
func startOperation(c *client.Client, method, path string, body any) (*api.Operation, map[string]string, error) {
	resp, _, err := c.Query(method, path, body, "")
	if err != nil {
		return nil, nil, err
	}
	var op api.Operation
	if resp.Type != api.AsyncResponse || json.Unmarshal(resp.Metadata, &op) != nil {
		return nil, nil, errors.New("the server did not start an operation")
	}
	secrets := map[string]string{}
	for k, v := range op.Metadata {
		if s, ok := v.(string); ok {
			secrets[k] = s
		}
	}
	return &op, secrets, nil
}

// reachable is a server's certificate and the operation URLs it may be
// reached at from another host (its network addresses).
func reachable(c *client.Client, opID string) (cert string, urls []string, err error) {
	var info api.Server
	if _, err := c.Get("/1.0", &info); err != nil {
		return "", nil, err
	}
	for _, a := range info.Environment.Addresses {
		urls = append(urls, "https://"+a+"/1.0/operations/"+url.PathEscape(opID))
	}
	if len(urls) == 0 {
		return "", nil, errors.New("the server does not listen on the network (core.https_address): another host cannot reach it")
	}
	return info.Environment.Certificate, urls, nil
}

// throughAny tries the other host's addresses in turn until one is
// reached: a failure once there ends the tries.
func throughAny(urls []string, try func(url string) error) error {
	var errs []error
	for _, u := range urls {
		err := try(u)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
		if !strings.Contains(err.Error(), "connect to the other host") {
			break
		}
	}
	return fmt.Errorf("copy: %w", errors.Join(errs...))
}

// relayCopy joins the source's websockets to the target's, message by
// message, for hosts that cannot reach each other.
func relayCopy(src, dst *client.Client, side sourceSide, target targetSide, progress func(map[string]any)) error {
	srcOp, srcSecrets, err := startOperation(src, "POST", side.path, side.req(nil))
	if err != nil {
		return err
	}
	dstOp, dstSecrets, err := startOperation(dst, "POST", target.path, target.req("push", "", "", nil))
	if err != nil {
		cancelOperation(src, srcOp.ID)
		return err
	}
	var wg sync.WaitGroup
	for _, ch := range []string{"control", "fs"} {
		a, err := src.OperationWebsocket("/1.0/operations/"+srcOp.ID, srcSecrets[ch])
		if err != nil {
			return fmt.Errorf("the source's %s websocket: %w", ch, err)
		}
		b, err := dst.OperationWebsocket("/1.0/operations/"+dstOp.ID, dstSecrets[ch])
		if err != nil {
			a.Close()
			return fmt.Errorf("the target's %s websocket: %w", ch, err)
		}
		wg.Add(2)
		go func() { defer wg.Done(); relay(a, b) }()
		go func() { defer wg.Done(); relay(b, a) }()
	}
	_, err = dst.WaitProgress("/1.0/operations/"+dstOp.ID, progress)
	_, serr := src.Wait("/1.0/operations/" + srcOp.ID)
	if err == nil {
		err = serr
	}
	return err
}

// relay copies from's messages to to until either ends, then closes both.
func relay(from, to *websocket.Conn) {
	defer to.Close()
	defer from.Close()
	for {
		mt, data, err := from.ReadMessage()
		if err != nil {
			return
		}
		if err := to.WriteMessage(mt, data); err != nil {
			return
		}
	}
}

func cancelOperation(c *client.Client, id string) {
	_, _, _ = c.Query("DELETE", "/1.0/operations/"+id, nil, "")
}

// showProgressOf writes the operation's progress (metadata key) on one
// line while it changes, and clears it when done.
func showProgressOf(w io.Writer, what, key string) (func(map[string]any), func()) {
	shown := false
	return func(md map[string]any) {
			if p, ok := md[key].(string); ok && p != "" {
				fmt.Fprintf(w, "\r%s: %s    ", what, p)
				shown = true
			}
		}, func() {
			if shown {
				fmt.Fprint(w, "\r\033[K")
				shown = false
			}
		}
}

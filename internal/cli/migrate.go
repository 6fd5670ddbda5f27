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

// copyAcross copies instance srcName of src to dstName on dst; a move
// then deletes the source, once the target has the whole instance, and
// starts the target when the source ran.
func copyAcross(out io.Writer, src, dst *client.Client, srcName, dstName string, o crossCopy) error {
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
	sourceReq := api.InstancePost{Migration: true, Live: live, InstanceOnly: o.instanceOnly}
	progress, done := showProgressOf(out, "Transferring instance", "fs_progress")
	defer done()
	var err error
	switch o.mode {
	case "", "pull":
		err = pullCopy(src, dst, srcName, req, sourceReq, progress)
	case "push":
		err = pushCopy(src, dst, srcName, req, sourceReq, progress)
	case "relay":
		err = relayCopy(src, dst, srcName, req, sourceReq, progress)
	default:
		return fmt.Errorf("--mode %q: give pull, push or relay", o.mode)
	}
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

func pullCopy(src, dst *client.Client, srcName string, req api.InstancesPost, sourceReq api.InstancePost, progress func(map[string]any)) error {
	op, secrets, err := startOperation(src, "POST", instancePath(srcName), sourceReq)
	if err != nil {
		return err
	}
	cert, urls, err := reachable(src, op.ID)
	if err != nil {
		cancelOperation(src, op.ID)
		return err
	}
	req.Source.Mode, req.Source.Websockets, req.Source.Certificate = "pull", secrets, cert
	err = throughAny(urls, func(u string) error {
		req.Source.Operation = u
		_, err := dst.DoProgress("POST", "/1.0/instances", req, progress)
		return err
	})
	if err != nil {
		cancelOperation(src, op.ID)
		return err
	}
	_, err = src.Wait("/1.0/operations/" + op.ID)
	return err
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

func pushCopy(src, dst *client.Client, srcName string, req api.InstancesPost, sourceReq api.InstancePost, progress func(map[string]any)) error {
	req.Source.Mode = "push"
	op, secrets, err := startOperation(dst, "POST", "/1.0/instances", req)
	if err != nil {
		return err
	}
	cert, urls, err := reachable(dst, op.ID)
	if err != nil {
		cancelOperation(dst, op.ID)
		return err
	}
	sourceReq.Target = &api.InstancePostTarget{Certificate: cert, Websockets: secrets}
	err = throughAny(urls, func(u string) error {
		sourceReq.Target.Operation = u
		_, err := src.DoProgress("POST", instancePath(srcName), sourceReq, progress)
		return err
	})
	if err != nil {
		cancelOperation(dst, op.ID)
		return err
	}
	_, err = dst.Wait("/1.0/operations/" + op.ID)
	return err
}

// relayCopy joins the source's websockets to the target's, message by
// message, for hosts that cannot reach each other.
func relayCopy(src, dst *client.Client, srcName string, req api.InstancesPost, sourceReq api.InstancePost, progress func(map[string]any)) error {
	srcOp, srcSecrets, err := startOperation(src, "POST", instancePath(srcName), sourceReq)
	if err != nil {
		return err
	}
	req.Source.Mode = "push"
	dstOp, dstSecrets, err := startOperation(dst, "POST", "/1.0/instances", req)
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

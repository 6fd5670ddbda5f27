package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/migration"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/trust"
)

// Migration between hosts, in LXD's protocol (package migration). The
// source is asked first (POST /1.0/instances/<name> with migration); the
// target then either connects to the source's operation (pull: the
// default) or is connected to (push: its operation's secrets go to the
// source as target). A relaying client connects to both and pipes.

// migrationChannels are the websockets of a migration, as the operation's
// metadata names them.
var migrationChannels = []string{"control", "fs"}

// instanceMigrateSource starts sending an instance to another host.
func instanceMigrateSource(d *Daemon, r *http.Request, name string, req api.InstancePost) response {
	st, _ := d.Instances.Status(name)
	if req.Live && st != "Stopped" {
		return fail(fmt.Errorf("%w; copy it stateless (lxc copy --stateless), or stop it first", statefulRefusal(r, "a live migration of "+name)))
	}
	src, err := d.Instances.MigrationSource(name, req.InstanceOnly)
	if err != nil {
		return fail(err)
	}
	src.AllowInconsistent = req.AllowInconsistent
	return d.startMigrationSource("Migrating instance", name, resources(name), src, req.Target)
}

// snapshotMigrateSource starts sending a snapshot to another host, where
// it becomes an instance (lxc copy c1/snap0 other:c2).
func snapshotMigrateSource(d *Daemon, r *http.Request, name, snap string, req api.InstanceSnapshotPost) response {
	if req.Live {
		return fail(statefulRefusal(r, "a stateful copy of snapshot "+snap))
	}
	src, err := d.Instances.SnapshotMigrationSource(name, snap)
	if err != nil {
		return fail(err)
	}
	return d.startMigrationSource("Migrating instance", name, resources(name), src, req.Target)
}

// startMigrationSource runs the source side of a migration of what src
// describes (label names it in progress, res in the operation): pushed
// to target's operation when it is given, else offered on this
// operation's websockets for the target (or a relaying client) to
// connect to.
func (d *Daemon) startMigrationSource(desc, label string, res map[string][]string, src *migration.Source, target *api.InstancePostTarget) response {
	src.Sent = new(atomic.Int64)
	if target != nil {
		// Push: this host connects to the target's operation.
		dialer, err := migrationDialer(target.Certificate)
		if err != nil {
			return fail(err)
		}
		op := d.Ops.Start(desc, res, nil, func(ctx context.Context, op *operation.Op) error {
			control, fs, err := dialMigration(ctx, dialer, target.Operation, target.Websockets)
			if err != nil {
				return err
			}
			defer closeMigration(control, fs)
			defer reportProgress(op, src.Sent, label)()
			return migration.RunSource(ctx, control, fs, src)
		})
		return asyncResp{op}
	}
	set, secrets := newWSSet(migrationChannels)
	op := d.Ops.StartWebsocket(desc, res, anyMap(secrets))
	op.Connect = set.connect
	op.Run(func(ctx context.Context) error {
		if err := set.wait(ctx, "migration"); err != nil {
			return err
		}
		defer set.closeAll()
		defer reportProgress(op, src.Sent, label)()
		return migration.RunSource(ctx, migration.NewConn(set.conn("control")), migration.NewConn(set.conn("fs")), src)
	})
	return asyncResp{op}
}

// migrationSinkSource is where a migration's target finds the source:
// its operation and secrets (pull), or nothing (push: the source comes).
type migrationSinkSource struct {
	mode, operation, certificate string
	websockets                   map[string]string
}

// checked is the dialer a pulled migration connects with; nil for push.
func (m migrationSinkSource) checked() (*websocket.Dialer, error) {
	switch m.mode {
	case "", "pull":
		if m.operation == "" || m.websockets["control"] == "" || m.websockets["fs"] == "" {
			return nil, apierr.BadRequest("a pulled migration needs the source's operation and its control and fs secrets")
		}
		return migrationDialer(m.certificate)
	case "push":
		return nil, nil
	}
	return nil, apierr.BadRequest("migration mode %q: give pull or push", m.mode)
}

// startMigrationSink runs the target side of a migration into sink:
// connecting to the source (pull, with dialer) or offering this
// operation's websockets to it (push). release runs when it ends.
func (d *Daemon) startMigrationSink(desc, label string, res map[string][]string, from migrationSinkSource, dialer *websocket.Dialer, sink *migration.Sink, release func()) response {
	sink.Got = new(atomic.Int64)
	if dialer != nil {
		op := d.Ops.Start(desc, res, nil, func(ctx context.Context, op *operation.Op) error {
			defer release()
			control, fs, err := dialMigration(ctx, dialer, from.operation, from.websockets)
			if err != nil {
				return err
			}
			defer closeMigration(control, fs)
			defer reportProgress(op, sink.Got, label)()
			return migration.RunSink(ctx, control, fs, sink)
		})
		return asyncResp{op}
	}
	set, secrets := newWSSet(migrationChannels)
	op := d.Ops.StartWebsocket(desc, res, anyMap(secrets))
	op.Connect = set.connect
	op.Run(func(ctx context.Context) error {
		defer release()
		if err := set.wait(ctx, "migration"); err != nil {
			return err
		}
		defer set.closeAll()
		defer reportProgress(op, sink.Got, label)()
		return migration.RunSink(ctx, migration.NewConn(set.conn("control")), migration.NewConn(set.conn("fs")), sink)
	})
	return asyncResp{op}
}

// instanceFromMigration makes an instance from another host's.
func instanceFromMigration(d *Daemon, r *http.Request, req api.InstancesPost) response {
	if req.Source.Live {
		return fail(fmt.Errorf("%w; copy it stateless (lxc copy --stateless), or stop it first", statefulRefusal(r, "a live migration of "+req.Name)))
	}
	from := migrationSinkSource{mode: req.Source.Mode, operation: req.Source.Operation, certificate: req.Source.Certificate, websockets: req.Source.Websockets}
	dialer, err := from.checked()
	if err != nil {
		return fail(err)
	}
	proj := requestProject(r)
	var sink *migration.Sink
	release := func() {}
	if _, _, gerr := d.Instances.Get(project.StoreKey(proj, req.Name)); gerr == nil && req.Source.Refresh {
		// lxc copy --refresh onto an instance this host has.
		sink, err = d.Instances.PrepareRefresh(proj, &req)
	} else {
		req.Source.Refresh = false // nothing to refresh: a copy
		sink, release, err = d.Instances.PrepareMigration(proj, &req)
	}
	if err != nil {
		return fail(err)
	}
	return d.startMigrationSink("Creating instance", req.Name, resources(project.StoreKey(proj, req.Name)), from, dialer, sink, release)
}

// statefulRefusal is the 400 for stateful work (what): CRIU's check
// fails here (its reason quoted), or, where it passes, Lodge does not
// drive CRIU yet. Either way the instance is not touched.
func statefulRefusal(r *http.Request, what string) error {
	if err := migration.CheckCRIU(r.Context()); err != nil {
		return apierr.BadRequest("%s: %v", what, err)
	}
	return apierr.BadRequest("%s: Lodge does not checkpoint instances with CRIU yet", what)
}

// migrationDialer connects to another host's migration websockets,
// trusting only the certificate the client gave for it.
func migrationDialer(certPEM string) (*websocket.Dialer, error) {
	if certPEM == "" {
		return nil, apierr.BadRequest("a migration needs the other host's certificate")
	}
	cfg, err := trust.ClientConfig(certPEM, nil)
	if err != nil {
		return nil, apierr.BadRequest("the other host's certificate: %v", err)
	}
	return &websocket.Dialer{TLSClientConfig: cfg, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: 1 << 16, WriteBufferSize: 1 << 16}, nil
}

// dialMigration connects the control and fs websockets of the migration
// operation at opURL (https://host/1.0/operations/<id>).
func dialMigration(ctx context.Context, dialer *websocket.Dialer, opURL string, secrets map[string]string) (control, fs *migration.Conn, err error) {
	u, err := url.Parse(opURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || !strings.HasPrefix(u.Path, "/1.0/operations/") || strings.Count(u.Path, "/") != 3 {
		return nil, nil, apierr.BadRequest("the other host's operation %q is not https://HOST/1.0/operations/ID", opURL)
	}
	conns := map[string]*migration.Conn{}
	for _, ch := range migrationChannels {
		ws := url.URL{Scheme: "wss", Host: u.Host, Path: u.Path + "/websocket", RawQuery: url.Values{"secret": {secrets[ch]}}.Encode()}
		c, resp, err := dialer.DialContext(ctx, ws.String(), nil)
		if err != nil {
			for _, c := range conns {
				c.Disconnect()
			}
			if resp != nil {
				err = fmt.Errorf("%w (%s)", err, resp.Status)
			}
			return nil, nil, fmt.Errorf("connect to the other host's %s websocket: %w", ch, err)
		}
		conns[ch] = migration.NewConn(c)
	}
	return conns["control"], conns["fs"], nil
}

func closeMigration(conns ...*migration.Conn) {
	for _, c := range conns {
		c.Disconnect()
	}
}

// reportProgress shows the bytes moved and their rate in the operation's
// fs_progress, as LXD does, every second until stopped, and once more
// then: the finished operation tells what was moved.
func reportProgress(op *operation.Op, n *atomic.Int64, name string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	var last int64 = -1
	show := func() {
		v := n.Load()
		if v == last {
			return
		}
		last = v
		rate := float64(v) / max(time.Since(start).Seconds(), 0.001)
		op.SetMetadata(map[string]any{"fs_progress": fmt.Sprintf("%s: %s (%s/s)", name, byteSize(float64(v)), byteSize(rate))})
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				show()
				return
			case <-tick.C:
				show()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// byteSize writes n bytes as LXD's progress does (1000-based units).
func byteSize(n float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for n >= 1000 && i < len(units)-1 {
		n /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f%s", n, units[i])
	}
	return fmt.Sprintf("%.2f%s", n, units[i])
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

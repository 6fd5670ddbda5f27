// Package daemon is lodged's HTTP server: the LXD-compatible REST API on a
// unix socket, with endpoints declared as data in one table.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/dnszone"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/instance"
	"github.com/lodge-project/lodge/internal/network"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/projects"
	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/trust"
	"github.com/lodge-project/lodge/internal/version"
	"github.com/lodge-project/lodge/internal/warning"
)

// Version is lodged's version as /1.0 reports it.
const Version = version.Version

// defaultProject is the one project there is.
const defaultProject = project.Default

// requestProject is the project a request is for (?project=, else the
// default one; the handler wrapper refuses any other for now).
func requestProject(r *http.Request) string {
	return project.Name(r.URL.Query().Get("project"))
}

// instanceKey is the store key of the instance a request names: the
// instance service knows instances by {project, name} through it.
func instanceKey(r *http.Request) string {
	return project.StoreKey(requestProject(r), r.PathValue("name"))
}

// Daemon serves the API.
type Daemon struct {
	Dir       string
	Instances *instance.Service
	Images    *image.Service
	Networks  *network.Service
	Zones     *dnszone.Service
	Pools     *storage.Pools
	Ops       *operation.Manager
	Bus       *event.Bus
	Log       *slog.Logger
	DB        *store.Store
	Trust     *trust.Store
	Warnings  *warning.Service
	Projects  *projects.Service
	server    *http.Server
	https     httpsState
	// config caches the server config (serverconfig.go).
	config atomic.Pointer[map[string]string]
	// AllowTLS12 lets HTTPS clients use TLS 1.2 (1.3 only by default).
	AllowTLS12 bool
	// trustGen counts the trust store's edits and removals (https.go).
	trustGen atomic.Uint64
	// info caches GET /1.0's answer (handlers_server.go).
	info    atomic.Pointer[serverInfoCache]
	infoGen atomic.Uint64
}

type handlerFunc func(d *Daemon, r *http.Request) response

// route is one endpoint: a Go 1.22 mux pattern and its handler.
type route struct {
	pattern string
	handler handlerFunc
}

// routes is the whole API. /1.0/containers/... serves the same handlers
// for older clients (Debian's pylxd).
func routes() []route {
	rs := []route{
		{"GET /", rootGet},
		{"GET /1.0", serverGet},
		{"PUT /1.0", serverPut},
		{"PATCH /1.0", serverPut},
		{"GET /1.0/events", eventsGet},
		{"GET /1.0/operations", operationsGet},
		{"GET /1.0/operations/{id}", operationGet},
		{"DELETE /1.0/operations/{id}", operationDelete},
		{"GET /1.0/operations/{id}/wait", operationWait},
		{"GET /1.0/operations/{id}/websocket", operationWebsocket},
		{"GET /streams/v1/index.json", streamsIndexGet},
		{"GET /streams/v1/images.json", streamsProductsGet},
		{"GET /images/{fp}/{file}", streamsFileGet},
		{"GET /1.0/images", imagesGet},
		{"POST /1.0/images", imagesPost},
		{"GET /1.0/images/{fp}", imageGet},
		{"PUT /1.0/images/{fp}", imagePut},
		{"PATCH /1.0/images/{fp}", imagePatch},
		{"POST /1.0/images/{fp}/{sub}", imageSubPost},
		{"DELETE /1.0/images/{fp}", imageDelete},
		// GET /1.0/images/aliases/{name} and /1.0/images/{fp}/export overlap as mux patterns.
		{"GET /1.0/images/{fp}/{sub}", imageSubGet},
		{"GET /1.0/images/aliases", aliasesGet},
		{"POST /1.0/images/aliases", aliasesPost},
		{"PUT /1.0/images/aliases/{name}", aliasPut},
		{"PATCH /1.0/images/aliases/{name}", aliasPatch},
		{"POST /1.0/images/aliases/{name}", aliasPost},
		{"DELETE /1.0/images/aliases/{name}", aliasDelete},
		{"GET /1.0/profiles", profilesGet},
		{"POST /1.0/profiles", profilesPost},
		{"GET /1.0/profiles/{name}", profileGet},
		{"PUT /1.0/profiles/{name}", profilePut},
		{"PATCH /1.0/profiles/{name}", profilePatch},
		{"POST /1.0/profiles/{name}", profilePost},
		{"DELETE /1.0/profiles/{name}", profileDelete},
		{"GET /1.0/resources", resourcesGet},
		{metricsRoute, metricsGet},
		{"GET /1.0/projects", projectsGet},
		{"POST /1.0/projects", projectsPost},
		{"GET /1.0/projects/{name}", projectGet},
		{"PUT /1.0/projects/{name}", projectPut},
		{"PATCH /1.0/projects/{name}", projectPatch},
		{"POST /1.0/projects/{name}", projectPost},
		{"DELETE /1.0/projects/{name}", projectDelete},
		{"GET /1.0/projects/{name}/state", projectStateGet},
		{"GET /1.0/warnings", warningsGet},
		{"GET /1.0/warnings/{uuid}", warningGet},
		{"PUT /1.0/warnings/{uuid}", warningPut},
		{"PATCH /1.0/warnings/{uuid}", warningPut},
		{"DELETE /1.0/warnings/{uuid}", warningDelete},
		{"GET /1.0/certificates", certificatesGet},
		{"POST /1.0/certificates", certificatesPost},
		{"GET /1.0/certificates/{fp}", certificateGet},
		{"PUT /1.0/certificates/{fp}", certificatePut},
		{"PATCH /1.0/certificates/{fp}", certificatePut},
		{"DELETE /1.0/certificates/{fp}", certificateDelete},
		{"GET /1.0/storage-pools", poolsGet},
		{"POST /1.0/storage-pools", poolsPost},
		{"GET /1.0/storage-pools/{name}", poolGet},
		{"PUT /1.0/storage-pools/{name}", poolPut},
		{"PATCH /1.0/storage-pools/{name}", poolPatch},
		{"DELETE /1.0/storage-pools/{name}", poolDelete},
		{"GET /1.0/storage-pools/{name}/resources", poolResources},
		{"GET /1.0/storage-pools/{pool}/volumes", volumesGet},
		{"POST /1.0/storage-pools/{pool}/volumes", volumesPost},
		{"GET /1.0/storage-pools/{pool}/volumes/{type}", volumesGet},
		{"POST /1.0/storage-pools/{pool}/volumes/{type}", volumesPost},
		{"GET /1.0/storage-pools/{pool}/volumes/{type}/{name}", volumeGet},
		{"PUT /1.0/storage-pools/{pool}/volumes/{type}/{name}", volumePut},
		{"PATCH /1.0/storage-pools/{pool}/volumes/{type}/{name}", volumePatch},
		{"DELETE /1.0/storage-pools/{pool}/volumes/{type}/{name}", volumeDelete},
		{"POST /1.0/storage-pools/{pool}/volumes/{type}/{name}", volumePost},
		{"GET /1.0/storage-pools/{pool}/volumes/{type}/{name}/state", volumeStateGet},
		{"GET /1.0/storage-pools/{pool}/volumes/{type}/{name}/backups", volumeBackupsGet},
		{"POST /1.0/storage-pools/{pool}/volumes/{type}/{name}/backups", volumeBackupsPost},
		{"GET /1.0/storage-pools/{pool}/volumes/{type}/{name}/backups/{backup}", volumeBackupGet},
		{"POST /1.0/storage-pools/{pool}/volumes/{type}/{name}/backups/{backup}", volumeBackupPost},
		{"DELETE /1.0/storage-pools/{pool}/volumes/{type}/{name}/backups/{backup}", volumeBackupDelete},
		{"GET /1.0/storage-pools/{pool}/volumes/{type}/{name}/backups/{backup}/export", volumeBackupExport},
		{"GET /1.0/storage-pools/{pool}/volumes/{type}/{name}/snapshots", volumeSnapshotsGet},
		{"POST /1.0/storage-pools/{pool}/volumes/{type}/{name}/snapshots", volumeSnapshotsPost},
		{"GET /1.0/storage-pools/{pool}/volumes/{type}/{name}/snapshots/{snap}", volumeSnapshotGet},
		{"PUT /1.0/storage-pools/{pool}/volumes/{type}/{name}/snapshots/{snap}", volumeSnapshotPut},
		{"POST /1.0/storage-pools/{pool}/volumes/{type}/{name}/snapshots/{snap}", volumeSnapshotPost},
		{"DELETE /1.0/storage-pools/{pool}/volumes/{type}/{name}/snapshots/{snap}", volumeSnapshotDelete},
		{"GET /1.0/networks", networksGet},
		{"POST /1.0/networks", networksPost},
		{"GET /1.0/networks/{name}", networkGet},
		{"PUT /1.0/networks/{name}", networkPut},
		{"PATCH /1.0/networks/{name}", networkPatch},
		{"POST /1.0/networks/{name}", networkPost},
		{"DELETE /1.0/networks/{name}", networkDelete},
		{"GET /1.0/networks/{name}/state", networkStateGet},
		{"GET /1.0/networks/{name}/leases", networkLeasesGet},
		{"GET /1.0/network-zones", networkZonesGet},
		{"POST /1.0/network-zones", networkZonesPost},
		{"GET /1.0/network-zones/{zone}", networkZoneGet},
		{"PUT /1.0/network-zones/{zone}", networkZonePut},
		{"PATCH /1.0/network-zones/{zone}", networkZonePut},
		{"DELETE /1.0/network-zones/{zone}", networkZoneDelete},
		{"GET /1.0/network-zones/{zone}/records", networkZoneRecordsGet},
		{"POST /1.0/network-zones/{zone}/records", networkZoneRecordsPost},
		{"GET /1.0/network-zones/{zone}/records/{name}", networkZoneRecordGet},
		{"PUT /1.0/network-zones/{zone}/records/{name}", networkZoneRecordPut},
		{"PATCH /1.0/network-zones/{zone}/records/{name}", networkZoneRecordPut},
		{"DELETE /1.0/network-zones/{zone}/records/{name}", networkZoneRecordDelete},
		{"GET /1.0/network-acls", networkACLsGet},
		{"POST /1.0/network-acls", networkACLsPost},
		{"GET /1.0/network-acls/{name}", networkACLGet},
		{"PUT /1.0/network-acls/{name}", networkACLPut},
		{"PATCH /1.0/network-acls/{name}", networkACLPut},
		{"POST /1.0/network-acls/{name}", networkACLPost},
		{"DELETE /1.0/network-acls/{name}", networkACLDelete},
		{"GET /1.0/networks/{name}/forwards", networkForwardsGet},
		{"POST /1.0/networks/{name}/forwards", networkForwardsPost},
		{"GET /1.0/networks/{name}/forwards/{listen}", networkForwardGet},
		{"PUT /1.0/networks/{name}/forwards/{listen}", networkForwardPut},
		{"PATCH /1.0/networks/{name}/forwards/{listen}", networkForwardPut},
		{"DELETE /1.0/networks/{name}/forwards/{listen}", networkForwardDelete},
	}
	for _, base := range []string{"/1.0/instances", "/1.0/containers"} {
		rs = append(rs,
			route{"GET " + base, instancesGet},
			route{"POST " + base, instancesPost},
			route{"PUT " + base, instancesPut},
			route{"GET " + base + "/{name}", instanceGet},
			route{"PUT " + base + "/{name}", instancePut},
			route{"PATCH " + base + "/{name}", instancePatch},
			route{"POST " + base + "/{name}", instancePost},
			route{"DELETE " + base + "/{name}", instanceDelete},
			route{"GET " + base + "/{name}/state", instanceStateGet},
			route{"PUT " + base + "/{name}/state", instanceStatePut},
			route{"POST " + base + "/{name}/exec", instanceExecPost},
			route{"GET " + base + "/{name}/metadata", instanceMetadataGet},
			route{"PUT " + base + "/{name}/metadata", instanceMetadataPut},
			route{"PATCH " + base + "/{name}/metadata", instanceMetadataPut},
			route{"GET " + base + "/{name}/metadata/templates", instanceTemplatesGet},
			route{"POST " + base + "/{name}/metadata/templates", instanceTemplatePost},
			route{"PUT " + base + "/{name}/metadata/templates", instanceTemplatePost},
			route{"DELETE " + base + "/{name}/metadata/templates", instanceTemplateDelete},
			route{"GET " + base + "/{name}/logs", instanceLogsGet},
			route{"GET " + base + "/{name}/logs/{file}", instanceLogGet},
			route{"DELETE " + base + "/{name}/logs/{file}", instanceLogDelete},
			route{"GET " + base + "/{name}/console", instanceConsoleGet},
			route{"POST " + base + "/{name}/console", instanceConsolePost},
			route{"DELETE " + base + "/{name}/console", instanceConsoleDelete},
			route{"GET " + base + "/{name}/files", instanceFileGet},
			route{"POST " + base + "/{name}/files", instanceFilePost},
			route{"DELETE " + base + "/{name}/files", instanceFileDelete},
			route{"GET " + base + "/{name}/backups", backupsGet},
			route{"POST " + base + "/{name}/backups", backupsPost},
			route{"GET " + base + "/{name}/backups/{backup}", backupGet},
			route{"POST " + base + "/{name}/backups/{backup}", backupPost},
			route{"DELETE " + base + "/{name}/backups/{backup}", backupDelete},
			route{"GET " + base + "/{name}/backups/{backup}/export", backupExport},
			route{"GET " + base + "/{name}/snapshots", snapshotsGet},
			route{"POST " + base + "/{name}/snapshots", snapshotsPost},
			route{"GET " + base + "/{name}/snapshots/{snap}", snapshotGet},
			route{"PUT " + base + "/{name}/snapshots/{snap}", snapshotPut},
			route{"PATCH " + base + "/{name}/snapshots/{snap}", snapshotPut},
			route{"POST " + base + "/{name}/snapshots/{snap}", snapshotPost},
			route{"DELETE " + base + "/{name}/snapshots/{snap}", snapshotDelete},
		)
	}
	return rs
}

// Handler builds the HTTP handler with one wrapper for logging and errors.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes() {
		h := rt.handler
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			resp := h(d, r)
			if resp == nil {
				return // the handler took over the connection (websockets)
			}
			resp.write(w)
			d.Log.Debug("request", "method", r.Method, "url", r.URL.String(), "took", time.Since(start))
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// LXD clients send paths with a trailing slash sometimes, and ?project=.
		if len(r.URL.Path) > 1 && strings.HasSuffix(r.URL.Path, "/") {
			r.URL.Path = strings.TrimSuffix(r.URL.Path, "/")
		}
		d.setCORSHeaders(w, r)
		if r.Method == http.MethodOptions {
			return // a browser's preflight: the headers are the answer
		}
		_, pattern := mux.Handler(r)
		if pattern == "" {
			errResp{notFoundOrMethod(r)}.write(w)
			return
		}
		trusted, restricted := d.client(r)
		if !trusted && !untrustedRoutes[pattern] && !publicRoutes[pattern] && !(pattern == metricsRoute && d.metricsAllowed(r)) {
			errResp{apierr.ErrForbidden}.write(w)
			return
		}
		if trusted && restricted != nil && !restrictedMay(pattern, r, restricted, d.ownNetworks(r)) {
			errResp{apierr.ErrForbidden}.write(w)
			return
		}
		ctx := context.WithValue(r.Context(), trustKey{}, trusted)
		if trusted && restricted != nil {
			ctx = context.WithValue(ctx, restrictKey{}, restricted)
		}
		r = r.WithContext(ctx)
		// A request in a project that does not exist acts on nothing,
		// rather than on the default project.
		if p := r.URL.Query().Get("project"); p != "" && p != defaultProject && (d.Projects == nil || !d.Projects.Exists(p)) {
			errResp{apierr.NotFound("Project not found")}.write(w)
			return
		}
		mux.ServeHTTP(w, r) // it sets the path values; Handler does not

	})
}

// Serve listens on the unix socket until ctx ends.
func (d *Daemon) Serve(ctx context.Context, socket string) error {
	_ = os.Remove(socket)
	old := unix.Umask(0o117)
	ln, err := net.Listen("unix", socket)
	unix.Umask(old)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", socket, err)
	}
	if err := os.Chmod(socket, 0o660); err != nil {
		return err
	}
	if err := d.startHTTPS(ctx); err != nil {
		return err
	}
	d.server = &http.Server{Handler: d.Handler(), BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.server.Shutdown(sctx)
	}()
	err = d.server.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func osRelease() (name, version string) {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS, ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		v = strings.Trim(v, `"`)
		switch k {
		case "NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	return name, version
}

func hostName() string {
	h, _ := os.Hostname()
	return h
}

package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/project"
	hostres "github.com/lodge-project/lodge/internal/resources"
	"github.com/lodge-project/lodge/internal/store"
)

func notFoundOrMethod(r *http.Request) error {
	return apierr.NotFound("%s %s: no such endpoint", r.Method, r.URL.Path)
}

func rootGet(d *Daemon, r *http.Request) response {
	if r.URL.Path != "/" {
		return fail(notFoundOrMethod(r))
	}
	return ok([]string{"/1.0"})
}

func serverGet(d *Daemon, r *http.Request) response {
	if !isTrusted(r) {
		// An untrusted client learns what to talk and that it is not
		// trusted, nothing of the host.
		return ok(map[string]any{"api_extensions": apiExtensions, "api_status": "stable", "api_version": "1.0",
			"auth": "untrusted", "auth_methods": []string{"tls"}, "public": false})
	}
	body, err := d.serverInfo()
	if err != nil {
		return fail(err)
	}
	return rawResp(func(w http.ResponseWriter) {
		w.Header().Set("ETag", store.ETag(1))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// serverInfoTTL bounds how long GET /1.0's answer is reused: the host's
// addresses (shown when listening on all of them) may change under it.
const serverInfoTTL = 10 * time.Second

type serverInfoCache struct {
	body []byte
	made time.Time
	gen  uint64
}

// serverInfo is GET /1.0's whole answer to a trusted client, made once
// and reused until the config or the listener changes (dropServerInfo),
// or serverInfoTTL passes: the request every client starts with costs a
// write, not a render.
func (d *Daemon) serverInfo() ([]byte, error) {
	gen := d.infoGen.Load()
	if c := d.info.Load(); c != nil && c.gen == gen && time.Since(c.made) < serverInfoTTL {
		return c.body, nil
	}
	osName, osVersion := osRelease()
	certPEM, certFP := d.serverCertificate()
	srv := api.Server{
		APIExtensions: apiExtensions, APIStatus: "stable", APIVersion: "1.0", Auth: "trusted",
		AuthMethods: []string{"tls"}, Public: false, Config: d.shownConfig(),
		Environment: api.ServerEnvironment{
			Addresses: d.httpsAddresses(), Certificate: certPEM, CertificateFingerprint: certFP,
			Architectures: []string{image.Architecture()}, Driver: "lodge",
			DriverVersion: Version, Firewall: "nftables", Kernel: "Linux", KernelArchitecture: image.Architecture(),
			KernelFeatures: map[string]string{"idmapped_mounts": "true", "seccomp_listener": "false"},
			KernelVersion:  kernelVersion(), OSName: osName, OSVersion: osVersion, Project: project.Default,
			Server: "lodge", ServerName: hostName(), ServerPid: os.Getpid(), ServerVersion: Version,
			Storage: "dir", StorageVersion: "1",
		},
	}
	md, err := json.Marshal(srv)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(api.Response{Type: api.SyncResponse, Status: "Success", StatusCode: api.Success, Metadata: md})
	if err != nil {
		return nil, err
	}
	body = append(body, '\n')
	// Made before a change that dropped it: stored, but never served.
	d.info.Store(&serverInfoCache{body: body, made: time.Now(), gen: gen})
	return body, nil
}

// dropServerInfo makes the next GET /1.0 render its answer again.
func (d *Daemon) dropServerInfo() { d.infoGen.Add(1) }

// serverPut is PUT /1.0 (the config replaced: keys left out are unset)
// and PATCH /1.0 (merged).
func serverPut(d *Daemon, r *http.Request) response {
	var req struct {
		Config map[string]any `json:"config"`
	}
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.updateServerConfig(req.Config, r.Method == http.MethodPut); err != nil {
		return fail(err)
	}
	return empty()
}

// resourcesGet is GET /1.0/resources: the host's CPUs and memory (the
// resources extension; lxc info --resources, lxc storage info).
func resourcesGet(d *Daemon, r *http.Request) response {
	res, err := hostres.Host{Root: "/"}.Get()
	if err != nil {
		return fail(err)
	}
	return ok(res)
}

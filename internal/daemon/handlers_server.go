package daemon

import (
	"net/http"
	"os"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/image"
	"github.com/lodge-project/lodge/internal/project"
	hostres "github.com/lodge-project/lodge/internal/resources"
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
	osName, osVersion := osRelease()
	return okETag(api.Server{
		APIExtensions: apiExtensions, APIStatus: "stable", APIVersion: "1.0", Auth: "trusted",
		AuthMethods: []string{"tls"}, Public: false, Config: map[string]any{},
		Environment: api.ServerEnvironment{
			Addresses: []string{}, Architectures: []string{image.Architecture()}, Driver: "lodge",
			DriverVersion: Version, Firewall: "nftables", Kernel: "Linux", KernelArchitecture: image.Architecture(),
			KernelFeatures: map[string]string{"idmapped_mounts": "true", "seccomp_listener": "false"},
			KernelVersion:  kernelVersion(), OSName: osName, OSVersion: osVersion, Project: project.Default,
			Server: "lodge", ServerName: hostName(), ServerPid: os.Getpid(), ServerVersion: Version,
			Storage: "dir", StorageVersion: "1",
		},
	}, 1)
}

func serverPut(d *Daemon, r *http.Request) response {
	var req struct {
		Config map[string]any `json:"config"`
	}
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	// No server key is honoured yet: setting one is refused by name.
	// Unsetting one (an empty value, as clients send back the config they
	// read) changes nothing and is accepted.
	for k, v := range req.Config {
		if v != nil && v != "" {
			return fail(apierr.BadRequest("server config key %q is not supported by this release", k))
		}
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

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
	if !d.trusted(r) {
		// An untrusted client learns what to talk and that it is not
		// trusted, nothing of the host.
		return ok(map[string]any{"api_extensions": apiExtensions, "api_status": "stable", "api_version": "1.0",
			"auth": "untrusted", "auth_methods": []string{"tls"}, "public": false})
	}
	osName, osVersion := osRelease()
	certPEM, certFP := d.serverCertificate()
	return okETag(api.Server{
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
	}, 1)
}

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

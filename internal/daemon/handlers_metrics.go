package daemon

import (
	"net/http"

	"github.com/lodge-project/lodge/internal/project"
)

// metricsRoute is the one route a metrics certificate reaches.
const metricsRoute = "GET /1.0/metrics"

// metricsGet serves the running instances' metrics in the Prometheus
// text format (LXD's names), of the project asked for or of all.
func metricsGet(d *Daemon, r *http.Request) response {
	proj := ""
	if p := r.URL.Query().Get("project"); p != "" {
		proj = project.Name(p)
	}
	set, err := d.Instances.Metrics(r.Context(), proj)
	if err != nil {
		return fail(err)
	}
	return rawResp(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = set.WriteTo(w)
	})
}

// metricsAllowed says whether a client the trust store does not trust as
// a client may read the metrics: everyone when core.metrics_authentication
// is false, else one that presents a certificate of type metrics (LXD's
// rule).
func (d *Daemon) metricsAllowed(r *http.Request) bool {
	if d.configValue("core.metrics_authentication", "true") == "false" {
		return true
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	c, ok := d.Trust.Trusted(r.TLS.PeerCertificates[0])
	return ok && c.Type == "metrics"
}

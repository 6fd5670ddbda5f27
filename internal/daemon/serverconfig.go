package daemon

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/backup"
	"github.com/lodge-project/lodge/internal/cron"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/trust"
)

// The server's config (PUT and PATCH /1.0, lxc config set KEY VALUE):
// the keys it honours, each checked, stored in the config bucket, and
// applied at once. A key not in the table is refused by name.

type serverKey struct {
	check func(string) error
	// secret keys are stored hashed and shown as "true" (a client that
	// sends "true" back leaves them as they are), as LXD does.
	secret bool
}

var serverKeys = map[string]serverKey{
	"core.https_address":  {check: checkListenAddress},
	"core.dns_address":    {check: checkListenAddress},
	"core.trust_password": {secret: true},
	// CORS for browsers on other origins, as LXD's.
	"core.https_allowed_origin":      {},
	"core.https_allowed_methods":     {},
	"core.https_allowed_headers":     {},
	"core.https_allowed_credentials": {check: checkBool},
	// How long a trust token lives (1M 2H 3d 4w 5m 6y); forever when unset.
	"core.remote_token_expiry": {check: func(v string) error { _, err := cron.ParseExpiry(v); return err }},
	// Whether GET /1.0/metrics asks for a certificate (true: a client or
	// metrics certificate, as LXD's).
	"core.metrics_authentication": {check: checkBool},
	// Images: how published images are compressed (gzip when unset),
	// days a cached image lives unused (10), hours between refreshes of
	// auto-updating images (6; 0 never), and whether images pulled for a
	// launch auto-update (true).
	"images.compression_algorithm": {check: backup.CheckCompression},
	"images.remote_cache_expiry":   {check: checkCount},
	"images.auto_update_interval":  {check: checkCount},
	"images.auto_update_cached":    {check: checkBool},
}

func checkCount(v string) error {
	if n, err := strconv.Atoi(v); err != nil || n < 0 {
		return fmt.Errorf("%q is not a whole number, 0 or more", v)
	}
	return nil
}

// configValue is a key of the server's config, or def when unset.
func (d *Daemon) configValue(key, def string) string {
	if cfg := d.config.Load(); cfg != nil {
		if v, ok := (*cfg)[key]; ok && v != "" {
			return v
		}
	}
	return def
}

// defaultHTTPSPort is the port of an address given without one.
const defaultHTTPSPort = "8443"

// listenAddress is addr with the default port when it has none.
func listenAddress(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	return net.JoinHostPort(host, defaultHTTPSPort)
}

func checkBool(v string) error {
	if _, err := strconv.ParseBool(v); err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

func checkListenAddress(v string) error {
	host, port, err := net.SplitHostPort(listenAddress(v))
	if err != nil {
		return fmt.Errorf("%q is not an address: give [host]:port, host, or :port", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a port number", v, port)
	}
	if host != "" && net.ParseIP(host) == nil {
		return fmt.Errorf("%q: %q is not an IP address (names are not resolved)", v, host)
	}
	return nil
}

// serverConfig reads the stored config.
func (d *Daemon) serverConfig() (map[string]string, error) {
	out := map[string]string{}
	err := d.DB.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Config) {
			var v string
			if _, err := tx.Get(store.Config, k, &v); err != nil {
				return err
			}
			out[k] = v
		}
		return nil
	})
	return out, err
}

// shownConfig is the config as GET /1.0 shows it: secrets as "true".
func (d *Daemon) shownConfig() map[string]any {
	cfg := d.cachedConfig()
	out := map[string]any{}
	for k, v := range cfg {
		if serverKeys[k].secret {
			v = "true"
		}
		out[k] = v
	}
	return out
}

// updateServerConfig checks and stores changes (a key to "" or nil is
// unset; replace unsets the keys changes leaves out), then applies them.
// A change that cannot be applied is undone.
func (d *Daemon) updateServerConfig(changes map[string]any, replace bool) error {
	old, err := d.serverConfig()
	if err != nil {
		return err
	}
	next := map[string]string{}
	if !replace {
		for k, v := range old {
			next[k] = v
		}
	}
	for k, raw := range changes {
		key, ok := serverKeys[k]
		if !ok {
			if raw == nil || raw == "" {
				continue // an unknown key unset: nothing to do
			}
			return apierr.BadRequest("server config key %q is not supported by this release", k)
		}
		v := ""
		if raw != nil {
			v = fmt.Sprint(raw)
		}
		switch {
		case v == "":
			delete(next, k)
		case key.secret && v == "true" && old[k] != "":
			next[k] = old[k] // sent back as shown: unchanged
		case key.secret:
			if next[k], err = trust.HashPassword(v); err != nil {
				return err
			}
		default:
			if key.check != nil {
				if err := key.check(v); err != nil {
					return apierr.BadRequest("%s: %v", k, err)
				}
			}
			next[k] = v
		}
	}
	if err := d.storeServerConfig(next); err != nil {
		return err
	}
	d.config.Store(&next)
	d.dropServerInfo()
	if next["core.https_address"] != old["core.https_address"] {
		if err := d.listenHTTPS(next["core.https_address"]); err != nil {
			_ = d.storeServerConfig(old)
			d.config.Store(&old)
			d.dropServerInfo()
			_ = d.listenHTTPS(old["core.https_address"])
			return apierr.BadRequest("core.https_address: %v", err)
		}
	}
	if next["core.dns_address"] != old["core.dns_address"] && d.Zones != nil {
		if err := d.Zones.Listen(next["core.dns_address"]); err != nil {
			_ = d.storeServerConfig(old)
			d.config.Store(&old)
			d.dropServerInfo()
			return apierr.BadRequest("core.dns_address: %v", err)
		}
	}
	return nil
}

func (d *Daemon) storeServerConfig(cfg map[string]string) error {
	return d.DB.Update(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Config) {
			if _, ok := cfg[k]; !ok {
				if err := tx.Delete(store.Config, k); err != nil {
					return err
				}
			}
		}
		for k, v := range cfg {
			if _, err := tx.Put(store.Config, k, v, 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// cachedConfig is the stored config as last read or written, for what
// every request looks at (CORS headers).
func (d *Daemon) cachedConfig() map[string]string {
	if c := d.config.Load(); c != nil {
		return *c
	}
	return nil
}

// setCORSHeaders answers a browser on another origin as the
// core.https_allowed_* keys say.
func (d *Daemon) setCORSHeaders(w http.ResponseWriter, r *http.Request) {
	cfg := d.cachedConfig()
	origin := r.Header.Get("Origin")
	for key, header := range map[string]string{
		"core.https_allowed_origin":  "Access-Control-Allow-Origin",
		"core.https_allowed_methods": "Access-Control-Allow-Methods",
		"core.https_allowed_headers": "Access-Control-Allow-Headers",
	} {
		if v := cfg[key]; v != "" && origin != "" {
			w.Header().Set(header, v)
		}
	}
	if on, _ := strconv.ParseBool(cfg["core.https_allowed_credentials"]); on {
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}
}

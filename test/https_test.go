package test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/trust"
)

// TestHTTPSAndTrust serves the API over HTTPS on loopback
// (core.https_address) and drives it as a remote with lxc 5.0.2: an
// untrusted client sees auth: untrusted and nothing else, a wrong trust
// password is refused, the right one trusts the client's certificate,
// and removing it from the trust store takes the access away.
func TestHTTPSAndTrust(t *testing.T) {
	d := startDaemon(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if _, stderr, err := d.LXC("config", "set", "core.https_address", "nowhere:x"); err == nil || !strings.Contains(stderr, "core.https_address") {
		t.Fatalf("a bad address: %v %s", err, stderr)
	}
	if _, stderr, err := d.LXC("config", "set", "core.nonsense", "1"); err == nil || !strings.Contains(stderr, "core.nonsense") {
		t.Fatalf("an unknown key: %v %s", err, stderr)
	}
	d.MustLXC("config", "set", "core.https_address", addr)
	d.MustLXC("config", "set", "core.trust_password", "sesame")
	_, env := d.API("GET", "/1.0", nil)
	var srv api.Server
	if err := json.Unmarshal(env.Metadata, &srv); err != nil {
		t.Fatal(err)
	}
	if srv.Config["core.https_address"] != addr || srv.Config["core.trust_password"] != "true" || srv.Environment.CertificateFingerprint == "" ||
		len(srv.Environment.Addresses) != 1 || srv.Environment.Addresses[0] != addr {
		t.Fatalf("GET /1.0 after setting the keys: %+v %+v", srv.Config, srv.Environment)
	}

	// A client without a trusted certificate.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path string) (int, string) {
		resp, err := insecure.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e api.Response
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, string(e.Metadata) + e.Error
	}
	if st, body := get("/1.0"); st != 200 || !strings.Contains(body, `"auth":"untrusted"`) || strings.Contains(body, "environment") {
		t.Fatalf("untrusted GET /1.0: %d %s", st, body)
	}
	if st, body := get("/1.0/instances"); st != 403 || !strings.HasSuffix(body, "not authorized") {
		t.Fatalf("untrusted GET /1.0/instances: %d %s", st, body)
	}
	// CORS (core.https_allowed_*): a browser's preflight gets the headers.
	if _, stderr, err := d.LXC("config", "set", "core.https_allowed_credentials", "maybe"); err == nil || !strings.Contains(stderr, "true or false") {
		t.Fatalf("a bad boolean: %v %s", err, stderr)
	}
	d.MustLXC("config", "set", "core.https_allowed_origin", "https://panel.example")
	d.MustLXC("config", "set", "core.https_allowed_methods", "GET, POST")
	d.MustLXC("config", "set", "core.https_allowed_credentials", "true")
	preflight, _ := http.NewRequest(http.MethodOptions, "https://"+addr+"/1.0/instances", nil)
	preflight.Header.Set("Origin", "https://panel.example")
	resp, err := insecure.Do(preflight)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://panel.example" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, POST" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("a preflight: %d %v", resp.StatusCode, resp.Header)
	}

	// TLS 1.2 is refused: TLS 1.3 only.
	old := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
	if c, err := tls.Dial("tcp", addr, old); err == nil {
		c.Close()
		t.Fatal("a TLS 1.2 handshake succeeded")
	}

	// lxc 5.0.2 as a remote client, with its own config.
	client := []string{"LXD_CONF=" + filepath.Join(t.TempDir(), "client")}
	lxc := func(args ...string) (string, string, error) { return run(client, "", "lxc", args...) }
	if _, stderr, err := lxc("remote", "add", "wrong", "https://"+addr, "--password", "open", "--accept-certificate"); err == nil {
		t.Fatalf("remote add with a wrong password: %s", stderr)
	}
	if out, stderr, err := lxc("remote", "add", "lodge", "https://"+addr, "--password", "sesame", "--accept-certificate"); err != nil {
		t.Fatalf("remote add: %v %s %s", err, out, stderr)
	}
	if out, stderr, err := lxc("list", "lodge:", "--format", "csv"); err != nil {
		t.Fatalf("lxc list lodge: over HTTPS: %v %s %s", err, out, stderr)
	}
	out := d.MustLXC("config", "trust", "list", "--format", "csv")
	fields := strings.Split(strings.TrimSpace(out), ",")
	if len(fields) < 4 || fields[0] != "client" {
		t.Fatalf("lxc config trust list: %q", out)
	}
	// The store holds it; removed, the client is untrusted again.
	var certs []api.Certificate
	_, env = d.API("GET", "/1.0/certificates?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &certs)
	if len(certs) != 1 || certs[0].Type != "client" || !strings.HasPrefix(certs[0].Certificate, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("the trust store: %+v", certs)
	}
	d.MustLXC("config", "trust", "remove", certs[0].Fingerprint[:12])
	if _, stderr, err := lxc("list", "lodge:"); err == nil || !strings.Contains(stderr, "not authorized") {
		t.Fatalf("lxc list after the certificate went: %v %s", err, stderr)
	}

	// Trust tokens: one per client, single use, revocable.
	token := func(name string) string {
		out := d.MustLXC("config", "trust", "add", "--name", name)
		lines := strings.Fields(out)
		if len(lines) == 0 {
			t.Fatalf("lxc config trust add: %q", out)
		}
		return lines[len(lines)-1]
	}
	if _, stderr, err := d.LXC("config", "trust", "add", "--name", "r", "--restricted", "--projects", "nope"); err == nil || !strings.Contains(stderr, `project "nope" does not exist`) {
		t.Fatalf("a token restricted to a missing project: %v %s", err, stderr)
	}
	laptop := token("laptop")
	if out := d.MustLXC("config", "trust", "list-tokens", "--format", "csv"); !strings.Contains(out, "laptop") {
		t.Fatalf("lxc config trust list-tokens: %q", out)
	}
	second := []string{"LXD_CONF=" + filepath.Join(t.TempDir(), "second")}
	if out, stderr, err := run(second, "", "lxc", "remote", "add", "lodge", laptop); err != nil {
		t.Fatalf("remote add by token: %v %s %s", err, out, stderr)
	}
	if _, stderr, err := run(second, "", "lxc", "list", "lodge:"); err != nil {
		t.Fatalf("lxc list after a token: %v %s", err, stderr)
	}
	third := []string{"LXD_CONF=" + filepath.Join(t.TempDir(), "third")}
	if _, _, err := run(third, "", "lxc", "remote", "add", "lodge", laptop); err == nil {
		t.Fatal("a token was used twice")
	}
	revoked := token("revoked")
	d.MustLXC("config", "trust", "revoke-token", "revoked")
	if _, _, err := run(third, "", "lxc", "remote", "add", "lodge", revoked); err == nil {
		t.Fatal("a revoked token was taken")
	}
	if out := d.MustLXC("config", "trust", "list", "--format", "csv"); !strings.Contains(out, "laptop") {
		t.Fatalf("the token's client is not trusted by its name: %q", out)
	}

	// An open event stream of a client whose certificate goes is cut.
	monitor := exec.Command("lxc", "monitor", "lodge:", "--type", "operation")
	monitor.Env = append(os.Environ(), second...)
	var seen syncBuffer
	monitor.Stdout = &seen
	if err := monitor.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- monitor.Wait() }()
	waitFor(t, "lxc monitor to see an event", 10*time.Second, func() bool {
		_, _, _ = d.LXC("config", "trust", "add", "--name", uniq("probe"))
		return strings.Contains(seen.String(), "Certificate add token")
	})
	certs = nil
	_, env = d.API("GET", "/1.0/certificates?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &certs)
	for _, c := range certs {
		if c.Name == "laptop" {
			d.MustLXC("config", "trust", "remove", c.Fingerprint)
		}
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = monitor.Process.Kill()
		t.Fatal("lxc monitor kept its event stream after its certificate was removed")
	}

	// A restart serves HTTPS again, with the same certificate.
	d.Stop()
	d.Start()
	if st, _ := get("/1.0"); st != 200 {
		t.Fatalf("GET /1.0 over HTTPS after a restart: %d", st)
	}
	_, env = d.API("GET", "/1.0", nil)
	var again api.Server
	_ = json.Unmarshal(env.Metadata, &again)
	if again.Environment.CertificateFingerprint != srv.Environment.CertificateFingerprint {
		t.Fatal("the server certificate changed across a restart")
	}
	d.MustLXC("config", "unset", "core.https_address")
	if _, err := insecure.Get("https://" + addr + "/1.0"); err == nil {
		t.Fatal("HTTPS still served after core.https_address was unset")
	}
}

// syncBuffer is a bytes.Buffer a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const pylxdHTTPS = `
import sys, warnings
warnings.filterwarnings("ignore")
from pylxd import Client
endpoint, crt, key, password = sys.argv[1:5]
c = Client(endpoint=endpoint, cert=(crt, key), verify=False)
print("trusted before", c.trusted)
c.authenticate(password)
print("trusted after", c.trusted)
print("instances", len(c.containers.all()))
print("fingerprint", c.host_info["environment"]["certificate_fingerprint"][:12])
`

// TestPylxdOverHTTPS: Debian's pylxd with a client certificate of its
// own, untrusted at first, trusted by the trust password, then listing.
func TestPylxdOverHTTPS(t *testing.T) {
	d := startDaemon(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.MustLXC("config", "set", "core.https_address", addr)
	d.MustLXC("config", "set", "core.trust_password", "sesame")
	dir := t.TempDir()
	if _, err := trust.ServerCert(dir); err != nil { // any certificate will do as the client's
		t.Fatal(err)
	}
	script := filepath.Join(dir, "https.py")
	if err := os.WriteFile(script, []byte(pylxdHTTPS), 0o644); err != nil {
		t.Fatal(err)
	}
	// requests lets a CA bundle in the environment override verify=False.
	env := []string{"REQUESTS_CA_BUNDLE=", "CURL_CA_BUNDLE="}
	out, errOut, err := run(env, "", "/usr/bin/python3", script, "https://"+addr, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), "sesame")
	if err != nil {
		t.Fatalf("pylxd over HTTPS: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"trusted before False", "trusted after True", "instances 0", "fingerprint "} {
		if !strings.Contains(out, want) {
			t.Fatalf("pylxd output lacks %q:\n%s\n%s", want, out, errOut)
		}
	}
}

// TestCertificateEdits: a trusted certificate's name, type and
// restriction are edited with lxc config trust edit (its GET has an
// ETag); its certificate cannot be swapped, and a PATCH on a stale ETag
// is refused.
func TestCertificateEdits(t *testing.T) {
	d := startDaemon(t)
	cert, err := trust.ClientCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	crt := filepath.Join(t.TempDir(), "c.crt")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	d.MustLXC("config", "trust", "add", crt, "--name", "before")
	fp := trust.Fingerprint(cert.Certificate[0])
	etag := d.ETag("/1.0/certificates/" + fp)
	if etag == "" {
		t.Fatal("GET of a certificate has no ETag")
	}
	shown := d.MustLXC("config", "trust", "show", fp[:12])
	edited := strings.Replace(shown, "name: before", "name: after", 1)
	if _, stderr, err := run(d.lxcEnv(), edited, "lxc", "config", "trust", "edit", fp[:12]); err != nil {
		t.Fatalf("lxc config trust edit: %v %s", err, stderr)
	}
	if out := d.MustLXC("config", "trust", "list", "--format", "csv"); !strings.Contains(out, "after") || strings.Contains(out, "before") {
		t.Fatalf("the edit did not rename the certificate: %q", out)
	}
	if st, _ := d.raw("PATCH", "/1.0/certificates/"+fp, map[string]string{"If-Match": etag}, []byte(`{"name":"stale"}`)); st != 412 {
		t.Fatalf("a PATCH on a stale ETag: %d (want 412)", st)
	}
	other, _ := trust.ClientCert(t.TempDir())
	swapped := fmt.Sprintf(`{"name":"x","type":"client","certificate":%q}`, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate[0]})))
	if st, _ := d.raw("PUT", "/1.0/certificates/"+fp, nil, []byte(swapped)); st != 400 {
		t.Fatalf("a PUT that swaps the certificate: %d (want 400)", st)
	}
	if out := d.MustLXC("config", "trust", "list", "--format", "csv"); !strings.Contains(out, "after") {
		t.Fatalf("refused edits changed the certificate: %q", out)
	}
}

// TestForgedTokensAndMalformedCertificates: a token whose secret was
// made up, one naming another server, an expired one, and certificates
// that are not certificates are refused, and leave the trust store as it
// was.
func TestForgedTokensAndMalformedCertificates(t *testing.T) {
	d := startDaemon(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.MustLXC("config", "set", "core.https_address", addr)
	real := d.MustLXC("config", "trust", "add", "--name", "real")
	fields := strings.Fields(real)
	raw, err := base64.StdEncoding.DecodeString(fields[len(fields)-1])
	if err != nil {
		t.Fatalf("the token is not base64: %v", err)
	}
	var tok map[string]any
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatal(err)
	}
	forge := func(change func(map[string]any)) string {
		c := map[string]any{}
		for k, v := range tok {
			c[k] = v
		}
		change(c)
		data, _ := json.Marshal(c)
		return base64.StdEncoding.EncodeToString(data)
	}
	for name, forged := range map[string]string{
		"a made-up secret":       forge(func(c map[string]any) { c["secret"] = strings.Repeat("0", 64) }),
		"another server":         forge(func(c map[string]any) { c["fingerprint"] = strings.Repeat("ab", 32) }),
		"not base64":             "%%%not-a-token%%%",
		"base64 of nothing good": base64.StdEncoding.EncodeToString([]byte(`{"secret": 3}`)),
	} {
		conf := []string{"LXD_CONF=" + filepath.Join(t.TempDir(), "c")}
		if _, stderr, err := run(conf, "", "lxc", "remote", "add", "x", forged, "--accept-certificate"); err == nil {
			t.Fatalf("a token with %s was taken: %s", name, stderr)
		}
		lodgeConf := []string{"LODGE_CONF=" + filepath.Join(t.TempDir(), "l")}
		if _, stderr, err := run(lodgeConf, "", lodgeBin, "remote", "add", "x", forged, "--accept-certificate"); err == nil {
			t.Fatalf("lodge took a token with %s: %s", name, stderr)
		}
	}
	// The real token still works after the forgeries.
	conf := []string{"LXD_CONF=" + filepath.Join(t.TempDir(), "ok")}
	if _, stderr, err := run(conf, "", "lxc", "remote", "add", "ok", fields[len(fields)-1]); err != nil {
		t.Fatalf("the real token after forged ones: %v %s", err, stderr)
	}

	// An expired token: refused, and no longer listed.
	d.MustLXC("config", "set", "core.remote_token_expiry", "1S")
	late := strings.Fields(d.MustLXC("config", "trust", "add", "--name", "late"))
	time.Sleep(1500 * time.Millisecond)
	conf = []string{"LXD_CONF=" + filepath.Join(t.TempDir(), "late")}
	if _, stderr, err := run(conf, "", "lxc", "remote", "add", "late", late[len(late)-1]); err == nil {
		t.Fatalf("an expired token was taken: %s", stderr)
	}
	if out := d.MustLXC("config", "trust", "list-tokens", "--format", "csv"); strings.Contains(out, "late") {
		t.Fatalf("an expired token is still listed: %q", out)
	}
	if _, stderr, err := d.LXC("config", "set", "core.remote_token_expiry", "1d 2d"); err == nil || !strings.Contains(stderr, "twice") {
		t.Fatalf("an expiry with a unit twice: %v %s", err, stderr)
	}
	d.MustLXC("config", "unset", "core.remote_token_expiry")

	// Certificates that are not: refused with 400, nothing stored.
	for name, cert := range map[string]string{
		"garbage":        "not a certificate",
		"a PEM of junk":  "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"a private key":  "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n",
		"empty base64":   "",
		"truncated cert": "MIIB6jCCAW+gAwIBAgIRAInk2nUHA0lheNEYkWXqgHow",
	} {
		st, env := d.API("POST", "/1.0/certificates", api.CertificatesPost{CertificatePut: api.CertificatePut{Type: "client", Name: "x", Certificate: cert}})
		if st != 400 {
			t.Fatalf("a certificate that is %s: %d %q (want 400)", name, st, env.Error)
		}
	}
	junk := filepath.Join(t.TempDir(), "junk.crt")
	_ = os.WriteFile(junk, []byte("junk"), 0o600)
	if _, stderr, err := d.Lodge("config", "trust", "add", junk); err == nil || !strings.Contains(stderr, "certificate") {
		t.Fatalf("lodge config trust add of a junk file: %v %s", err, stderr)
	}
	var certs []api.Certificate
	_, env := d.API("GET", "/1.0/certificates?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &certs)
	if len(certs) != 1 || certs[0].Name != "real" {
		t.Fatalf("the trust store after the refusals: %+v", certs)
	}
}

// TestTLS12WhenAsked: lodged --allow-tls12 takes TLS 1.2 clients, with
// forward-secret AEAD suites only.
func TestTLS12WhenAsked(t *testing.T) {
	d := startDaemon(t, "--allow-tls12")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.MustLXC("config", "set", "core.https_address", addr)
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("a TLS 1.2 handshake with --allow-tls12: %v", err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Fatalf("negotiated %x", v)
	}
	c.Close()
	weak := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}
	if c, err := tls.Dial("tcp", addr, weak); err == nil {
		c.Close()
		t.Fatal("a CBC suite was taken")
	}
}

// TestRemovedCertificateOnAKeptAliveConnection: a client trusted on an
// open connection loses its access with its certificate, at the next
// request on that same connection.
func TestRemovedCertificateOnAKeptAliveConnection(t *testing.T) {
	d := startDaemon(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.MustLXC("config", "set", "core.https_address", addr)
	d.MustLXC("config", "set", "core.trust_password", "sesame")
	dir := t.TempDir()
	cert, err := trust.ClientCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}}
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			return 0 // the connection was closed: no answer at all
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if st := do("POST", "/1.0/certificates", `{"type": "client", "password": "sesame"}`); st != 200 && st != 201 {
		t.Fatalf("trust by password: %d", st)
	}
	for i := 0; i < 3; i++ { // the connection is kept, and found trusted
		if st := do("GET", "/1.0/instances", ""); st != 200 {
			t.Fatalf("a trusted request: %d", st)
		}
	}
	var certs []api.Certificate
	_, env := d.API("GET", "/1.0/certificates?recursion=1", nil)
	_ = json.Unmarshal(env.Metadata, &certs)
	if len(certs) != 1 {
		t.Fatalf("the trust store: %+v", certs)
	}
	if st, env := d.API("DELETE", "/1.0/certificates/"+certs[0].Fingerprint, nil); st != 200 {
		t.Fatalf("remove the certificate: %d %s", st, env.Error)
	}
	if st := do("GET", "/1.0/instances", ""); st == 200 {
		t.Fatal("a request after the certificate went was answered")
	}
}

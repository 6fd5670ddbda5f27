package test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/lodge-project/lodge/api"
)

// TestImagePush copies an image to a host that cannot be asked to
// download it: pushed by the source (lxc and lodge --mode push), and
// relayed by the client (lodge --mode relay). Then it attacks the
// target's upload tokens as a client the target does not trust: no
// token, a guessed one, an image other than the token's, a spent token,
// a JSON request, a wait without the operation's secret.
func TestImagePush(t *testing.T) {
	a, b := twoHosts(t)
	a.MustLodge("image", "import", busyboxImage(t), "--alias", "bb")
	_, env := a.API("GET", "/1.0/images/aliases/bb", nil)
	var alias api.ImageAliasesEntry
	_ = json.Unmarshal(env.Metadata, &alias)
	fp := alias.Target

	// imageOnB says which aliases b gives fp, failing when b lacks it or
	// made it public.
	imageOnB := func(how string) []string {
		t.Helper()
		st, env := b.API("GET", "/1.0/images/"+fp, nil)
		var img api.Image
		_ = json.Unmarshal(env.Metadata, &img)
		if st != 200 || img.Public {
			t.Fatalf("b's image after %s: %d %+v", how, st, img)
		}
		var names []string
		for _, a := range img.Aliases {
			names = append(names, a.Name)
		}
		return names
	}

	lxc := a.client(t)
	must(t, lxc, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")
	must(t, lxc, "image", "copy", "local:bb", "b:", "--mode", "push", "--alias", "pushed", "--copy-aliases")
	if got := strings.Join(imageOnB("lxc image copy --mode push"), ","); got != "pushed,bb" && got != "bb,pushed" {
		t.Fatalf("the pushed image's aliases on b: %q", got)
	}
	// Launched on b, the pushed image is unpacked and runs.
	must(t, lxc, "launch", "b:pushed", "b:c1")
	if out := must(t, lxc, "exec", "b:c1", "--", "echo", "up"); strings.TrimSpace(out) != "up" {
		t.Fatalf("exec in the pushed image's instance: %q", out)
	}
	must(t, lxc, "delete", "--force", "b:c1")
	must(t, lxc, "image", "delete", "b:pushed")
	// A token for an image the target has already is refused.
	b.MustLodge("image", "import", busyboxImage(t), "--alias", "already")
	if _, stderr, err := lxc("image", "copy", "local:bb", "b:", "--mode", "push"); err == nil || !strings.Contains(stderr, "here already") {
		t.Fatalf("a push of an image b has: %v %s", err, stderr)
	}
	b.MustLodge("image", "delete", "already")

	lodge, _ := a.lodgeClient(t)
	must(t, lodge, "remote", "add", "b", "https://"+b.addr, "--password", "sesame", "--accept-certificate")
	must(t, lodge, "image", "copy", "bb", "b:", "--mode", "push", "--alias", "lp")
	if got := imageOnB("lodge image copy --mode push"); len(got) != 1 || got[0] != "lp" {
		t.Fatalf("the image lodge pushed, on b: aliases %q", got)
	}
	must(t, lodge, "image", "delete", "b:lp")
	must(t, lodge, "image", "copy", "bb", "b:", "--mode", "relay", "--alias", "lr")
	if got := imageOnB("lodge image copy --mode relay"); len(got) != 1 || got[0] != "lr" {
		t.Fatalf("the image lodge relayed, on b: aliases %q", got)
	}
	must(t, lodge, "image", "delete", "b:lr")
	if _, stderr, err := lodge("image", "copy", "bb", "b:", "--mode", "sideways"); err == nil || !strings.Contains(stderr, "give pull, push or relay") {
		t.Fatalf("lodge image copy --mode sideways: %v %s", err, stderr)
	}

	// The attacks, on b's tokens.
	image, err := os.ReadFile(busyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	upload := func(secret string, body []byte) int {
		t.Helper()
		h := http.Header{"Content-Type": {"application/octet-stream"}, "X-Lxd-Fingerprint": {fp}}
		if secret != "" {
			h.Set("X-LXD-secret", secret)
		}
		st, _ := untrustedDo(t, b, "POST", "/1.0/images", bytes.NewReader(body), h)
		return st
	}
	noImage := func(how string) {
		t.Helper()
		if st, _ := b.API("GET", "/1.0/images/"+fp, nil); st != 404 {
			t.Fatalf("b has the image after %s: %d", how, st)
		}
	}
	if st := upload("", image); st != 403 {
		t.Fatalf("an upload without a token: %d", st)
	}
	bLXC := b.client(t)
	token := func() (secret, opURL string) {
		t.Helper()
		out := must(t, bLXC, "query", "-X", "POST", "/1.0/images", "-d", `{"source": {"fingerprint": "`+fp+`", "mode": "push"}}`)
		var op api.Operation
		if err := json.Unmarshal([]byte(out), &op); err != nil {
			t.Fatalf("the push token: %v %s", err, out)
		}
		secret, _ = op.Metadata["secret"].(string)
		return secret, "/1.0/operations/" + op.ID
	}
	secret, _ := token()
	if st := upload("guess", image); st != 403 {
		t.Fatalf("an upload with a guessed token: %d", st)
	}
	if st := upload(secret, []byte("not the image the token is for")); st != 400 {
		t.Fatalf("an upload of another image with the token: %d", st)
	}
	noImage("an upload of another image")
	if st := upload(secret, image); st != 403 {
		t.Fatalf("an upload with a spent token: %d", st)
	}
	noImage("an upload with a spent token")
	_, opURL := token()
	if st, _ := untrustedDo(t, b, "POST", "/1.0/images", strings.NewReader(`{"source": {"type": "image", "mode": "pull", "server": "https://198.18.0.1:8443", "alias": "bb"}}`),
		http.Header{"Content-Type": {"application/json"}}); st != 403 {
		t.Fatalf("an untrusted client's JSON request for an image: %d", st)
	}
	if st, _ := untrustedGet(t, b, opURL+"/wait?timeout=0"); st != 403 {
		t.Fatalf("an untrusted wait without the operation's secret: %d", st)
	}
	if st, _ := untrustedGet(t, b, opURL+"/wait?timeout=0&secret=guess"); st != 403 {
		t.Fatalf("an untrusted wait with a guessed secret: %d", st)
	}
	// A fingerprint that is not one is refused before any token is made.
	if _, stderr, err := bLXC("query", "-X", "POST", "/1.0/images", "-d", `{"source": {"fingerprint": "../x", "mode": "push"}}`); err == nil || !strings.Contains(stderr, "64 hex digits") {
		t.Fatalf("a push token for a bad fingerprint: %v %s", err, stderr)
	}
	// An export to a target that is no https address is refused.
	if _, stderr, err := lxc("query", "-X", "POST", "/1.0/images/"+fp+"/export", "-d", `{"target": "http://198.18.0.2:8443", "secret": "x"}`); err == nil || !strings.Contains(stderr, "https://") {
		t.Fatalf("an export to a plain http target: %v %s", err, stderr)
	}
}

package cli

import (
	"encoding/base64"
	"testing"
)

func TestNormalizeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":                 "https://10.0.0.1:8443",
		"10.0.0.1:9000":            "https://10.0.0.1:9000",
		"https://host":             "https://host:8443",
		"https://host:1/":          "https://host:1",
		"[fd00::1]":                "https://[fd00::1]:8443",
		"https://[fd00::1]:8444/x": "https://[fd00::1]:8444",
	} {
		if got, err := normalizeAddr(in, true); err != nil || got != want {
			t.Errorf("normalizeAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := normalizeAddr("https://images.example/mirror/", false); err != nil || got != "https://images.example/mirror" {
		t.Errorf("an image server keeps its path and port: %q %v", got, err)
	}
	for _, bad := range []string{"http://host", "", "https://user@host", "https://host/?x=1"} {
		if got, err := normalizeAddr(bad, true); err == nil {
			t.Errorf("normalizeAddr(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSplitRemote(t *testing.T) {
	cfg := &remotesConfig{Remotes: map[string]remote{"b": {Addr: "https://b:8443"}}}
	for in, want := range map[string][2]string{
		"b:c1":          {"b", "c1"},
		"b:":            {"b", ""},
		"local:c1":      {"local", "c1"},
		"c1":            {"", "c1"},
		"/usr/bin:/bin": {"", "/usr/bin:/bin"},
		"http://x":      {"", "http://x"},
	} {
		name, rest, _ := cfg.splitRemote(in)
		if name != want[0] || rest != want[1] {
			t.Errorf("splitRemote(%q) = %q %q, want %q", in, name, rest, want)
		}
	}
}

func TestParseToken(t *testing.T) {
	good := base64.StdEncoding.EncodeToString([]byte(`{"client_name":"x","fingerprint":"ab","addresses":["10.0.0.1:8443"],"secret":"s"}`))
	if tok, ok := parseToken(good); !ok || tok.Secret != "s" || tok.Addresses[0] != "10.0.0.1:8443" {
		t.Fatalf("a token: %+v %v", tok, ok)
	}
	for _, bad := range []string{"10.0.0.1", "https://host", base64.StdEncoding.EncodeToString([]byte(`{"secret":""}`)),
		base64.StdEncoding.EncodeToString([]byte(`{"secret":"s","fingerprint":"ab"}`))} {
		if _, ok := parseToken(bad); ok {
			t.Errorf("%q taken for a token", bad)
		}
	}
}

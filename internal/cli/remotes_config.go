package cli

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/client"
	"github.com/lodge-project/lodge/internal/imageserver"
	"github.com/lodge-project/lodge/internal/trust"
)

// The remotes lodge knows: the built-in "local" (lodged's unix socket),
// and servers added with lodge remote add, kept as lxc keeps them in the
// user's config directory: config.yml, servercerts/<remote>.crt (the
// certificate accepted on first contact) and client.crt/client.key (made
// at first use).

// remote is one entry of config.yml.
type remote struct {
	Addr     string `yaml:"addr"`
	Protocol string `yaml:"protocol,omitempty"`
	Public   bool   `yaml:"public,omitempty"`
	AuthType string `yaml:"auth_type,omitempty"`
}

type remotesConfig struct {
	DefaultRemote string            `yaml:"default-remote"`
	Remotes       map[string]remote `yaml:"remotes"`
	// Projects are the current project of each remote (lodge project
	// switch); the default project where unset.
	Projects map[string]string `yaml:"projects,omitempty"`
	dir      string
}

// projectOf is the project commands act in on remote name: --project,
// else the remote's current one.
func (c *remotesConfig) projectOf(name string) string {
	if projectFlag != "" {
		return projectFlag
	}
	if name == "" {
		name = c.DefaultRemote
	}
	return c.Projects[name]
}

const localRemote = "local"

var remoteNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// configDir is $LODGE_CONF, else $XDG_CONFIG_HOME/lodge, else
// ~/.config/lodge.
func configDir() string {
	if d := os.Getenv("LODGE_CONF"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "lodge")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".config", "lodge")
}

func loadRemotes() (*remotesConfig, error) {
	cfg := &remotesConfig{dir: configDir(), Remotes: map[string]remote{}}
	data, err := os.ReadFile(filepath.Join(cfg.dir, "config.yml"))
	if errors.Is(err, os.ErrNotExist) {
		cfg.DefaultRemote = localRemote
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(cfg.dir, "config.yml"), err)
	}
	if cfg.Remotes == nil {
		cfg.Remotes = map[string]remote{}
	}
	if cfg.DefaultRemote == "" {
		cfg.DefaultRemote = localRemote
	}
	return cfg, nil
}

// save writes config.yml whole or not at all.
func (c *remotesConfig) save() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	path := filepath.Join(c.dir, "config.yml")
	if err := os.WriteFile(path+".partial", data, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".partial", path)
}

func (c *remotesConfig) has(name string) bool {
	_, ok := c.Remotes[name]
	return ok || name == localRemote
}

func (c *remotesConfig) names() []string {
	out := []string{localRemote}
	for n := range c.Remotes {
		out = append(out, n)
	}
	sort.Strings(out[1:])
	return out
}

func (c *remotesConfig) serverCertPath(name string) string {
	return filepath.Join(c.dir, "servercerts", name+".crt")
}

// connectTo is a client for the named remote ("" is the default one).
func (c *remotesConfig) connectTo(name string) (*client.Client, error) {
	if name == "" {
		name = c.DefaultRemote
	}
	if name == localRemote {
		cl := localClient()
		cl.Project = c.projectOf(name)
		return cl, nil
	}
	r, ok := c.Remotes[name]
	if !ok {
		return nil, fmt.Errorf("remote %q does not exist (lodge remote list shows them)", name)
	}
	if r.Protocol == "simplestreams" {
		return nil, fmt.Errorf("remote %q is an image server (simplestreams): it only serves images", name)
	}
	pem, err := os.ReadFile(c.serverCertPath(name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	cert, err := trust.ClientCert(c.dir)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := trust.ClientConfig(string(pem), &cert)
	if err != nil {
		return nil, fmt.Errorf("remote %q: %w", name, err)
	}
	cl := client.NewHTTPS(r.Addr, trust.Transport(tlsCfg))
	cl.Project = c.projectOf(name)
	return cl, nil
}

// splitRemote splits "remote:rest" when remote is one lodge knows; an
// argument without one is the default remote's.
func (c *remotesConfig) splitRemote(arg string) (string, string, bool) {
	name, rest, ok := strings.Cut(arg, ":")
	if !ok || !c.has(name) {
		return "", arg, false
	}
	return name, rest, true
}

// normalizeAddr turns host, host:port or https://host[:port][/path] into
// a full https:// URL, with port 8443 for a Lodge or LXD server when none
// is given (an image server's is https' own).
func normalizeAddr(addr string, server bool) (string, error) {
	if strings.Contains(addr, "://") && !strings.HasPrefix(addr, "https://") {
		return "", fmt.Errorf("%q: remotes are reached over https:// only", addr)
	}
	u, err := url.Parse("https://" + strings.TrimPrefix(addr, "https://"))
	if err != nil || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an address: give host, host:port or https://host:port", addr)
	}
	if u.Port() == "" && server {
		u.Host = net.JoinHostPort(u.Hostname(), "8443")
	}
	if server {
		u.Path = ""
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// streamsSource opens the named image server (simplestreams).
func (c *remotesConfig) streamsSource(name string) (streamsLister, error) {
	pem, err := os.ReadFile(c.serverCertPath(name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	src, err := imageserver.OpenSimplestreams(c.Remotes[name].Addr, imageserver.Options{Certificate: string(pem)})
	if err != nil {
		return nil, err
	}
	lister, ok := src.(streamsLister)
	if !ok {
		return nil, fmt.Errorf("remote %q cannot list its images", name)
	}
	return lister, nil
}

// streamsLister is an image server the CLI can both list and ask.
type streamsLister interface {
	imageserver.Source
	imageserver.Lister
}

package cli

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
	"github.com/lodge-project/lodge/internal/trust"
)

func cmdRemote() *cobra.Command {
	cmd := &cobra.Command{Use: "remote", Short: "Manage the servers lodge talks to (remote:name everywhere)"}
	cmd.AddCommand(cmdRemoteAdd(), cmdRemoteList(), cmdRemoteRemove(), cmdRemoteRename(), cmdRemoteSetURL(),
		cmdRemoteSwitch(), cmdRemoteGetDefault())
	return cmd
}

// addToken is a trust token as lxc config trust add prints it.
type addToken struct {
	ClientName  string   `json:"client_name"`
	Fingerprint string   `json:"fingerprint"`
	Addresses   []string `json:"addresses"`
	Secret      string   `json:"secret"`
}

// parseToken reads a trust token; false when s is none.
func parseToken(s string) (addToken, bool) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return addToken{}, false
	}
	var tok addToken
	if json.Unmarshal(raw, &tok) != nil || tok.Secret == "" || tok.Fingerprint == "" || len(tok.Addresses) == 0 {
		return addToken{}, false
	}
	return tok, true
}

type remoteAddOpts struct {
	password, protocol string
	accept, public     bool
}

func cmdRemoteAdd() *cobra.Command {
	var o remoteAddOpts
	cmd := &cobra.Command{
		Use:   "add NAME URL|TOKEN",
		Short: "Add a remote: a Lodge or LXD server (trusted by a token or a password), or an image server",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return remoteAdd(cmd, args[0], args[1], o)
		},
	}
	cmd.Flags().StringVar(&o.password, "password", "", "the server's trust password (core.trust_password)")
	cmd.Flags().BoolVar(&o.accept, "accept-certificate", false, "accept the server's certificate without asking")
	cmd.Flags().StringVar(&o.protocol, "protocol", "lxd", "lxd (a Lodge or LXD server) or simplestreams (an image server)")
	cmd.Flags().BoolVar(&o.public, "public", false, "a public server: no trust asked for, images only")
	return cmd
}

func remoteAdd(cmd *cobra.Command, name, addr string, o remoteAddOpts) error {
	cfg, err := loadRemotes()
	if err != nil {
		return err
	}
	if !remoteNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a remote name: letters, digits, - _ and . only", name)
	}
	if cfg.has(name) {
		return fmt.Errorf("remote %q exists already", name)
	}
	if o.protocol != "lxd" && o.protocol != "simplestreams" {
		return fmt.Errorf("protocol %q is not lxd or simplestreams", o.protocol)
	}
	var fingerprint, token string
	var addrs []string
	if tok, ok := parseToken(addr); ok && o.protocol == "lxd" {
		// The token names the server's certificate: no question to ask.
		fingerprint, token = tok.Fingerprint, addr
		for _, a := range tok.Addresses {
			addrs = append(addrs, "https://"+a)
		}
	} else {
		u, err := normalizeAddr(addr, o.protocol == "lxd")
		if err != nil {
			return err
		}
		addrs = []string{u}
	}
	var lastErr error
	for _, u := range addrs {
		if lastErr = addAt(cmd, cfg, name, u, fingerprint, token, o); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

// addAt adds the remote at URL u: its certificate accepted (or checked
// against a token's fingerprint), then this client trusted by the token
// or password unless the server trusts it already.
func addAt(cmd *cobra.Command, cfg *remotesConfig, name, u, fingerprint, token string, o remoteAddOpts) error {
	parsed, _ := url.Parse(u)
	host := parsed.Host
	if parsed.Port() == "" {
		host += ":443"
	}
	cert, err := trust.ClientCert(cfg.dir)
	if err != nil {
		return err
	}
	peer, err := trust.PeerCertificate(context.Background(), host, &cert)
	if err != nil {
		return err
	}
	got := trust.Fingerprint(peer.Raw)
	pin := true
	switch {
	case fingerprint != "":
		if got != fingerprint {
			return fmt.Errorf("the server at %s presents certificate %s, not the %s the token names: refusing it", u, got[:12], fingerprint[:12])
		}
	case o.protocol == "simplestreams" && verifiedBySystem(peer, parsed.Hostname()):
		pin = false // a CA vouches for it: nothing to pin
	case !o.accept:
		fmt.Fprintf(cmd.OutOrStdout(), "Certificate fingerprint: %s\n", got)
		if !confirm(cmd, "ok (y/n)? ") {
			return fmt.Errorf("the certificate of %s was not accepted (check its fingerprint, then add --accept-certificate)", u)
		}
	}
	pemPath := cfg.serverCertPath(name)
	if pin {
		if err := os.MkdirAll(filepath.Dir(pemPath), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(pemPath, []byte(trust.PEM(peer)), 0o600); err != nil {
			return err
		}
	}
	entry := remote{Addr: u, Protocol: o.protocol, Public: o.public || o.protocol == "simplestreams"}
	if !entry.Public {
		entry.AuthType = "tls"
	}
	cfg.Remotes[name] = entry
	if entry.Public {
		return cfg.save()
	}
	c, err := cfg.connectTo(name)
	if err == nil {
		err = becomeTrusted(cmd, c, token, o.password)
	}
	if err != nil {
		_ = os.Remove(pemPath)
		return err
	}
	return cfg.save()
}

// becomeTrusted asks the server to trust this client's certificate, by
// the token or the password, unless it does already.
func becomeTrusted(cmd *cobra.Command, c *client.Client, token, password string) error {
	var srv api.Server
	if _, err := c.Get("/1.0", &srv); err != nil {
		return err
	}
	if srv.Auth == "trusted" {
		return nil
	}
	secret := token
	if secret == "" {
		secret = password
	}
	if secret == "" {
		if !isTerminal(os.Stdin) {
			return errors.New("the server does not trust this client: give --password, or add it by a token (lxc config trust add there)")
		}
		fmt.Fprint(cmd.OutOrStdout(), "Admin password (or token) for the remote: ")
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		secret = strings.TrimSpace(line)
	}
	host, _ := os.Hostname()
	if _, _, err := c.Query("POST", "/1.0/certificates", api.CertificatesPost{Password: secret, CertificatePut: api.CertificatePut{Type: "client", Name: host}}, ""); err != nil {
		return fmt.Errorf("the server refused to trust this client: %w", err)
	}
	if _, err := c.Get("/1.0", &srv); err != nil {
		return err
	}
	if srv.Auth != "trusted" {
		return errors.New("the server took the certificate but does not trust this client")
	}
	return nil
}

func confirm(cmd *cobra.Command, prompt string) bool {
	if !isTerminal(os.Stdin) {
		return false
	}
	fmt.Fprint(cmd.OutOrStdout(), prompt)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}

// verifiedBySystem says whether the system's CAs vouch for cert as host's.
func verifiedBySystem(cert *x509.Certificate, host string) bool {
	_, err := cert.Verify(x509.VerifyOptions{DNSName: host})
	return err == nil
}

func cmdRemoteList() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the remotes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadRemotes()
			if err != nil {
				return err
			}
			var rows [][]string
			raw := map[string]remote{localRemote: {Addr: "unix://", Protocol: "lxd", AuthType: "file access"}}
			for n, r := range cfg.Remotes {
				raw[n] = r
			}
			for _, n := range cfg.names() {
				r := cfg.Remotes[n]
				addr, protocol, auth, public := r.Addr, r.Protocol, r.AuthType, r.Public
				if n == localRemote {
					addr, protocol, auth = "unix://", "lxd", "file access"
				}
				label := n
				if n == cfg.DefaultRemote {
					label += " (current)"
				}
				rows = append(rows, []string{label, addr, protocol, auth, yesNo(public)})
			}
			return renderList(cmd.OutOrStdout(), format, []string{"NAME", "URL", "PROTOCOL", "AUTH TYPE", "PUBLIC"}, rows, raw)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table, csv, json or yaml")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

func cmdRemoteRemove() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a remote",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := editableRemote(args[0])
			if err != nil {
				return err
			}
			if cfg.DefaultRemote == args[0] {
				return fmt.Errorf("remote %q is the default: switch to another first (lodge remote switch)", args[0])
			}
			delete(cfg.Remotes, args[0])
			_ = os.Remove(cfg.serverCertPath(args[0]))
			return cfg.save()
		},
	}
}

// editableRemote loads the config for a change to remote name, which must
// exist and not be local.
func editableRemote(name string) (*remotesConfig, error) {
	cfg, err := loadRemotes()
	if err != nil {
		return nil, err
	}
	if name == localRemote {
		return nil, errors.New(`"local" is built in: it cannot be changed`)
	}
	if _, ok := cfg.Remotes[name]; !ok {
		return nil, fmt.Errorf("remote %q does not exist", name)
	}
	return cfg, nil
}

func cmdRemoteRename() *cobra.Command {
	return &cobra.Command{
		Use:   "rename OLD NEW",
		Short: "Rename a remote",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := editableRemote(args[0])
			if err != nil {
				return err
			}
			if cfg.has(args[1]) {
				return fmt.Errorf("remote %q exists already", args[1])
			}
			if !remoteNameRE.MatchString(args[1]) {
				return fmt.Errorf("%q is not a remote name", args[1])
			}
			cfg.Remotes[args[1]] = cfg.Remotes[args[0]]
			delete(cfg.Remotes, args[0])
			if err := os.Rename(cfg.serverCertPath(args[0]), cfg.serverCertPath(args[1])); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if cfg.DefaultRemote == args[0] {
				cfg.DefaultRemote = args[1]
			}
			return cfg.save()
		},
	}
}

func cmdRemoteSetURL() *cobra.Command {
	return &cobra.Command{
		Use:   "set-url NAME URL",
		Short: "Change a remote's address (its certificate must stay the same)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := editableRemote(args[0])
			if err != nil {
				return err
			}
			r := cfg.Remotes[args[0]]
			if r.Addr, err = normalizeAddr(args[1], r.Protocol != "simplestreams"); err != nil {
				return err
			}
			cfg.Remotes[args[0]] = r
			return cfg.save()
		},
	}
}

func cmdRemoteSwitch() *cobra.Command {
	return &cobra.Command{
		Use:   "switch NAME",
		Short: "Make a remote the default one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRemotes()
			if err != nil {
				return err
			}
			if !cfg.has(args[0]) {
				return fmt.Errorf("remote %q does not exist", args[0])
			}
			if r := cfg.Remotes[args[0]]; r.Public {
				return fmt.Errorf("remote %q is an image server: it cannot be the default", args[0])
			}
			cfg.DefaultRemote = args[0]
			return cfg.save()
		},
	}
}

func cmdRemoteGetDefault() *cobra.Command {
	return &cobra.Command{
		Use:   "get-default",
		Short: "Show the default remote",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadRemotes()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), cfg.DefaultRemote)
			return nil
		},
	}
}

package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

// preseed is lxd init's preseed document, as far as Lodge has its parts.
type preseed struct {
	Config       map[string]any   `yaml:"config,omitempty"`
	Networks     []preseedNetwork `yaml:"networks"`
	StoragePools []preseedPool    `yaml:"storage_pools"`
	Profiles     []preseedProfile `yaml:"profiles"`
	Cluster      map[string]any   `yaml:"cluster,omitempty"`
	Projects     []map[string]any `yaml:"projects,omitempty"`
}

type preseedNetwork struct {
	Name        string            `yaml:"name"`
	Type        string            `yaml:"type,omitempty"`
	Description string            `yaml:"description,omitempty"`
	Config      map[string]string `yaml:"config"`
	Project     string            `yaml:"project,omitempty"`
}

type preseedPool struct {
	Name        string            `yaml:"name"`
	Driver      string            `yaml:"driver"`
	Description string            `yaml:"description,omitempty"`
	Config      map[string]string `yaml:"config"`
}

type preseedProfile struct {
	Name        string                       `yaml:"name"`
	Description string                       `yaml:"description,omitempty"`
	Config      map[string]string            `yaml:"config"`
	Devices     map[string]map[string]string `yaml:"devices"`
}

// hostInit is `lodge init` without an image: set up the host, as lxd init does.
func hostInit(cmd *cobra.Command, auto, usePreseed, dump bool) error {
	c := connect()
	switch {
	case dump:
		p, err := currentPreseed(c)
		if err != nil {
			return err
		}
		out, _ := yaml.Marshal(p)
		_, err = cmd.OutOrStdout().Write(out)
		return err
	case usePreseed:
		data, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return err
		}
		var p preseed
		if err := yaml.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("the preseed is not valid YAML: %w", err)
		}
		return applyPreseed(c, p)
	case auto:
		return applyPreseed(c, autoPreseed(c))
	}
	p, printIt, err := askPreseed(c, bufio.NewReader(cmd.InOrStdin()), cmd.OutOrStdout())
	if err != nil {
		return err
	}
	if err := applyPreseed(c, p); err != nil {
		return err
	}
	if printIt {
		out, _ := yaml.Marshal(p)
		fmt.Fprintf(cmd.OutOrStdout(), "%s", out)
	}
	return nil
}

const defaultBridge = "lodgebr0"

func autoPreseed(c *client.Client) preseed {
	p := preseed{StoragePools: []preseedPool{{Name: "default", Driver: "dir", Config: map[string]string{}}}}
	var n api.Network
	if _, err := c.Get(networkPath(defaultBridge), &n); err != nil {
		p.Networks = []preseedNetwork{{Name: defaultBridge, Type: "bridge", Config: map[string]string{"ipv4.address": "auto", "ipv6.address": "none"}}}
	}
	p.Profiles = []preseedProfile{{Name: "default", Devices: map[string]map[string]string{
		"root": {"type": "disk", "path": "/", "pool": "default"},
		"eth0": {"type": "nic", "name": "eth0", "network": defaultBridge},
	}}}
	return p
}

// askPreseed asks lxd init's questions; a wrong answer is asked again and
// the end of input is an error.
func askPreseed(c *client.Client, in *bufio.Reader, out io.Writer) (preseed, bool, error) {
	ask := func(question, def string, valid func(string) error) (string, error) {
		for {
			fmt.Fprintf(out, "%s [default=%s]: ", question, def)
			line, err := in.ReadString('\n')
			answer := strings.TrimSpace(line)
			if err != nil && answer == "" {
				if errors.Is(err, io.EOF) {
					return "", errors.New("no answer (end of input): use lodge init --auto or --preseed to run without questions")
				}
				return "", err
			}
			if answer == "" {
				answer = def
			}
			if verr := valid(answer); verr != nil {
				fmt.Fprintf(out, "Invalid input: %v\n", verr)
				continue
			}
			return answer, nil
		}
	}
	yesNo := func(v string) error {
		switch strings.ToLower(v) {
		case "yes", "y", "no", "n":
			return nil
		}
		return errors.New("answer yes or no")
	}
	isYes := func(v string) bool { return strings.HasPrefix(strings.ToLower(v), "y") }
	address := func(family int) func(string) error {
		return func(v string) error {
			if v == "auto" || v == "none" {
				return nil
			}
			p, err := netip.ParsePrefix(v)
			if err != nil || (family == 4) != p.Addr().Is4() {
				return fmt.Errorf("use auto, none or an IPv%d address with its prefix length", family)
			}
			return nil
		}
	}
	p := preseed{StoragePools: []preseedPool{{Name: "default", Driver: "dir", Config: map[string]string{}}}}
	root := map[string]string{"type": "disk", "path": "/", "pool": "default"}
	profile := preseedProfile{Name: "default", Devices: map[string]map[string]string{"root": root}}
	bridge, err := ask("Would you like to create a new local network bridge? (yes/no)", "yes", yesNo)
	if err != nil {
		return p, false, err
	}
	if isYes(bridge) {
		name, err := ask("What should the new bridge be called?", defaultBridge, func(v string) error {
			if len(v) > 15 || v == "" || strings.ContainsAny(v, "/ ") {
				return errors.New("use up to 15 letters, digits, '-', '_' or '.'")
			}
			return nil
		})
		if err != nil {
			return p, false, err
		}
		v4, err := ask("What IPv4 address should be used? (CIDR subnet notation, “auto” or “none”)", "auto", address(4))
		if err != nil {
			return p, false, err
		}
		cfg := map[string]string{"ipv4.address": v4}
		if v4 != "none" {
			nat, err := ask("Would you like Lodge to NAT IPv4 traffic on your bridge? (yes/no)", "yes", yesNo)
			if err != nil {
				return p, false, err
			}
			cfg["ipv4.nat"] = fmt.Sprint(isYes(nat))
		}
		v6, err := ask("What IPv6 address should be used? (CIDR subnet notation, “auto” or “none”)", "none", address(6))
		if err != nil {
			return p, false, err
		}
		cfg["ipv6.address"] = v6
		p.Networks = []preseedNetwork{{Name: name, Type: "bridge", Config: cfg}}
		profile.Devices["eth0"] = map[string]string{"type": "nic", "name": "eth0", "network": name}
	}
	p.Profiles = []preseedProfile{profile}
	printIt, err := ask("Would you like a YAML \"lodge init\" preseed to be printed? (yes/no)", "no", yesNo)
	if err != nil {
		return p, false, err
	}
	return p, isYes(printIt), nil
}

// applyPreseed creates or updates what the preseed names; a part Lodge does
// not have is an error rather than silently skipped.
func applyPreseed(c *client.Client, p preseed) error {
	for k := range p.Config {
		return fmt.Errorf("preseed: server config key %q is not supported yet", k)
	}
	if len(p.Cluster) > 0 {
		return errors.New("preseed: clustering is not supported yet")
	}
	if len(p.Projects) > 0 {
		return errors.New("preseed: projects are not supported yet")
	}
	for _, pool := range p.StoragePools {
		var cur api.StoragePool
		if _, err := c.Get(poolPath(pool.Name), &cur); err == nil {
			if pool.Driver != "" && pool.Driver != cur.Driver {
				return fmt.Errorf("preseed: storage pool %q exists with driver %s, not %s", pool.Name, cur.Driver, pool.Driver)
			}
			continue
		}
		req := api.StoragePoolsPost{Name: pool.Name, Driver: pool.Driver, StoragePoolPut: api.StoragePoolPut{Description: pool.Description, Config: pool.Config}}
		if _, _, err := c.Query("POST", "/1.0/storage-pools", req, ""); err != nil {
			return fmt.Errorf("preseed: storage pool %s: %w", pool.Name, err)
		}
	}
	for _, n := range p.Networks {
		if n.Type != "" && n.Type != "bridge" {
			return fmt.Errorf("preseed: network %q: type %q is not supported (bridge)", n.Name, n.Type)
		}
		var cur api.Network
		if _, err := c.Get(networkPath(n.Name), &cur); err == nil {
			if err := changeNetwork(n.Name, func(cfg map[string]string) error {
				for k, v := range n.Config {
					if v != "auto" || cfg[k] == "" {
						cfg[k] = v
					}
				}
				return nil
			}); err != nil {
				return fmt.Errorf("preseed: network %s: %w", n.Name, err)
			}
			continue
		}
		if _, _, err := c.Query("POST", "/1.0/networks", api.NetworksPost{Name: n.Name, Type: "bridge", Description: n.Description, Config: n.Config}, ""); err != nil {
			return fmt.Errorf("preseed: network %s: %w", n.Name, err)
		}
	}
	for _, pr := range p.Profiles {
		put := api.ProfilePut{Description: pr.Description, Config: pr.Config, Devices: pr.Devices}
		var cur api.Profile
		etag, err := c.Get(profilePath(pr.Name), &cur)
		if err != nil {
			if _, _, err := c.Query("POST", "/1.0/profiles", api.ProfilesPost{Name: pr.Name, ProfilePut: put}, ""); err != nil {
				return fmt.Errorf("preseed: profile %s: %w", pr.Name, err)
			}
			continue
		}
		if put.Config == nil {
			put.Config = cur.Config
		}
		if put.Devices == nil {
			put.Devices = cur.Devices
		}
		if put.Description == "" {
			put.Description = cur.Description
		}
		if _, _, err := c.Query("PUT", profilePath(pr.Name), put, etag); err != nil {
			return fmt.Errorf("preseed: profile %s: %w", pr.Name, err)
		}
	}
	return nil
}

// currentPreseed describes the host as a preseed (lodge init --dump).
func currentPreseed(c *client.Client) (preseed, error) {
	p := preseed{}
	var pools []api.StoragePool
	if _, err := c.Get("/1.0/storage-pools?recursion=1", &pools); err != nil {
		return p, err
	}
	for _, sp := range pools {
		cfg := map[string]string{}
		for k, v := range sp.Config {
			cfg[k] = v
		}
		p.StoragePools = append(p.StoragePools, preseedPool{Name: sp.Name, Driver: sp.Driver, Description: sp.Description, Config: cfg})
	}
	var nets []api.Network
	if _, err := c.Get("/1.0/networks?recursion=1", &nets); err != nil {
		return p, err
	}
	for _, n := range nets {
		if !n.Managed {
			continue // the host's own interfaces are not Lodge's to recreate
		}
		p.Networks = append(p.Networks, preseedNetwork{Name: n.Name, Type: n.Type, Description: n.Description, Config: n.Config})
	}
	var profiles []api.Profile
	if _, err := c.Get("/1.0/profiles?recursion=1", &profiles); err != nil {
		return p, err
	}
	for _, pr := range profiles {
		p.Profiles = append(p.Profiles, preseedProfile{Name: pr.Name, Description: pr.Description, Config: pr.Config, Devices: pr.Devices})
	}
	return p, nil
}

package daemon

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/project"
)

// Projects with features.networks own networks, as in LXD; where LXD
// gives them only OVN networks, Lodge gives them bridges, each with its
// dnsmasq and NAT like the default project's. A bridge's name is a host
// interface, so network names stay unique across projects.

func (d *Daemon) networksProject(r *http.Request) string {
	return d.featureProject(r, "features.networks")
}

// ownNetworks says whether the request's project has networks of its own.
func (d *Daemon) ownNetworks(r *http.Request) bool {
	p := d.networksProject(r)
	return p != project.Default && p == requestProject(r)
}

// checkProjectNetwork applies project proj's rules to its network name,
// about to be made (creating) or given config cfg:
//   - limits.networks bounds how many networks the project has;
//   - a restricted project's networks take the subnets Lodge picks
//     ("auto"), or none: an address of the tenant's choosing could take
//     a subnet the host routes elsewhere and cut the host off from it.
func (d *Daemon) checkProjectNetwork(proj, name string, cfg map[string]string, creating bool) error {
	if project.Name(proj) == project.Default || d.Projects == nil {
		return nil
	}
	pc, err := d.Projects.Config(proj)
	if err != nil {
		return err
	}
	if creating {
		if err := d.fitNetworkLimit(proj, pc, 1); err != nil {
			return err
		}
	}
	if !keys.IsTrue(pc, "restricted") {
		return nil
	}
	var cur map[string]string
	if !creating {
		n, _, err := d.Networks.Get(proj, name)
		if err != nil {
			return err
		}
		cur = n.Config
	}
	for _, k := range []string{"ipv4.address", "ipv6.address"} {
		v := cfg[k]
		if v != "" && v != "auto" && v != "none" && v != cur[k] {
			return apierr.BadRequest("project %q is restricted: a network's %s must be auto or none (Lodge then picks a subnet the host does not use)", proj, k)
		}
	}
	return nil
}

// fitNetworkLimit says whether project proj's networks, and adding more,
// fit limits.networks in its config cfg (when set, or about to be).
func (d *Daemon) fitNetworkLimit(proj string, cfg map[string]string, adding int) error {
	v := cfg["limits.networks"]
	if v == "" || project.Name(proj) == project.Default {
		return nil
	}
	max, _ := strconv.Atoi(v)
	have, err := d.Networks.InProject(proj)
	if err != nil {
		return err
	}
	if len(have)+adding > max {
		return apierr.BadRequest("project %q: limits.networks is %d, and it would have %d networks", proj, max, len(have)+adding)
	}
	return nil
}

// checkSharedNetworkChange refuses a restricted project a change to what
// its networks share with every project (the default project's, when it
// has none of its own): that is the host's to change, not a tenant's.
func (d *Daemon) checkSharedNetworkChange(r *http.Request) error {
	proj := requestProject(r)
	if proj == project.Default || d.Projects == nil || d.networksProject(r) == proj {
		return nil
	}
	pc, err := d.Projects.Config(proj)
	if err != nil {
		return err
	}
	if keys.IsTrue(pc, "restricted") {
		return fmt.Errorf("project %q is restricted, and it has no networks of its own: the default project's networks and ACLs, which every project shares, are the host's to change: %w", proj, apierr.ErrForbidden)
	}
	return nil
}

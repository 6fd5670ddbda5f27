package instance

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/network"
	"github.com/lodge-project/lodge/internal/proxy"
)

// proxySpec is a proxy device as resolved against the instance.
type proxySpec struct {
	Listen, Connect proxy.Endpoint
	BindInstance    bool
	NAT             bool
}

// AllowedPorts limits the host ports proxy devices may listen on (set by
// lodged --proxy-ports); nil allows any.
type AllowedPorts [][2]int

// ParsePorts reads "80,443,8000-8100".
func ParsePorts(v string) (AllowedPorts, error) {
	if v == "" {
		return nil, nil
	}
	var out AllowedPorts
	for _, part := range strings.Split(v, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		lo, err1 := strconv.Atoi(a)
		hi := lo
		var err2 error
		if isRange {
			hi, err2 = strconv.Atoi(b)
		}
		if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo {
			return nil, fmt.Errorf("%q: use ports and ranges, such as 80,443,8000-8100", v)
		}
		out = append(out, [2]int{lo, hi})
	}
	return out, nil
}

func (a AllowedPorts) allows(port int) bool {
	if a == nil {
		return true
	}
	for _, r := range a {
		if port >= r[0] && port <= r[1] {
			return true
		}
	}
	return false
}

func (s *Service) resolveProxy(e Expanded, dev string, d map[string]string) (proxySpec, error) {
	l, _ := proxy.ParseEndpoint(d["listen"])
	c, _ := proxy.ParseEndpoint(d["connect"])
	p := proxySpec{Listen: l, Connect: c, BindInstance: d["bind"] == "instance", NAT: keys.IsTrue(d, "nat")}
	if !p.BindInstance && !s.proxyPorts.allows(l.Port()) {
		return p, apierr.BadRequest("device %q: host port %d is not one proxies may listen on here (lodged --proxy-ports)", dev, l.Port())
	}
	if p.NAT {
		found := false
		for _, nd := range e.Devices {
			if s.nicNetwork(nd) != "" && nd["ipv4.address"] == c.Host() {
				found = true
			}
		}
		if !found {
			return p, apierr.BadRequest("device %q: nat=true needs connect to use the instance's pinned ipv4.address on a managed network", dev)
		}
	}
	return p, nil
}

func proxyKey(instance, dev string) string { return instance + "/" + dev }

// startProxy starts one proxy device of a running instance.
func (s *Service) startProxy(name string, pid int, dev string, p proxySpec) error {
	key := proxyKey(name, dev)
	s.stopProxy(name, dev)
	if p.NAT {
		if s.networks == nil {
			return apierr.BadRequest("device %q: nat=true needs managed networks", dev)
		}
		return s.networks.SetProxyNAT(key, &network.ProxyNAT{Proto: p.Listen.Proto, ListenAddr: p.Listen.Host(),
			ListenPort: p.Listen.Port(), TargetAddr: p.Connect.Host(), TargetPort: p.Connect.Port()})
	}
	px, err := proxy.Start(pid, p.Listen, p.Connect, p.BindInstance)
	if err != nil {
		return apierr.BadRequest("device %q: %v", dev, err)
	}
	s.mu.Lock()
	s.proxies[key] = px
	s.mu.Unlock()
	return nil
}

// stopProxy stops a proxy device (userspace or NAT).
func (s *Service) stopProxy(name, dev string) {
	key := proxyKey(name, dev)
	s.mu.Lock()
	px := s.proxies[key]
	delete(s.proxies, key)
	s.mu.Unlock()
	if px != nil {
		px.Close()
	}
	if s.networks != nil {
		_ = s.networks.SetProxyNAT(key, nil)
	}
}

// startProxies starts every proxy device of a running instance.
func (s *Service) startProxies(name string, pid int, proxies map[string]proxySpec) error {
	devs := make([]string, 0, len(proxies))
	for d := range proxies {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, d := range devs {
		if err := s.startProxy(name, pid, d, proxies[d]); err != nil {
			s.stopProxies(name)
			return err
		}
	}
	return nil
}

// stopProxies stops all of an instance's proxy devices.
func (s *Service) stopProxies(name string) {
	s.mu.Lock()
	var devs []string
	for k := range s.proxies {
		if strings.HasPrefix(k, name+"/") {
			devs = append(devs, strings.TrimPrefix(k, name+"/"))
		}
	}
	s.mu.Unlock()
	for _, d := range devs {
		s.stopProxy(name, d)
	}
	if e, _, err := s.load(name); err == nil {
		for dev, d := range e.Devices {
			if d["type"] == "proxy" && keys.IsTrue(d, "nat") {
				s.stopProxy(name, dev)
			}
		}
	}
}

package device

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/instance/runtime"
	"github.com/lodge-project/lodge/internal/network"
	"github.com/lodge-project/lodge/internal/proxy"
)

// proxyType forwards connections between the host and the instance: a
// userspace proxy in lodged, or (nat=true) DNAT rules in the network's
// nftables table.
type proxyType struct{}

func (proxyType) Keys() []string { return []string{"listen", "connect", "bind", "nat"} }

func (proxyType) Validate(name string, d Config) error {
	l, err := proxy.ParseEndpoint(d["listen"])
	if err != nil {
		return apierr.BadRequest("device %q: listen: %v", name, err)
	}
	c, err := proxy.ParseEndpoint(d["connect"])
	if err != nil {
		return apierr.BadRequest("device %q: connect: %v", name, err)
	}
	if l.Proto != c.Proto {
		return apierr.BadRequest("device %q: listen and connect must use the same protocol", name)
	}
	switch d["bind"] {
	case "", "host", "instance":
	default:
		return apierr.BadRequest("device %q: bind %q: use host or instance", name, d["bind"])
	}
	if keys.IsTrue(d, "nat") && d["bind"] == "instance" {
		return apierr.BadRequest("device %q: nat=true works with bind=host only", name)
	}
	return nil
}

func (proxyType) Resolve(env *Env, inst Instance, name string, d Config) (Device, error) {
	l, _ := proxy.ParseEndpoint(d["listen"])
	c, _ := proxy.ParseEndpoint(d["connect"])
	p := proxyDevice{name: name, listen: l, connect: c, bindInstance: d["bind"] == "instance", nat: keys.IsTrue(d, "nat")}
	if !p.bindInstance && !env.ProxyPorts.allows(l.Port()) {
		return nil, apierr.BadRequest("device %q: host port %d is not one proxies may listen on here (lodged --proxy-ports)", name, l.Port())
	}
	if p.nat {
		found := false
		for _, nd := range inst.Devices {
			if NICNetwork(env.Networks, nd) != "" && nd["ipv4.address"] == c.Host() {
				found = true
			}
		}
		if !found {
			return nil, apierr.BadRequest("device %q: nat=true needs connect to use the instance's pinned ipv4.address on a managed network", name)
		}
	}
	return p, nil
}

// proxyDevice is a resolved proxy device.
type proxyDevice struct {
	name            string
	listen, connect proxy.Endpoint
	bindInstance    bool
	nat             bool
}

func (proxyDevice) Plug(*Env, Instance) (runtime.Device, error) { return nil, nil }
func (proxyDevice) Plugged() runtime.Device                     { return nil }

// Up starts the proxy (or its NAT rules) for the running instance.
func (p proxyDevice) Up(env *Env, inst Instance, pid int) error {
	key := proxyKey(inst.Name, p.name)
	p.Down(env, inst)
	if p.nat {
		if env.Networks == nil {
			return apierr.BadRequest("device %q: nat=true needs managed networks", p.name)
		}
		return env.Networks.SetProxyNAT(key, &network.ProxyNAT{Proto: p.listen.Proto, ListenAddr: p.listen.Host(),
			ListenPort: p.listen.Port(), TargetAddr: p.connect.Host(), TargetPort: p.connect.Port()})
	}
	px, err := proxy.Start(pid, p.listen, p.connect, p.bindInstance)
	if err != nil {
		return apierr.BadRequest("device %q: %v", p.name, err)
	}
	env.Proxies.put(key, px)
	return nil
}

// Down stops the proxy and drops its NAT rules.
func (p proxyDevice) Down(env *Env, inst Instance) {
	key := proxyKey(inst.Name, p.name)
	env.Proxies.stop(key)
	if env.Networks != nil {
		_ = env.Networks.SetProxyNAT(key, nil)
	}
}

// Restore starts the proxy again after a daemon restart.
func (p proxyDevice) Restore(env *Env, inst Instance, pid int) error { return p.Up(env, inst, pid) }

func proxyKey(instance, dev string) string { return instance + "/" + dev }

// Proxies holds the userspace proxies lodged runs, by instance and device.
type Proxies struct {
	mu sync.Mutex
	m  map[string]*proxy.Proxy
}

func (t *Proxies) put(key string, px *proxy.Proxy) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*proxy.Proxy{}
	}
	t.m[key] = px
}

func (t *Proxies) stop(key string) {
	t.mu.Lock()
	px := t.m[key]
	delete(t.m, key)
	t.mu.Unlock()
	if px != nil {
		px.Close()
	}
}

// StopInstance stops every userspace proxy of an instance, including
// those of devices it no longer has.
func (t *Proxies) StopInstance(instance string) {
	t.mu.Lock()
	var keys []string
	for k := range t.m {
		if strings.HasPrefix(k, instance+"/") {
			keys = append(keys, k)
		}
	}
	t.mu.Unlock()
	for _, k := range keys {
		t.stop(k)
	}
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

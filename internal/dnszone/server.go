package dnszone

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/lodge-project/lodge/internal/store"
)

// server answers zone transfers on core.dns_address, UDP and TCP.
type server struct {
	mu       sync.Mutex
	addr     string
	udp, tcp *dns.Server
}

// Listen serves the zones on addr (host:port; port 53 when left out), or
// stops with addr "". The sockets are bound before it returns, so a
// taken address is the caller's error, and the old listener stays.
func (s *Service) Listen(addr string) error {
	sv := &s.server
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if addr == sv.addr {
		return nil
	}
	var udp, tcp *dns.Server
	if addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(strings.Trim(addr, "[]"), "53")
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("DNS on %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			return fmt.Errorf("DNS on %s: %w", addr, err)
		}
		h := handler{zones: s}
		udp = &dns.Server{PacketConn: pc, Handler: h, TsigProvider: tsigKeys{s}}
		tcp = &dns.Server{Listener: ln, Handler: h, TsigProvider: tsigKeys{s}, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
		for _, srv := range []*dns.Server{udp, tcp} {
			go func() {
				if err := srv.ActivateAndServe(); err != nil {
					slog.Warn("DNS server stopped", "address", addr, "err", err)
				}
			}()
		}
	}
	for _, srv := range []*dns.Server{sv.udp, sv.tcp} {
		if srv != nil {
			_ = srv.Shutdown()
		}
	}
	sv.addr, sv.udp, sv.tcp = addr, udp, tcp
	return nil
}

// handler answers AXFR (IXFR: the whole zone too) and SOA queries of the
// zones, to their peers only; to anyone else, and for any zone it does
// not have, the answer is NXDOMAIN, so that nothing leaks which zones
// exist.
type handler struct{ zones *Service }

func (h handler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	refuse := func(code int) {
		m := new(dns.Msg)
		m.SetRcode(r, code)
		_ = w.WriteMsg(m)
	}
	if len(r.Question) != 1 {
		refuse(dns.RcodeFormatError)
		return
	}
	q := r.Question[0]
	if q.Qtype != dns.TypeAXFR && q.Qtype != dns.TypeIXFR && q.Qtype != dns.TypeSOA {
		refuse(dns.RcodeNotImplemented)
		return
	}
	if q.Qtype != dns.TypeSOA && w.LocalAddr().Network() == "udp" {
		// A transfer goes over TCP: the truncated bit sends the client there.
		m := new(dns.Msg)
		m.SetReply(r)
		m.Truncated = true
		_ = w.WriteMsg(m)
		return
	}
	host, _, _ := net.SplitHostPort(w.RemoteAddr().String())
	from, _ := netip.ParseAddr(host)
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	// Who asks is checked before the zone is built: a stranger's query
	// costs a record read, not a walk of the networks and leases.
	z, _, err := store.Get[Record](h.zones.db, store.NetworkZones, name)
	if err != nil || !allowed(z, from.Unmap(), r.IsTsig(), w.TsigStatus() == nil) {
		refuse(dns.RcodeNameError)
		return
	}
	rrs, err := h.zones.content(z)
	if err != nil {
		slog.Warn("network zone not built", "zone", name, "err", err)
		refuse(dns.RcodeServerFailure)
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if q.Qtype == dns.TypeSOA {
		m.Answer = rrs[:1]
	} else {
		m.Answer = append(rrs, rrs[0]) // a transfer ends with the SOA again
	}
	if t := r.IsTsig(); t != nil && w.TsigStatus() == nil {
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
	}
	if err := w.WriteMsg(m); err != nil {
		slog.Warn("DNS answer not sent", "zone", name, "err", err)
	}
}

// allowed says whether a peer of zone z asks: its address, when the peer
// names one, and its TSIG key, named "<zone>_<peer>.", when it has one.
func allowed(z Record, from netip.Addr, t *dns.TSIG, tsigOK bool) bool {
	for peer, p := range peers(z) {
		if a, err := netip.ParseAddr(p.address); p.address != "" && (err != nil || a.Unmap() != from) {
			continue
		}
		if p.key != "" && (t == nil || !tsigOK || !strings.EqualFold(t.Hdr.Name, keyName(z.Name, peer))) {
			continue
		}
		return true
	}
	return false
}

type peer struct{ address, key string }

func peers(z Record) map[string]peer {
	out := map[string]peer{}
	for k, v := range z.Config {
		parts := strings.Split(k, ".")
		if len(parts) != 3 || parts[0] != "peers" {
			continue
		}
		p := out[parts[1]]
		switch parts[2] {
		case "address":
			p.address = v
		case "key":
			p.key = v
		}
		out[parts[1]] = p
	}
	return out
}

// keyName is the TSIG key name of a zone's peer, as LXD names it.
func keyName(zone, peer string) string { return zone + "_" + peer + "." }

// tsigKeys signs and checks with the zones' peer keys, read when a
// message comes (so a key set or removed takes effect at once).
type tsigKeys struct{ zones *Service }

func (k tsigKeys) secret(name string) ([]byte, error) {
	zone, peerName, ok := strings.Cut(strings.TrimSuffix(strings.ToLower(name), "."), "_")
	if ok {
		if z, _, err := store.Get[Record](k.zones.db, store.NetworkZones, zone); err == nil {
			for name, p := range peers(z) {
				if strings.EqualFold(name, peerName) && p.key != "" {
					return decodeSecret(p.key)
				}
			}
		}
	}
	return nil, dns.ErrSecret
}

func (k tsigKeys) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	secret, err := k.secret(t.Hdr.Name)
	if err != nil {
		return nil, err
	}
	var h func() hash.Hash
	switch dns.CanonicalName(t.Algorithm) {
	case dns.HmacSHA1:
		h = sha1.New
	case dns.HmacSHA256:
		h = sha256.New
	case dns.HmacSHA384:
		h = sha512.New384
	case dns.HmacSHA512:
		h = sha512.New
	default:
		return nil, dns.ErrKeyAlg
	}
	mac := hmac.New(h, secret)
	mac.Write(msg)
	return mac.Sum(nil), nil
}

func (k tsigKeys) Verify(msg []byte, t *dns.TSIG) error {
	want, err := k.Generate(msg, t)
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(t.MAC)
	if err != nil || !hmac.Equal(want, got) {
		return dns.ErrSig
	}
	return nil
}

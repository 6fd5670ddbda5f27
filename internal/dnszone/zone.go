// Package dnszone keeps network zones (LXD's network_dns): DNS zones whose
// records Lodge writes from its networks' instances (and records added by
// hand), served to the peers a zone names by zone transfer from a small
// DNS server on core.dns_address. As LXD's, the server answers AXFR, IXFR
// (as a whole transfer) and SOA queries only: it is the primary that an
// operator's DNS servers copy from, not a resolver.
package dnszone

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
)

// ValidateName checks a zone's name: a DNS name of letters, digits and
// dashes, without the trailing dot.
func ValidateName(name string) error {
	if _, ok := dns.IsDomainName(name); !ok || name == "" || strings.HasSuffix(name, ".") || len(name) > 253 {
		return apierr.BadRequest("network zone name %q is not a DNS name (example.net, 2.0.192.in-addr.arpa)", name)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || !labelOK(label) {
			return apierr.BadRequest("network zone name %q: label %q is not letters, digits and dashes", name, label)
		}
	}
	if name != strings.ToLower(name) {
		return apierr.BadRequest("network zone name %q: write it in lowercase (%s), as DNS compares names", name, strings.ToLower(name))
	}
	return nil
}

func labelOK(l string) bool {
	if len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
		return false
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateConfig checks a zone's config: peers.NAME.address (an IP
// address), peers.NAME.key (a base64 TSIG secret), dns.nameservers (host
// names, for the NS records), network.nat and user.* keys.
func ValidateConfig(config map[string]string) error {
	for k, v := range config {
		switch {
		case strings.HasPrefix(k, "user."):
		case k == "dns.nameservers":
			for _, ns := range nameservers(v) {
				if ValidateName(strings.TrimSuffix(ns, ".")) != nil {
					return apierr.BadRequest("dns.nameservers: %q is not a host name", ns)
				}
			}
		case k == "network.nat":
			if _, err := strconv.ParseBool(v); v != "" && err != nil {
				return apierr.BadRequest("network.nat: %q is not a boolean", v)
			}
		case strings.HasPrefix(k, "peers."):
			parts := strings.Split(k, ".")
			if len(parts) != 3 || !labelOK(parts[1]) {
				return apierr.BadRequest("invalid network zone option %q: peers.NAME.address or peers.NAME.key", k)
			}
			switch parts[2] {
			case "address":
				if a, err := netip.ParseAddr(v); v != "" && (err != nil || a.Zone() != "") {
					return apierr.BadRequest("%s: %q is not an IP address", k, v)
				}
			case "key":
				if _, err := decodeSecret(v); v != "" && err != nil {
					return apierr.BadRequest("%s: a TSIG secret is base64: %v", k, err)
				}
			default:
				return apierr.BadRequest("invalid network zone option %q: peers.NAME.address or peers.NAME.key", k)
			}
		default:
			return apierr.BadRequest("invalid network zone option %q", k)
		}
	}
	return nil
}

func nameservers(v string) []string {
	var out []string
	for _, ns := range strings.Split(v, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// ValidateRecord checks a record of zone: its name (relative to the zone)
// and each entry, parsed as DNS would parse it.
func ValidateRecord(zone, name string, r api.NetworkZoneRecordPut) error {
	if name == "" || strings.HasSuffix(name, ".") {
		return apierr.BadRequest("record name %q: give a name relative to the zone (www, or _sip._tcp)", name)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || !(labelOK(l) || (strings.HasPrefix(l, "_") && labelOK(l[1:]))) {
			return apierr.BadRequest("record name %q: label %q is not letters, digits and dashes", name, l)
		}
	}
	for k := range r.Config {
		if !strings.HasPrefix(k, "user.") {
			return apierr.BadRequest("invalid record option %q: only user.* keys are known", k)
		}
	}
	for i, e := range r.Entries {
		if _, err := entryRR(zone, name, e); err != nil {
			return apierr.BadRequest("entry %d: %v", i, err)
		}
	}
	return nil
}

// entryRR is a record's entry as a resource record; the zone's own
// records (SOA, NS) are not for hand-made entries.
func entryRR(zone, name string, e api.NetworkZoneRecordEntry) (dns.RR, error) {
	t := strings.ToUpper(strings.TrimSpace(e.Type))
	if _, ok := dns.StringToType[t]; !ok || t == "SOA" || t == "AXFR" || t == "IXFR" || t == "ANY" || t == "OPT" || t == "TSIG" {
		return nil, fmt.Errorf("type %q is not a record type a zone's entry may have", e.Type)
	}
	if strings.ContainsAny(e.Value, "\n\r;") {
		return nil, fmt.Errorf("the value of a %s entry is one line, without comments", t)
	}
	ttl := e.TTL
	if ttl == 0 {
		ttl = 300
	}
	rr, err := dns.NewRR(fmt.Sprintf("%s.%s. %d IN %s %s", name, zone, ttl, t, e.Value))
	if err != nil || rr == nil {
		return nil, fmt.Errorf("%s %q: %v", t, e.Value, err)
	}
	return rr, nil
}

func decodeSecret(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

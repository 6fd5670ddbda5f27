package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/project"
)

// The network_dns and network_dns_records extensions:
// /1.0/network-zones and their records. A zone belongs to the project
// whose networks name it (as ACLs do).

func networkZoneURL(proj, name string) string { return project.URL(proj, "/1.0/network-zones/"+name) }

func networkZonesGet(d *Daemon, r *http.Request) response {
	list, err := d.Zones.Zones(d.networksProject(r))
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		return ok(list)
	}
	urls := make([]string, 0, len(list))
	for _, z := range list {
		urls = append(urls, "/1.0/network-zones/"+z.Name)
	}
	return ok(urls)
}

func networkZonesPost(d *Daemon, r *http.Request) response {
	var req api.NetworkZonesPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj := d.networksProject(r)
	if err := d.Zones.CreateZone(proj, req); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-zone-created", networkZoneURL(proj, req.Name), nil)
	return syncResp{metadata: map[string]any{}, location: "/1.0/network-zones/" + req.Name, status: http.StatusCreated}
}

func networkZoneGet(d *Daemon, r *http.Request) response {
	z, rev, err := d.Zones.Zone(d.networksProject(r), r.PathValue("zone"))
	if err != nil {
		return fail(err)
	}
	return okETag(z, rev)
}

// networkZonePut is PUT and PATCH (config merged, description replaced
// when given).
func networkZonePut(d *Daemon, r *http.Request) response {
	proj, name := d.networksProject(r), r.PathValue("zone")
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	err := putOrPatch(r, func() (api.NetworkZonePut, uint64, error) {
		z, rev, err := d.Zones.Zone(proj, name)
		if z.Config == nil {
			z.Config = map[string]string{}
		}
		return z.NetworkZonePut, rev, err
	}, func(put *api.NetworkZonePut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), replacePatch(patch, map[string]any{"description": &put.Description}))
	}, func(put api.NetworkZonePut, rev uint64) error {
		dropEmptyValues(put.Config)
		return d.Zones.UpdateZone(proj, name, put, rev)
	})
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-zone-updated", networkZoneURL(proj, name), nil)
	return empty()
}

func networkZoneDelete(d *Daemon, r *http.Request) response {
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj, name := d.networksProject(r), r.PathValue("zone")
	if err := d.Zones.DeleteZone(proj, name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-zone-deleted", networkZoneURL(proj, name), nil)
	return empty()
}

func networkZoneRecordsGet(d *Daemon, r *http.Request) response {
	zone := r.PathValue("zone")
	list, err := d.Zones.Records(d.networksProject(r), zone)
	if err != nil {
		return fail(err)
	}
	if recursion(r) > 0 {
		return ok(list)
	}
	urls := make([]string, 0, len(list))
	for _, rec := range list {
		urls = append(urls, "/1.0/network-zones/"+zone+"/records/"+rec.Name)
	}
	return ok(urls)
}

func networkZoneRecordsPost(d *Daemon, r *http.Request) response {
	var req api.NetworkZoneRecordsPost
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj, zone := d.networksProject(r), r.PathValue("zone")
	if err := d.Zones.CreateRecord(proj, zone, req); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-zone-record-created", networkZoneURL(proj, zone+"/records/"+req.Name), nil)
	return syncResp{metadata: map[string]any{}, location: "/1.0/network-zones/" + zone + "/records/" + req.Name, status: http.StatusCreated}
}

func networkZoneRecordGet(d *Daemon, r *http.Request) response {
	rec, rev, err := d.Zones.ZoneRecord(d.networksProject(r), r.PathValue("zone"), r.PathValue("name"))
	if err != nil {
		return fail(err)
	}
	return okETag(rec, rev)
}

// networkZoneRecordPut is PUT and PATCH (config merged; description and
// entries replaced when given).
func networkZoneRecordPut(d *Daemon, r *http.Request) response {
	proj, zone, name := d.networksProject(r), r.PathValue("zone"), r.PathValue("name")
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	err := putOrPatch(r, func() (api.NetworkZoneRecordPut, uint64, error) {
		rec, rev, err := d.Zones.ZoneRecord(proj, zone, name)
		if rec.Config == nil {
			rec.Config = map[string]string{}
		}
		return rec.NetworkZoneRecordPut, rev, err
	}, func(put *api.NetworkZoneRecordPut, patch map[string]json.RawMessage) error {
		return errors.Join(mergePatch(patch, "config", put.Config), replacePatch(patch, map[string]any{"description": &put.Description, "entries": &put.Entries}))
	}, func(put api.NetworkZoneRecordPut, rev uint64) error {
		dropEmptyValues(put.Config)
		return d.Zones.UpdateRecord(proj, zone, name, put, rev)
	})
	if err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-zone-record-updated", networkZoneURL(proj, zone+"/records/"+name), nil)
	return empty()
}

func networkZoneRecordDelete(d *Daemon, r *http.Request) response {
	if err := d.checkSharedNetworkChange(r); err != nil {
		return fail(err)
	}
	proj, zone, name := d.networksProject(r), r.PathValue("zone"), r.PathValue("name")
	if err := d.Zones.DeleteRecord(proj, zone, name); err != nil {
		return fail(err)
	}
	d.Bus.Lifecycle("network-zone-record-deleted", networkZoneURL(proj, zone+"/records/"+name), nil)
	return empty()
}

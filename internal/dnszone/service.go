package dnszone

import (
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// Record is a zone as the store keeps it, under its name: a DNS zone is
// one across projects, so its name is too.
type Record struct {
	Name    string `json:"name"`
	Project string `json:"project,omitempty"`
	api.NetworkZonePut
}

// EntryRecord is a record of a zone, under "<zone>/<name>".
type EntryRecord struct {
	Zone string `json:"zone"`
	Name string `json:"name"`
	api.NetworkZoneRecordPut
}

// Service keeps the zones and serves them (Listen).
type Service struct {
	db *store.Store
	// Networks are the networks that name a zone in their dns.zone.*
	// keys; UsedBy their API paths.
	Networks func(zone string) []Network
	UsedBy   func(zone string) []string
	server   server
}

// NewService makes the zone service.
func NewService(db *store.Store) *Service {
	return &Service{db: db, Networks: func(string) []Network { return nil }, UsedBy: func(string) []string { return nil }}
}

// owned is zone name of project proj: another project's is not found.
func (s *Service) owned(proj, name string) (Record, uint64, error) {
	r, rev, err := store.Get[Record](s.db, store.NetworkZones, name)
	if err == nil && project.Name(r.Project) != project.Name(proj) {
		return Record{}, 0, apierr.NotFound("network zone %q", name)
	}
	return r, rev, err
}

// Exists says whether project proj has zone name.
func (s *Service) Exists(proj, name string) bool {
	_, _, err := s.owned(proj, name)
	return err == nil
}

func (s *Service) render(r Record) api.NetworkZone {
	used := s.UsedBy(r.Name)
	if used == nil {
		used = []string{}
	}
	return api.NetworkZone{NetworkZonePut: r.NetworkZonePut, Name: r.Name, UsedBy: used}
}

// Zones lists project proj's zones.
func (s *Service) Zones(proj string) ([]api.NetworkZone, error) {
	recs, err := store.List[Record](s.db, store.NetworkZones)
	if err != nil {
		return nil, err
	}
	out := []api.NetworkZone{}
	for _, r := range recs {
		if project.Name(r.Project) == project.Name(proj) {
			out = append(out, s.render(r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Zone is project proj's zone name, and its revision.
func (s *Service) Zone(proj, name string) (api.NetworkZone, uint64, error) {
	r, rev, err := s.owned(proj, name)
	if err != nil {
		return api.NetworkZone{}, 0, err
	}
	return s.render(r), rev, nil
}

func normaliseZone(p *api.NetworkZonePut) {
	p.Description = strings.TrimSpace(p.Description)
	if p.Config == nil {
		p.Config = map[string]string{}
	}
}

// CreateZone makes a zone of project proj.
func (s *Service) CreateZone(proj string, req api.NetworkZonesPost) error {
	if err := ValidateName(req.Name); err != nil {
		return err
	}
	normaliseZone(&req.NetworkZonePut)
	if err := ValidateConfig(req.Config); err != nil {
		return err
	}
	rec := Record{Name: req.Name, NetworkZonePut: req.NetworkZonePut}
	if project.Name(proj) != project.Default {
		rec.Project = proj
	}
	return s.db.Update(func(tx *store.Tx) error {
		if tx.Exists(store.NetworkZones, req.Name) {
			return apierr.Conflict("network zone %q already exists (zones are unique across projects)", req.Name)
		}
		return tx.Create(store.NetworkZones, req.Name, rec)
	})
}

// UpdateZone replaces a zone's description and config.
func (s *Service) UpdateZone(proj, name string, put api.NetworkZonePut, ifRev uint64) error {
	normaliseZone(&put)
	if err := ValidateConfig(put.Config); err != nil {
		return err
	}
	r, rev, err := s.owned(proj, name)
	if err != nil {
		return err
	}
	if ifRev == 0 {
		ifRev = rev
	}
	r.NetworkZonePut = put
	return s.db.Update(func(tx *store.Tx) error {
		_, err := tx.Put(store.NetworkZones, name, r, ifRev)
		return err
	})
}

// DeleteZone deletes a zone no network names, and its records.
func (s *Service) DeleteZone(proj, name string) error {
	if _, _, err := s.owned(proj, name); err != nil {
		return err
	}
	if used := s.UsedBy(name); len(used) > 0 {
		return apierr.BadRequest("network zone %q is in use by %v: take it out of their dns.zone.* keys first", name, used)
	}
	return s.db.Update(func(tx *store.Tx) error {
		for _, k := range tx.KeysWithPrefix(store.NetworkZoneRecords, name+"/") {
			if err := tx.Delete(store.NetworkZoneRecords, k); err != nil {
				return err
			}
		}
		return tx.Delete(store.NetworkZones, name)
	})
}

// Records lists a zone's records.
func (s *Service) Records(proj, zone string) ([]api.NetworkZoneRecord, error) {
	if _, _, err := s.owned(proj, zone); err != nil {
		return nil, err
	}
	out := []api.NetworkZoneRecord{}
	for _, r := range s.entries(zone) {
		out = append(out, api.NetworkZoneRecord{NetworkZoneRecordPut: r.NetworkZoneRecordPut, Name: r.Name})
	}
	return out, nil
}

func (s *Service) entries(zone string) []EntryRecord {
	var out []EntryRecord
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.KeysWithPrefix(store.NetworkZoneRecords, zone+"/") {
			var r EntryRecord
			if _, err := tx.Get(store.NetworkZoneRecords, k, &r); err == nil {
				out = append(out, r)
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ZoneRecord is one record of a zone, and its revision.
func (s *Service) ZoneRecord(proj, zone, name string) (api.NetworkZoneRecord, uint64, error) {
	if _, _, err := s.owned(proj, zone); err != nil {
		return api.NetworkZoneRecord{}, 0, err
	}
	r, rev, err := store.Get[EntryRecord](s.db, store.NetworkZoneRecords, zone+"/"+name)
	if err != nil {
		return api.NetworkZoneRecord{}, 0, err
	}
	return api.NetworkZoneRecord{NetworkZoneRecordPut: r.NetworkZoneRecordPut, Name: r.Name}, rev, nil
}

func normaliseRecord(p *api.NetworkZoneRecordPut) {
	p.Description = strings.TrimSpace(p.Description)
	if p.Config == nil {
		p.Config = map[string]string{}
	}
	if p.Entries == nil {
		p.Entries = []api.NetworkZoneRecordEntry{}
	}
	for i := range p.Entries {
		p.Entries[i].Type = strings.ToUpper(strings.TrimSpace(p.Entries[i].Type))
		p.Entries[i].Value = strings.TrimSpace(p.Entries[i].Value)
	}
}

// CreateRecord adds a record to a zone.
func (s *Service) CreateRecord(proj, zone string, req api.NetworkZoneRecordsPost) error {
	if _, _, err := s.owned(proj, zone); err != nil {
		return err
	}
	normaliseRecord(&req.NetworkZoneRecordPut)
	if err := ValidateRecord(zone, req.Name, req.NetworkZoneRecordPut); err != nil {
		return err
	}
	return s.db.Update(func(tx *store.Tx) error {
		if tx.Exists(store.NetworkZoneRecords, zone+"/"+req.Name) {
			return apierr.Conflict("network zone %q has a record %q already", zone, req.Name)
		}
		return tx.Create(store.NetworkZoneRecords, zone+"/"+req.Name, EntryRecord{Zone: zone, Name: req.Name, NetworkZoneRecordPut: req.NetworkZoneRecordPut})
	})
}

// UpdateRecord replaces a record's description, entries and config.
func (s *Service) UpdateRecord(proj, zone, name string, put api.NetworkZoneRecordPut, ifRev uint64) error {
	if _, _, err := s.owned(proj, zone); err != nil {
		return err
	}
	normaliseRecord(&put)
	if err := ValidateRecord(zone, name, put); err != nil {
		return err
	}
	return s.db.Update(func(tx *store.Tx) error {
		if !tx.Exists(store.NetworkZoneRecords, zone+"/"+name) {
			return apierr.NotFound("record %q of network zone %q", name, zone)
		}
		_, err := tx.Put(store.NetworkZoneRecords, zone+"/"+name, EntryRecord{Zone: zone, Name: name, NetworkZoneRecordPut: put}, ifRev)
		return err
	})
}

// DeleteRecord removes a record.
func (s *Service) DeleteRecord(proj, zone, name string) error {
	if _, _, err := s.owned(proj, zone); err != nil {
		return err
	}
	return s.db.Update(func(tx *store.Tx) error {
		if !tx.Exists(store.NetworkZoneRecords, zone+"/"+name) {
			return apierr.NotFound("record %q of network zone %q", name, zone)
		}
		return tx.Delete(store.NetworkZoneRecords, zone+"/"+name)
	})
}

// content is zone z's records now, for a transfer; the serial is the
// time, as LXD's.
func (s *Service) content(z Record) ([]dns.RR, error) {
	return content(z, s.Networks(z.Name), s.entries(z.Name), uint32(time.Now().Unix()))
}

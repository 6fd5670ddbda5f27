package network

import (
	"slices"
	"sort"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// ACLRecord is a network ACL as the store keeps it, under
// project.StoreKey(project, name): an ACL belongs to the project whose
// networks take it.
type ACLRecord struct {
	Name    string `json:"name"`
	Project string `json:"project,omitempty"`
	api.NetworkACLPut
}

func (r ACLRecord) render(usedBy []string) api.NetworkACL {
	if usedBy == nil {
		usedBy = []string{}
	}
	return api.NetworkACL{NetworkACLPost: api.NetworkACLPost{Name: r.Name}, NetworkACLPut: r.NetworkACLPut, UsedBy: usedBy}
}

// ACLs lists project proj's network ACLs.
func (s *Service) ACLs(proj string) ([]api.NetworkACL, error) {
	recs, err := store.List[ACLRecord](s.db, store.NetworkACLs)
	if err != nil {
		return nil, err
	}
	out := []api.NetworkACL{}
	for _, r := range recs {
		if project.Name(r.Project) == project.Name(proj) {
			out = append(out, r.render(s.aclUsers(proj, r.Name)))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ACL is project proj's ACL name, and its revision.
func (s *Service) ACL(proj, name string) (api.NetworkACL, uint64, error) {
	r, rev, err := store.Get[ACLRecord](s.db, store.NetworkACLs, project.StoreKey(proj, name))
	if err != nil {
		return api.NetworkACL{}, 0, err
	}
	return r.render(s.aclUsers(proj, name)), rev, nil
}

// CreateACL makes an ACL; no network uses it yet, so no rule changes.
func (s *Service) CreateACL(proj string, req api.NetworkACLsPost) error {
	if err := ValidateACLName(req.Name); err != nil {
		return err
	}
	normaliseACL(&req.NetworkACLPut)
	if _, err := compileACL(req.Name, req.NetworkACLPut); err != nil {
		return err
	}
	rec := ACLRecord{Name: req.Name, NetworkACLPut: req.NetworkACLPut}
	if project.Name(proj) != project.Default {
		rec.Project = proj
	}
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.db.Update(func(tx *store.Tx) error {
		if tx.Exists(store.NetworkACLs, project.StoreKey(proj, req.Name)) {
			return apierr.Conflict("network ACL %q already exists", req.Name)
		}
		return tx.Create(store.NetworkACLs, project.StoreKey(proj, req.Name), rec)
	})
}

// UpdateACL replaces an ACL's description, rules and config, and applies
// it to the networks that use it; if the host refuses the rules, the old
// ACL is put back.
func (s *Service) UpdateACL(proj, name string, put api.NetworkACLPut, ifRev uint64) error {
	normaliseACL(&put)
	if _, err := compileACL(name, put); err != nil {
		return err
	}
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	key := project.StoreKey(proj, name)
	old, rev, err := store.Get[ACLRecord](s.db, store.NetworkACLs, key)
	if err != nil {
		return err
	}
	if ifRev == 0 {
		ifRev = rev
	}
	next := old
	next.NetworkACLPut = put
	var written uint64
	if err := s.db.Update(func(tx *store.Tx) error {
		written, err = tx.Put(store.NetworkACLs, key, next, ifRev)
		return err
	}); err != nil {
		return err
	}
	if len(s.aclUsers(proj, name)) == 0 {
		return nil
	}
	if err := s.firewall(); err != nil {
		_ = s.db.Update(func(tx *store.Tx) error {
			_, err := tx.Put(store.NetworkACLs, key, old, written)
			return err
		})
		_ = s.firewall()
		return apierr.BadRequest("network ACL %q: its rules were refused: %v", name, err)
	}
	return nil
}

// RenameACL renames an ACL no network uses.
func (s *Service) RenameACL(proj, name, newName string) error {
	if err := ValidateACLName(newName); err != nil {
		return err
	}
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	if used := s.aclUsers(proj, name); len(used) > 0 {
		return apierr.BadRequest("network ACL %q is in use by %v: take it out of their security.acls first", name, used)
	}
	return s.db.Update(func(tx *store.Tx) error {
		var r ACLRecord
		if _, err := tx.Get(store.NetworkACLs, project.StoreKey(proj, name), &r); err != nil {
			return err
		}
		if tx.Exists(store.NetworkACLs, project.StoreKey(proj, newName)) {
			return apierr.Conflict("network ACL %q already exists", newName)
		}
		r.Name = newName
		if err := tx.Create(store.NetworkACLs, project.StoreKey(proj, newName), r); err != nil {
			return err
		}
		return tx.Delete(store.NetworkACLs, project.StoreKey(proj, name))
	})
}

// DeleteACL deletes an ACL no network uses.
func (s *Service) DeleteACL(proj, name string) error {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	if used := s.aclUsers(proj, name); len(used) > 0 {
		return apierr.BadRequest("network ACL %q is in use by %v: take it out of their security.acls first", name, used)
	}
	return s.db.Update(func(tx *store.Tx) error {
		if !tx.Exists(store.NetworkACLs, project.StoreKey(proj, name)) {
			return apierr.NotFound("network ACL %q", name)
		}
		return tx.Delete(store.NetworkACLs, project.StoreKey(proj, name))
	})
}

// aclUsers are the networks of project proj whose security.acls names
// ACL name.
func (s *Service) aclUsers(proj, name string) []string {
	recs, _ := s.records()
	var out []string
	for _, r := range recs {
		if project.Name(r.Project) == project.Name(proj) && slices.Contains(aclNames(r.Config["security.acls"]), name) {
			out = append(out, project.URL(proj, "/1.0/networks/"+r.Name))
		}
	}
	sort.Strings(out)
	return out
}

// checkACLsExist refuses a network config naming an ACL its project
// lacks.
func (s *Service) checkACLsExist(proj string, cfg map[string]string) error {
	for _, n := range aclNames(cfg["security.acls"]) {
		if !s.db.Has(store.NetworkACLs, project.StoreKey(proj, n)) {
			return apierr.BadRequest("security.acls: there is no network ACL %q in project %q (lodge network acl create %s)", n, project.Name(proj), n)
		}
	}
	return nil
}

// networkACL is what network r's ACLs make of its boundary; nil when it
// names none. An ACL gone from the store (it cannot be, while named)
// adds no rule, so the defaults, reject unless set, still hold.
func (s *Service) networkACL(r Record) *fwNetACL {
	names := aclNames(r.Config["security.acls"])
	if len(names) == 0 {
		return nil
	}
	out := &fwNetACL{IngressDefault: aclDefaultAction(r.Config, "ingress"), EgressDefault: aclDefaultAction(r.Config, "egress"),
		IngressLog: IsTrue(r.Config, "security.acls.default.ingress.logged", false), EgressLog: IsTrue(r.Config, "security.acls.default.egress.logged", false)}
	for _, n := range names {
		a, _, err := store.Get[ACLRecord](s.db, store.NetworkACLs, project.StoreKey(project.Name(r.Project), n))
		if err == nil {
			var rules []fwACLRule
			if rules, err = compileACL(n, a.NetworkACLPut); err == nil {
				out.Rules = append(out.Rules, rules...)
				continue
			}
		}
		s.log.Warn("network ACL left out", "network", r.Name, "acl", n, "err", err)
	}
	return out
}

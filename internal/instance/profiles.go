package instance

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/crashpoint"
	"github.com/lodge-project/lodge/internal/instance/device"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// EnsureDefaultProfile creates the default profile, with a root disk on the
// default pool, the first time lodged starts.
func (s *Service) EnsureDefaultProfile() error {
	return s.db.Update(func(tx *store.Tx) error {
		if tx.Exists(store.Profiles, "default") {
			return nil
		}
		return tx.Create(store.Profiles, "default", api.Profile{Name: "default", Description: "Default Lodge profile",
			Config:  map[string]string{},
			Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}}})
	})
}

// Profiles are keyed like instances: project.StoreKey(project, name),
// the bare name in the default project. An instance's profiles are those
// of its project, or the default project's when its project has no
// features.profiles.

// Profiles lists project proj's profiles with the instances that use them.
func (s *Service) Profiles(proj string) ([]api.Profile, error) {
	all, err := s.allProfiles()
	if err != nil {
		return nil, err
	}
	out := []api.Profile{}
	for key, p := range all {
		if project.InProject(key, proj) {
			p.UsedBy = s.usedBy(key)
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// profileURL is the API path of the profile with store key key.
func profileURL(key string) string {
	proj, name := project.SplitKey(key)
	return project.URL(proj, "/1.0/profiles/"+name)
}

// sortedKeys are a profile map's keys in order.
func sortedKeys(m map[string]api.Profile) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// allProfiles are every project's profiles, by store key.
func (s *Service) allProfiles() (map[string]api.Profile, error) {
	out := map[string]api.Profile{}
	err := s.db.View(func(tx *store.Tx) error {
		return tx.Each(store.Profiles, func(key string, _ uint64, data json.RawMessage) error {
			var p api.Profile
			if err := json.Unmarshal(data, &p); err != nil {
				return err
			}
			out[key] = p
			return nil
		})
	})
	return out, err
}

// Profile returns the profile with store key key, and its revision.
func (s *Service) Profile(key string) (api.Profile, uint64, error) {
	p, rev, err := store.Get[api.Profile](s.db, store.Profiles, key)
	if err != nil {
		return p, 0, err
	}
	p.UsedBy = s.usedBy(key)
	return p, rev, nil
}

// usedBy lists the instances that use a profile, as API paths.
func (s *Service) usedBy(profile string) []string {
	used := []string{}
	for _, key := range s.profileUsers(profile) {
		used = append(used, instanceURL(key))
	}
	return used
}

// profileUsers lists the store keys of the instances that use the
// profile with store key profile: those of its project that name it.
func (s *Service) profileUsers(profile string) []string {
	proj, name := project.SplitKey(profile)
	var keys []string
	_ = s.db.View(func(tx *store.Tx) error {
		return tx.Each(store.Instances, func(key string, _ uint64, data json.RawMessage) error {
			var r Record
			if json.Unmarshal(data, &r) == nil && s.profilesProject(r.Project) == proj && slices.Contains(r.Profiles, name) {
				keys = append(keys, key)
			}
			return nil
		})
	})
	return keys
}

// CreateProfile adds a profile to project proj.
func (s *Service) CreateProfile(proj string, req api.ProfilesPost) error {
	if err := validate.InstanceName(req.Name); err != nil {
		return apierr.BadRequest("profile name %q is invalid", req.Name)
	}
	if err := keys.ValidateConfig(req.Config, false); err != nil {
		return err
	}
	if err := device.Validate(req.Devices); err != nil {
		return err
	}
	if err := s.checkDiskPools(req.Devices); err != nil {
		return err
	}
	p := api.Profile{Name: req.Name, Description: req.Description, Config: nonNil(req.Config), Devices: nonNilDevices(req.Devices)}
	return s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Profiles, project.StoreKey(proj, req.Name), p) })
}

// UpdateProfile replaces the config and devices of the profile with store
// key name and applies the
// change to the running instances that use it, as an instance edit would.
// If any of them cannot take it, the old profile comes back everywhere.
func (s *Service) UpdateProfile(name string, put api.ProfilePut, ifRev uint64) error {
	// One change of a profile at a time: it commits, applies to the
	// instances, and rolls back if one refuses; none may land in between.
	defer s.pools.Hold()() // a custom volume it attaches cannot go meanwhile
	defer s.lockProfile(name)()
	if err := keys.ValidateConfig(put.Config, false); err != nil {
		return err
	}
	if err := device.Validate(put.Devices); err != nil {
		return err
	}
	if err := s.checkDiskPools(put.Devices); err != nil {
		return err
	}
	users := s.profileUsers(name)
	if err := s.checkProfileUsers(name, put, users); err != nil {
		return err
	}
	before := map[string]Expanded{}
	for _, inst := range users {
		if e, _, err := s.load(inst); err == nil {
			before[inst] = e
		}
	}
	var old api.Profile
	var written uint64 // the revision this change wrote
	err := s.db.Update(func(tx *store.Tx) error {
		if _, err := tx.Get(store.Profiles, name, &old); err != nil {
			return err
		}
		p := old
		p.Description, p.Config, p.Devices = put.Description, nonNil(put.Config), nonNilDevices(put.Devices)
		var err error
		written, err = tx.Put(store.Profiles, name, p, ifRev)
		return err
	})
	if err != nil {
		return err
	}
	crashpoint.Hit("profile.committed")
	var applied []string
	for _, inst := range users {
		if err := s.applyLive(inst, before[inst], true); err != nil {
			// Undo: the old profile, unless another request changed it
			// since (its change stands), then each instance's limits and
			// devices as the profile now says.
			if err := s.db.Update(func(tx *store.Tx) error {
				_, err := tx.Put(store.Profiles, name, old, written)
				return err
			}); err != nil {
				s.log.Warn("profile changed again meanwhile: its rollback is skipped", "profile", name, "err", err)
			}
			for _, a := range append(applied, inst) {
				if now, _, err := s.load(a); err == nil {
					_ = s.applyLive(a, now, false)
				}
			}
			return apierr.BadRequest("profile %q cannot apply to instance %q: %v", name, inst, err)
		}
		applied = append(applied, inst)
	}
	for _, inst := range applied {
		if now, _, err := s.load(inst); err == nil {
			s.refreshHosts(before[inst], now)
			s.releaseLeases(before[inst], now)
		}
	}
	return nil
}

// DeleteProfile removes an unused profile; default stays.
func (s *Service) DeleteProfile(name string) error {
	defer s.lockProfile(name)()
	if _, bare := project.SplitKey(name); bare == "default" {
		return apierr.BadRequest("the default profile cannot be deleted")
	}
	if used := s.usedBy(name); len(used) > 0 {
		return apierr.BadRequest("profile %q is in use by %d instance(s): %v", name, len(used), used)
	}
	return s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Profiles, name) })
}

// RenameProfile renames an unused profile (store key name) within its
// project.
func (s *Service) RenameProfile(name, newName string) error {
	defer s.lockProfile(name)()
	proj, bare := project.SplitKey(name)
	if bare == "default" {
		return apierr.BadRequest("the default profile cannot be renamed")
	}
	if err := validate.InstanceName(newName); err != nil {
		return apierr.BadRequest("profile name %q is invalid", newName)
	}
	if used := s.usedBy(name); len(used) > 0 {
		return apierr.BadRequest("profile %q is in use by %d instance(s): remove it from them first", name, len(used))
	}
	return s.db.Update(func(tx *store.Tx) error {
		var p api.Profile
		if _, err := tx.Get(store.Profiles, name, &p); err != nil {
			return err
		}
		p.Name = newName
		if err := tx.Create(store.Profiles, project.StoreKey(proj, newName), p); err != nil {
			return err
		}
		return tx.Delete(store.Profiles, name)
	})
}

// lockProfile serialises the changes of one profile (instance names, the
// other keys of the same locks, cannot hold a "/").
func (s *Service) lockProfile(name string) func() { return s.locks.Lock("profile/" + name) }

// checkProfileUsers checks each instance that uses profile key against
// its project's restrictions and limits as the profile is to be (put):
// a restricted project's rules hold whichever way a key arrives.
func (s *Service) checkProfileUsers(key string, put api.ProfilePut, users []string) error {
	_, profileName := project.SplitKey(key)
	for _, inst := range users {
		var e Expanded
		err := s.db.View(func(tx *store.Tx) error {
			var r Record
			if _, err := tx.Get(store.Instances, inst, &r); err != nil {
				return err
			}
			ps, err := s.profiles(tx, r.Project, r.Profiles)
			if err != nil {
				return err
			}
			for i := range ps {
				if ps[i].Name == profileName {
					ps[i].Config, ps[i].Devices = nonNil(put.Config), nonNilDevices(put.Devices)
				}
			}
			e = expand(r, ps)
			return nil
		})
		if err != nil {
			continue // gone meanwhile
		}
		if err := s.checkProject(e, inst); err != nil {
			return fmt.Errorf("profile %q cannot apply to instance %q: %w", profileName, e.Name, err)
		}
	}
	return nil
}

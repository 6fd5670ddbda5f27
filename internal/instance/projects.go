package instance

import (
	"strings"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/projects"
	"github.com/lodge-project/lodge/internal/store"
)

// Projects is what the service asks of projects: which project's set of
// profiles, images or custom volumes a project uses (its own, or the
// default project's when it lacks the feature), and a project's config
// (limits and restrictions).
type Projects interface {
	Effective(proj, feature string) (string, error)
	Config(proj string) (map[string]string, error)
}

// effective is the project whose set of feature proj uses; the default
// project's when there are no projects (unit tests) or proj is unknown.
func (s *Service) effective(proj, feature string) string {
	proj = project.Name(proj)
	if s.projects == nil || proj == project.Default {
		return proj
	}
	p, err := s.projects.Effective(proj, feature)
	if err != nil {
		return project.Default
	}
	return p
}

func (s *Service) profilesProject(proj string) string {
	return s.effective(proj, "features.profiles")
}

func (s *Service) imagesProject(proj string) string { return s.effective(proj, "features.images") }

func (s *Service) volumesProject(proj string) string {
	return s.effective(proj, "features.storage.volumes")
}

// projectConfig is a project's config (nil without projects).
func (s *Service) projectConfig(proj string) map[string]string {
	if s.projects == nil {
		return nil
	}
	cfg, err := s.projects.Config(project.Name(proj))
	if err != nil {
		return nil
	}
	return cfg
}

// CreateProjectProfile gives a new project with features.profiles its
// default profile: empty, as LXD makes it (a root disk and NICs are the
// project's to add).
func (s *Service) CreateProjectProfile(proj string) error {
	return s.db.Update(func(tx *store.Tx) error {
		return tx.Create(store.Profiles, project.StoreKey(proj, "default"), api.Profile{Name: "default",
			Description: "Default Lodge profile for project " + proj, Config: map[string]string{}, Devices: map[string]map[string]string{}})
	})
}

// ProjectProfiles lists the store keys of project proj's own profiles.
func (s *Service) ProjectProfiles(proj string) []string {
	var out []string
	_ = s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Profiles) {
			if project.InProject(k, proj) {
				out = append(out, k)
			}
		}
		return nil
	})
	return out
}

// MoveProjectProfiles re-keys project from's profiles under project to
// (a project's rename), in one transaction.
func (s *Service) MoveProjectProfiles(from, to string) error {
	return s.db.Update(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Profiles) {
			if !project.InProject(k, from) {
				continue
			}
			var p api.Profile
			if _, err := tx.Get(store.Profiles, k, &p); err != nil {
				return err
			}
			_, name := project.SplitKey(k)
			if err := tx.Create(store.Profiles, project.StoreKey(to, name), p); err != nil {
				return err
			}
			if err := tx.Delete(store.Profiles, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteProjectProfiles removes project proj's profiles (it is being
// deleted, and holds no instances). The returned restore puts them back,
// for when the project's own deletion fails after this.
func (s *Service) DeleteProjectProfiles(proj string) (restore func() error, err error) {
	gone := map[string]api.Profile{}
	err = s.db.Update(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Profiles) {
			if !project.InProject(k, proj) {
				continue
			}
			var p api.Profile
			if _, err := tx.Get(store.Profiles, k, &p); err != nil {
				return err
			}
			if err := tx.Delete(store.Profiles, k); err != nil {
				return err
			}
			gone[k] = p
		}
		return nil
	})
	restore = func() error {
		return s.db.Update(func(tx *store.Tx) error {
			for k, p := range gone {
				if err := tx.Create(store.Profiles, k, p); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return restore, err
}

// ProjectInstances lists project proj's instances as API paths.
func (s *Service) ProjectInstances(proj string) ([]string, error) {
	names, err := s.Names()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, k := range names {
		if project.InProject(k, proj) {
			out = append(out, instanceURL(k))
		}
	}
	return out, nil
}

// ProjectUsage is what project proj's instances use of each resource
// a project limits: counts, and the sums of their own limits.
func (s *Service) ProjectUsage(proj string) (map[string]int64, error) {
	in, err := s.expandedIn(proj)
	if err != nil {
		return nil, err
	}
	use := map[string]int64{"instances": 0, "containers": 0, "virtual-machines": 0, "cpu": 0, "memory": 0, "processes": 0}
	for _, e := range in {
		use["instances"]++
		if e.Type == "" || e.Type == typeContainer {
			use["containers"]++
		} else {
			use["virtual-machines"]++ // typeVM
		}
		for _, key := range []string{"limits.cpu", "limits.memory", "limits.processes"} {
			if n, err := projects.LimitValue(key, e.Config[key]); err == nil {
				use[strings.TrimPrefix(key, "limits.")] += n
			}
		}
	}
	vols, err := s.projectVolumes(proj, "", "")
	if err != nil {
		return nil, err
	}
	use["disk"] = diskUse(in, vols)
	return use, nil
}

// Package projects keeps the host's projects: their records, their
// config (features, limits, restrictions) and LXD's rules for changing
// them. What a project holds (instances, profiles, images, volumes,
// networks) lives in the services of those objects, keyed by project
// (package project); this one says which project's set a request in a
// project uses.
package projects

import (
	"fmt"
	"maps"
	"sort"
	"sync"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/event"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// Record is a project as the store keeps it.
type Record struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Config      map[string]string `json:"config"`
}

// Service reads and changes projects. It keeps them in memory too: every
// request in a project asks which project's profiles or images it uses,
// often from inside a store transaction, where another would risk a
// deadlock with a writer.
type Service struct {
	db  *store.Store
	bus *event.Bus

	mu    sync.RWMutex
	cache map[string]Record // nil until loaded
}

// NewService keeps projects in db.
func NewService(db *store.Store, bus *event.Bus) *Service { return &Service{db: db, bus: bus} }

// cached is the project named name, from memory (loaded once).
func (s *Service) cached(name string) (Record, bool, error) {
	s.mu.RLock()
	if s.cache != nil {
		r, ok := s.cache[name]
		s.mu.RUnlock()
		return r, ok, nil
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		all, err := store.List[Record](s.db, store.Projects)
		if err != nil {
			return Record{}, false, err
		}
		s.cache = map[string]Record{}
		for _, r := range all {
			s.cache[r.Name] = r
		}
	}
	r, ok := s.cache[name]
	return r, ok, nil
}

// remember puts r in memory after its write committed (forget: gone).
func (s *Service) remember(r Record, forget string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		return // loaded from the store at the next read
	}
	if forget != "" {
		delete(s.cache, forget)
	}
	if r.Name != "" {
		s.cache[r.Name] = r
	}
}

// Config is a project's config.
func (s *Service) Config(name string) (map[string]string, error) {
	r, ok, err := s.cached(project.Name(name))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierr.NotFound("project %q", name)
	}
	return r.Config, nil
}

// API is a record in LXD's shape (used_by left to the caller).
func (r Record) API() api.Project {
	cfg := maps.Clone(r.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	return api.Project{ProjectPut: api.ProjectPut{Config: cfg, Description: r.Description}, Name: r.Name, UsedBy: []string{}}
}

// List is every project, by name.
func (s *Service) List() ([]Record, error) {
	out, err := store.List[Record](s.db, store.Projects)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Get is one project and its revision.
func (s *Service) Get(name string) (Record, uint64, error) {
	r, rev, err := store.Get[Record](s.db, store.Projects, name)
	if err != nil {
		return r, 0, apierr.NotFound("project %q", name)
	}
	return r, rev, nil
}

// Exists says whether project name exists (the default one always does).
func (s *Service) Exists(name string) bool {
	if name == project.Default {
		return true
	}
	_, ok, _ := s.cached(name)
	return ok
}

// Effective is the project whose set of a kind of object (feature, one
// of Features) a request in proj uses: proj itself when it has the
// feature, else the default project.
func (s *Service) Effective(proj, feature string) (string, error) {
	proj = project.Name(proj)
	if proj == project.Default {
		return proj, nil
	}
	r, ok, err := s.cached(proj)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", apierr.NotFound("project %q", proj)
	}
	if keys.IsTrue(r.Config, feature) {
		return proj, nil
	}
	return project.Default, nil
}

// Create makes a project, with LXD's default features where the request
// leaves them unset.
func (s *Service) Create(req api.ProjectsPost) (Record, error) {
	if err := validate.ProjectName(req.Name); err != nil {
		return Record{}, err
	}
	cfg := maps.Clone(req.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	for k, v := range newProjectFeatures {
		if _, set := cfg[k]; !set {
			cfg[k] = v
		}
	}
	if err := CheckConfig(cfg); err != nil {
		return Record{}, apierr.BadRequest("%v", err)
	}
	r := Record{Name: req.Name, Description: req.Description, Config: cfg}
	err := s.db.Update(func(tx *store.Tx) error {
		if tx.Exists(store.Projects, req.Name) {
			return apierr.Conflict("project %q already exists", req.Name)
		}
		return tx.Create(store.Projects, req.Name, r)
	})
	if err == nil {
		s.remember(r, "")
	}
	return r, err
}

// Checks are what a change of a project must ask of the objects in it:
// whether it holds any (features change, renames and deletes need it
// empty), and whether its instances fit new limits.
type Checks struct {
	UsedBy    func(proj string) ([]string, error)
	FitLimits func(proj string, config map[string]string) error
}

// Update replaces a project's description and config, under LXD's rules:
// features change only while the project is empty, and never for the
// default project; new limits must hold what the project already has.
func (s *Service) Update(name string, put api.ProjectPut, ifRev uint64, c Checks) error {
	cur, rev, err := s.Get(name)
	if err != nil {
		return err
	}
	if ifRev != 0 && ifRev != rev {
		return fmt.Errorf("project %q changed since it was read (ETag mismatch): %w", name, apierr.ErrPreconditionFailed)
	}
	cfg := maps.Clone(put.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	if err := CheckConfig(cfg); err != nil {
		return apierr.BadRequest("%v", err)
	}
	for _, f := range Features {
		if keys.IsTrue(cur.Config, f) == keys.IsTrue(cfg, f) {
			continue
		}
		if name == project.Default {
			return apierr.BadRequest("the default project's features cannot change (%s)", f)
		}
		used, err := c.UsedBy(name)
		if err != nil {
			return err
		}
		if len(used) > 0 {
			return apierr.BadRequest("features can only be changed on empty projects: project %q holds %v", name, used)
		}
	}
	if err := c.FitLimits(name, cfg); err != nil {
		return err
	}
	next := Record{Name: name, Description: put.Description, Config: cfg}
	err = s.db.Update(func(tx *store.Tx) error {
		_, err := tx.Put(store.Projects, name, next, rev)
		return err
	})
	if err == nil {
		s.remember(next, "")
	}
	return err
}

// Rename gives an empty project another name.
func (s *Service) Rename(name, newName string, c Checks) error {
	if name == project.Default {
		return apierr.BadRequest("the default project cannot be renamed")
	}
	if err := validate.ProjectName(newName); err != nil {
		return err
	}
	r, _, err := s.Get(name)
	if err != nil {
		return err
	}
	if used, err := c.UsedBy(name); err != nil {
		return err
	} else if len(used) > 0 {
		return apierr.BadRequest("only empty projects can be renamed: project %q holds %v", name, used)
	}
	r.Name = newName
	err = s.db.Update(func(tx *store.Tx) error {
		if tx.Exists(store.Projects, newName) {
			return apierr.Conflict("project %q already exists", newName)
		}
		if err := tx.Create(store.Projects, newName, r); err != nil {
			return err
		}
		return tx.Delete(store.Projects, name)
	})
	if err == nil {
		s.remember(r, name)
	}
	return err
}

// Delete removes an empty project.
func (s *Service) Delete(name string, c Checks) error {
	if name == project.Default {
		return apierr.BadRequest("the default project cannot be deleted")
	}
	if _, _, err := s.Get(name); err != nil {
		return err
	}
	if used, err := c.UsedBy(name); err != nil {
		return err
	} else if len(used) > 0 {
		return apierr.BadRequest("only empty projects can be deleted: project %q holds %v", name, used)
	}
	err := s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Projects, name) })
	if err == nil {
		s.remember(Record{}, name)
	}
	return err
}

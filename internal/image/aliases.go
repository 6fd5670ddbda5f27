package image

import (
	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// Aliases are keyed by {project, name} (project.StoreKey) and name an
// image of their project.

// CreateAlias points a new alias of project proj at one of its images.
func (s *Service) CreateAlias(proj string, req api.ImageAliasesPost) error {
	if err := validate.AliasName(req.Name); err != nil {
		return err
	}
	fp, err := s.resolvePrefix(proj, req.Target)
	if err != nil {
		return apierr.BadRequest("alias target: %v", err)
	}
	entry := api.ImageAliasesEntry{Name: req.Name, Description: req.Description, Target: fp, Type: "container"}
	return s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Aliases, project.StoreKey(proj, req.Name), entry) })
}

// GetAlias returns one alias of project proj.
func (s *Service) GetAlias(proj, name string) (api.ImageAliasesEntry, uint64, error) {
	return store.Get[api.ImageAliasesEntry](s.db, store.Aliases, project.StoreKey(proj, name))
}

// ListAliases returns project proj's aliases.
func (s *Service) ListAliases(proj string) ([]api.ImageAliasesEntry, error) {
	out := []api.ImageAliasesEntry{}
	err := s.db.View(func(tx *store.Tx) error {
		for _, k := range tx.Keys(store.Aliases) {
			if !project.InProject(k, proj) {
				continue
			}
			var a api.ImageAliasesEntry
			if _, err := tx.Get(store.Aliases, k, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// UpdateAlias re-points an alias or changes its description.
func (s *Service) UpdateAlias(proj, name string, put api.ImageAliasesEntryPut, ifRev uint64) error {
	fp, err := s.resolvePrefix(proj, put.Target)
	if err != nil {
		return apierr.BadRequest("alias target: %v", err)
	}
	key := project.StoreKey(proj, name)
	return s.db.Update(func(tx *store.Tx) error {
		var a api.ImageAliasesEntry
		if _, err := tx.Get(store.Aliases, key, &a); err != nil {
			return err
		}
		a.Target, a.Description = fp, put.Description
		_, err := tx.Put(store.Aliases, key, a, ifRev)
		return err
	})
}

// RenameAlias renames an alias within its project.
func (s *Service) RenameAlias(proj, name, newName string) error {
	if err := validate.AliasName(newName); err != nil {
		return err
	}
	return s.db.Update(func(tx *store.Tx) error {
		var a api.ImageAliasesEntry
		if _, err := tx.Get(store.Aliases, project.StoreKey(proj, name), &a); err != nil {
			return err
		}
		a.Name = newName
		if err := tx.Create(store.Aliases, project.StoreKey(proj, newName), a); err != nil {
			return err
		}
		return tx.Delete(store.Aliases, project.StoreKey(proj, name))
	})
}

// DeleteAlias removes an alias.
func (s *Service) DeleteAlias(proj, name string) error {
	return s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Aliases, project.StoreKey(proj, name)) })
}

package image

import (
	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/store"
	"github.com/lodge-project/lodge/internal/validate"
)

// CreateAlias points a new alias at an image.
func (s *Service) CreateAlias(req api.ImageAliasesPost) error {
	if err := validate.AliasName(req.Name); err != nil {
		return err
	}
	fp, err := s.resolvePrefix(req.Target)
	if err != nil {
		return apierr.BadRequest("alias target: %v", err)
	}
	entry := api.ImageAliasesEntry{Name: req.Name, Description: req.Description, Target: fp, Type: "container"}
	return s.db.Update(func(tx *store.Tx) error { return tx.Create(store.Aliases, req.Name, entry) })
}

// GetAlias returns one alias.
func (s *Service) GetAlias(name string) (api.ImageAliasesEntry, uint64, error) {
	return store.Get[api.ImageAliasesEntry](s.db, store.Aliases, name)
}

// ListAliases returns every alias.
func (s *Service) ListAliases() ([]api.ImageAliasesEntry, error) {
	return store.List[api.ImageAliasesEntry](s.db, store.Aliases)
}

// UpdateAlias re-points an alias or changes its description.
func (s *Service) UpdateAlias(name string, put api.ImageAliasesEntryPut, ifRev uint64) error {
	fp, err := s.resolvePrefix(put.Target)
	if err != nil {
		return apierr.BadRequest("alias target: %v", err)
	}
	return s.db.Update(func(tx *store.Tx) error {
		var a api.ImageAliasesEntry
		if _, err := tx.Get(store.Aliases, name, &a); err != nil {
			return err
		}
		a.Target, a.Description = fp, put.Description
		_, err := tx.Put(store.Aliases, name, a, ifRev)
		return err
	})
}

// RenameAlias renames an alias.
func (s *Service) RenameAlias(name, newName string) error {
	if err := validate.AliasName(newName); err != nil {
		return err
	}
	return s.db.Update(func(tx *store.Tx) error {
		var a api.ImageAliasesEntry
		if _, err := tx.Get(store.Aliases, name, &a); err != nil {
			return err
		}
		a.Name = newName
		if err := tx.Create(store.Aliases, newName, a); err != nil {
			return err
		}
		return tx.Delete(store.Aliases, name)
	})
}

// DeleteAlias removes an alias.
func (s *Service) DeleteAlias(name string) error {
	return s.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Aliases, name) })
}

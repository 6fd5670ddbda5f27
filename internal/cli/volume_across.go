package cli

import (
	"fmt"
	"io"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/client"
)

// copyVolumeAcross copies custom volume srcPool/srcName of src to
// dstPool/dstName of dst, in LXD's migration protocol (mode: pull, push
// or relay, as for instances); a move then deletes the source, once the
// target has it all.
func copyVolumeAcross(out io.Writer, src, dst *client.Client, srcPool, srcName, dstPool, dstName, mode string, volumeOnly, move bool) error {
	var v api.StorageVolume
	if _, err := src.Get(volumePath(srcPool, srcName), &v); err != nil {
		return err
	}
	req := api.StorageVolumesPost{Name: dstName, Type: "custom", ContentType: v.ContentType,
		StorageVolumePut: api.StorageVolumePut{Config: v.Config, Description: v.Description},
		Source:           api.StorageVolumeSource{Type: "migration", VolumeOnly: volumeOnly}}
	side := sourceSide{path: volumePath(srcPool, srcName), req: func(target *api.InstancePostTarget) any {
		return api.StorageVolumePost{Name: srcName, Migration: true, VolumeOnly: volumeOnly, Target: target}
	}}
	target := targetSide{path: poolPath(dstPool) + "/volumes/custom", req: func(mode, opURL, cert string, secrets map[string]string) any {
		req.Source.Mode, req.Source.Operation, req.Source.Certificate, req.Source.Websockets = mode, opURL, cert, secrets
		return req
	}}
	progress, done := showProgressOf(out, "Transferring volume", "fs_progress")
	defer done()
	if err := transfer(src, dst, side, target, mode, progress); err != nil || !move {
		return err
	}
	done()
	if _, err := src.Do("DELETE", volumePath(srcPool, srcName), nil, ""); err != nil {
		return fmt.Errorf("the copy is made, but deleting the source: %w", err)
	}
	return nil
}

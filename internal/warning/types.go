// Package warning keeps the host's warnings (/1.0/warnings): problems
// Lodge finds on its own (a missing cgroup controller, an autostart that
// failed), each raised again while it lasts, counted, acknowledged by an
// admin, and resolved by Lodge once the cause is gone.
package warning

import "github.com/lodge-project/lodge/api"

// Type is a kind of warning. Its name is what the API shows; those LXD
// has are spelled as LXD spells them, so that tools filtering on them
// work.
type Type string

// The warnings Lodge raises.
const (
	MissingCGroupBlkio                Type = "Couldn't find the CGroup blkio"
	MissingCGroupBlkioWeight          Type = "Couldn't find the CGroup blkio.weight"
	MissingCGroupCPUController        Type = "Couldn't find the CGroup CPU controller"
	MissingCGroupCPUsetController     Type = "Couldn't find the CGroup CPUset controller"
	MissingCGroupCPUacctController    Type = "Couldn't find the CGroup CPUacct controller"
	MissingCGroupDevicesController    Type = "Couldn't find the CGroup devices controller"
	MissingCGroupFreezerController    Type = "Couldn't find the CGroup freezer controller"
	MissingCGroupMemoryController     Type = "Couldn't find the CGroup memory controller"
	MissingCGroupPidsController       Type = "Couldn't find the CGroup pids controller"
	MissingCGroupMemorySwapAccounting Type = "Couldn't find the CGroup memory swap accounting"
	AppArmorNotAvailable              Type = "AppArmor support has been disabled"
	InstanceAutostartFailure          Type = "Failed to autostart instance"
	NetworkUnavailable                Type = "Network unavailable"
	// Lodge's own.
	LxcfsNotRunning   Type = "lxcfs is not running"
	DnsmasqRestarting Type = "dnsmasq keeps exiting"
)

// Severity is how bad a warning of type t is: LXD's rating where LXD has
// the type, high for a network down, low otherwise.
func (t Type) Severity() string {
	switch t {
	case NetworkUnavailable, DnsmasqRestarting:
		return "high"
	}
	return "low"
}

// Statuses, as the API has them.
const (
	StatusNew          = api.WarningStatusNew
	StatusAcknowledged = api.WarningStatusAcknowledged
	StatusResolved     = api.WarningStatusResolved
)

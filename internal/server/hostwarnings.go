package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/lodge-project/lodge/internal/hostcheck"
	"github.com/lodge-project/lodge/internal/warning"
)

// hostWarningTypes are the host checks lodged raises a warning for when
// they fail, and resolves when they pass (after the admin fixed the host
// and restarted lodged).
var hostWarningTypes = map[string]warning.Type{
	hostcheck.ControllerItem("cpu"):     warning.MissingCGroupCPUController,
	hostcheck.ControllerItem("cpuacct"): warning.MissingCGroupCPUacctController,
	hostcheck.ControllerItem("cpuset"):  warning.MissingCGroupCPUsetController,
	hostcheck.ControllerItem("memory"):  warning.MissingCGroupMemoryController,
	hostcheck.ControllerItem("pids"):    warning.MissingCGroupPidsController,
	hostcheck.ControllerItem("blkio"):   warning.MissingCGroupBlkio,
	hostcheck.ControllerItem("devices"): warning.MissingCGroupDevicesController,
	hostcheck.ControllerItem("freezer"): warning.MissingCGroupFreezerController,
	hostcheck.SwapAccounting:            warning.MissingCGroupMemorySwapAccounting,
	hostcheck.IOWeight:                  warning.MissingCGroupBlkioWeight,
	hostcheck.AppArmor:                  warning.AppArmorNotAvailable,
	hostcheck.LXCFS:                     warning.LxcfsNotRunning,
}

// hostWarnings checks the host once at start-up and raises a warning for
// each missing part, saying what does not work without it; then it
// prunes resolved warnings daily.
func hostWarnings(ctx context.Context, w *warning.Service, log *slog.Logger) {
	for _, it := range (hostcheck.Host{}).Check().Items {
		t, ok := hostWarningTypes[it.Name]
		if !ok {
			continue
		}
		if it.OK {
			w.Resolve(t, "", "")
			continue
		}
		msg := it.Name + " is missing (" + it.Detail + "); it is what Lodge needs for " + it.For
		log.Warn("host check", "missing", it.Name, "detail", it.Detail, "for", it.For)
		w.Raise(t, "", "", msg)
	}
	for {
		w.Prune()
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}

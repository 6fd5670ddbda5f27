package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/operation"
	"github.com/lodge-project/lodge/internal/project"
)

// instancesPut is PUT /1.0/instances (instance_bulk_state_change, which
// lxc start/stop/restart/freeze/unfreeze --all use): one state change for
// every instance of the project it applies to (start: those stopped; stop
// and restart: those running or frozen; freeze: those running; unfreeze:
// those frozen), made
// side by side in one operation, which fails naming each instance that
// failed.
func instancesPut(d *Daemon, r *http.Request) response {
	var req api.InstancesPut
	if err := decode(r, &req); err != nil {
		return fail(err)
	}
	if req.State == nil {
		return fail(apierr.BadRequest("the request has no state to put the instances in"))
	}
	desc, work, err := stateChange(d, r, *req.State)
	if err != nil {
		return fail(err)
	}
	all, err := d.Instances.List()
	if err != nil {
		return fail(err)
	}
	proj := requestProject(r)
	var keys []string
	res := map[string][]string{"instances": {}, "containers": {}}
	for _, inst := range all {
		if project.Name(inst.Project) != proj || !bulkApplies(req.State.Action, inst.StatusCode) {
			continue
		}
		key := project.StoreKey(proj, inst.Name)
		keys = append(keys, key)
		for k, v := range resources(key) {
			res[k] = append(res[k], v...)
		}
	}
	op := d.Ops.Start(desc, res, nil, func(ctx context.Context, _ *operation.Op) error {
		var mu sync.Mutex
		failed := map[string]error{}
		var wg sync.WaitGroup
		for _, key := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := work(ctx, key); err != nil {
					mu.Lock()
					failed[key] = err
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return bulkFailures(failed)
	})
	return asyncResp{op}
}

// bulkApplies says whether a bulk action applies to an instance in state
// code. A frozen instance runs: start passes it by, stop and restart take
// it, as LXD's do.
func bulkApplies(action string, code int) bool {
	switch action {
	case "start":
		return code == api.Stopped
	case "unfreeze":
		return code == api.Frozen
	case "freeze":
		return code == api.Running
	default:
		return code == api.Running || code == api.Frozen
	}
}

// bulkFailures is one error naming each instance that failed, as LXD
// words it.
func bulkFailures(failed map[string]error) error {
	if len(failed) == 0 {
		return nil
	}
	keys := make([]string, 0, len(failed))
	for k := range failed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("The following instances failed to update state:\n")
	for _, k := range keys {
		_, name := project.SplitKey(k)
		fmt.Fprintf(&b, " - Instance: %s: %v\n", name, failed[k])
	}
	return fmt.Errorf("%s", strings.TrimSuffix(b.String(), "\n"))
}

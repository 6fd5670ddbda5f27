package resources

import (
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/api"
)

// chassisTypes names SMBIOS chassis types (the common ones).
var chassisTypes = map[int]string{1: "Other", 2: "Unknown", 3: "Desktop", 4: "Low Profile Desktop", 6: "Mini Tower", 7: "Tower",
	8: "Portable", 9: "Laptop", 10: "Notebook", 13: "All in One", 17: "Main Server Chassis", 23: "Rack Mount Chassis",
	24: "Sealed-case PC", 25: "Multi-system chassis", 28: "Blade", 29: "Blade Enclosure", 30: "Tablet", 31: "Convertible",
	35: "Mini PC", 36: "Stick PC"}

// System reads the machine's identity from its firmware (DMI, which a
// virtual machine may not have) and says whether it is physical, a
// virtual machine or a container.
func (h Host) System() api.ResourcesSystem {
	dmi := func(f string) string { return h.read("sys/class/dmi/id/" + f) }
	s := api.ResourcesSystem{
		UUID: dmi("product_uuid"), Vendor: dmi("sys_vendor"), Product: dmi("product_name"), Family: dmi("product_family"),
		Version: dmi("product_version"), Sku: dmi("product_sku"), Serial: dmi("product_serial"), Type: h.machineType(),
		Firmware:    &api.ResourcesSystemFirmware{Vendor: dmi("bios_vendor"), Date: dmi("bios_date"), Version: dmi("bios_version")},
		Chassis:     &api.ResourcesSystemChassis{Vendor: dmi("chassis_vendor"), Serial: dmi("chassis_serial"), Version: dmi("chassis_version")},
		Motherboard: &api.ResourcesSystemMotherboard{Vendor: dmi("board_vendor"), Product: dmi("board_name"), Serial: dmi("board_serial"), Version: dmi("board_version")},
	}
	if n, err := strconv.Atoi(dmi("chassis_type")); err == nil {
		if name, ok := chassisTypes[n]; ok {
			s.Chassis.Type = name
		} else {
			s.Chassis.Type = strconv.Itoa(n)
		}
	}
	return s
}

// machineType is "container" inside one (systemd's marker), else
// "virtual-machine" when the CPU says it runs under a hypervisor, else
// "physical".
func (h Host) machineType() string {
	if h.read("run/systemd/container") != "" {
		return "container"
	}
	for _, line := range strings.Split(h.read("proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			if strings.Contains(" "+v+" ", " hypervisor ") {
				return "virtual-machine"
			}
			break
		}
	}
	return "physical"
}

package resources

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/lodge-project/lodge/api"
)

var pciAddress = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$`)

// devicePath is the real sysfs folder of a class entry's device (its
// "device" link resolved), or "" for a virtual one (no device).
func (h Host) devicePath(classEntry string) string {
	p, err := filepath.EvalSymlinks(h.path(filepath.Join(classEntry, "device")))
	if err != nil {
		return ""
	}
	return p
}

// pciParent is the PCI address of the device at dev (itself or the
// nearest parent that is a PCI function), and that folder.
func pciParent(dev string) (string, string) {
	for d := dev; d != "/" && d != "."; d = filepath.Dir(d) {
		if pciAddress.MatchString(filepath.Base(d)) {
			return filepath.Base(d), d
		}
	}
	return "", ""
}

// driverOf is the kernel driver bound to the device at dev, and its
// module's version where it has one.
func driverOf(dev string) (string, string) {
	link, err := os.Readlink(filepath.Join(dev, "driver"))
	if err != nil {
		return "", ""
	}
	name := filepath.Base(link)
	version, _ := os.ReadFile(filepath.Join(dev, "driver", "module", "version"))
	return name, strings.TrimSpace(string(version))
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// hexID reads a sysfs id ("0x1af4") as LXD shows it ("1af4").
func hexID(p string) string { return strings.TrimPrefix(readTrim(p), "0x") }

func numaOf(dev string) uint64 {
	n, err := strconv.ParseInt(readTrim(filepath.Join(dev, "numa_node")), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return uint64(n)
}

// Network lists the host's network cards: each PCI (or other bus) device
// behind one or more interfaces, and the interfaces as its ports.
func (h Host) Network() api.ResourcesNetwork {
	out := api.ResourcesNetwork{Cards: []api.ResourcesNetworkCard{}}
	entries, _ := os.ReadDir(h.path("sys/class/net"))
	byDevice := map[string]int{}
	for _, e := range entries {
		class := filepath.Join("sys/class/net", e.Name())
		dev := h.devicePath(class)
		if dev == "" {
			continue // lo, bridges, veths: no hardware
		}
		i, ok := byDevice[dev]
		if !ok {
			card := api.ResourcesNetworkCard{NUMANode: numaOf(dev)}
			card.Driver, card.DriverVersion = driverOf(dev)
			addr, pci := pciParent(dev)
			card.PCIAddress = addr
			if pci != "" {
				card.VendorID, card.ProductID = hexID(filepath.Join(pci, "vendor")), hexID(filepath.Join(pci, "device"))
				card.Vendor, card.Product = pciDB.name(card.VendorID, card.ProductID)
				card.NUMANode = numaOf(pci)
			}
			i = len(out.Cards)
			byDevice[dev] = i
			out.Cards = append(out.Cards, card)
		}
		port := api.ResourcesNetworkCardPort{ID: e.Name(), Address: h.read(filepath.Join(class, "address")),
			Port: uint64(len(out.Cards[i].Ports)), Protocol: "ethernet", LinkDetected: h.read(filepath.Join(class, "carrier")) == "1"}
		if h.read(filepath.Join(class, "type")) == "32" {
			port.Protocol = "infiniband"
		}
		if speed, err := strconv.ParseInt(h.read(filepath.Join(class, "speed")), 10, 64); err == nil && speed > 0 {
			port.LinkSpeed = uint64(speed)
			port.LinkDuplex = h.read(filepath.Join(class, "duplex"))
		}
		out.Cards[i].Ports = append(out.Cards[i].Ports, port)
	}
	out.Total = uint64(len(out.Cards))
	return out
}

// Storage lists the host's disks (block devices with hardware behind
// them: not loop, zram or device-mapper devices) and their partitions.
func (h Host) Storage() api.ResourcesStorage {
	out := api.ResourcesStorage{Disks: []api.ResourcesStorageDisk{}}
	entries, _ := os.ReadDir(h.path("sys/class/block"))
	ids := h.diskLinks("dev/disk/by-id")
	paths := h.diskLinks("dev/disk/by-path")
	for _, e := range entries {
		class := filepath.Join("sys/class/block", e.Name())
		dev := h.devicePath(class)
		if dev == "" || h.read(filepath.Join(class, "partition")) != "" {
			continue
		}
		sectors, _ := h.readUint(filepath.Join(class, "size"))
		blockSize, _ := h.readUint(filepath.Join(class, "queue/logical_block_size"))
		disk := api.ResourcesStorageDisk{
			ID: e.Name(), Device: h.read(filepath.Join(class, "dev")), Model: readTrim(filepath.Join(dev, "model")),
			Type: diskType(e.Name(), dev), ReadOnly: h.read(filepath.Join(class, "ro")) == "1", Size: sectors * 512,
			Removable: h.read(filepath.Join(class, "removable")) == "1", WWN: readTrim(filepath.Join(dev, "wwid")),
			NUMANode: numaOf(dev), BlockSize: blockSize, FirmwareVersion: readTrim(filepath.Join(dev, "firmware_rev")),
			Serial: readTrim(filepath.Join(dev, "serial")), DeviceID: ids[e.Name()], DevicePath: paths[e.Name()],
			Partitions: []api.ResourcesStorageDiskPartition{},
		}
		if h.read(filepath.Join(class, "queue/rotational")) == "1" {
			disk.RPM = 1 // spinning, speed unknown (LXD's convention)
		}
		disk.PCIAddress, _ = pciParent(dev)
		parts, _ := os.ReadDir(h.path(class))
		for _, p := range parts {
			pdir := filepath.Join(class, p.Name())
			n, ok := h.readUint(filepath.Join(pdir, "partition"))
			if !ok {
				continue
			}
			size, _ := h.readUint(filepath.Join(pdir, "size"))
			disk.Partitions = append(disk.Partitions, api.ResourcesStorageDiskPartition{ID: p.Name(), Device: h.read(filepath.Join(pdir, "dev")),
				ReadOnly: h.read(filepath.Join(pdir, "ro")) == "1", Size: size * 512, Partition: n})
		}
		sort.Slice(disk.Partitions, func(i, j int) bool { return disk.Partitions[i].Partition < disk.Partitions[j].Partition })
		out.Disks = append(out.Disks, disk)
	}
	out.Total = uint64(len(out.Disks))
	return out
}

// diskType names a disk's bus as LXD does: nvme, virtio, sata, usb, scsi,
// mmc.
func diskType(name, dev string) string {
	switch {
	case strings.HasPrefix(name, "nvme"):
		return "nvme"
	case strings.Contains(dev, "/virtio"):
		return "virtio"
	case strings.Contains(dev, "/usb"):
		return "usb"
	case strings.Contains(dev, "/ata"):
		return "sata"
	case strings.Contains(dev, "/mmc"):
		return "mmc"
	case strings.Contains(dev, "/host") || strings.Contains(dev, "/target"):
		return "scsi"
	}
	return ""
}

// diskLinks maps block device names to their stable names in dir
// (/dev/disk/by-id, by-path), the first (sorted) of each.
func (h Host) diskLinks(dir string) map[string]string {
	out := map[string]string{}
	entries, _ := os.ReadDir(h.path(dir))
	for _, e := range entries {
		target, err := os.Readlink(h.path(filepath.Join(dir, e.Name())))
		if err != nil {
			continue
		}
		if _, seen := out[filepath.Base(target)]; !seen {
			out[filepath.Base(target)] = e.Name()
		}
	}
	return out
}

// PCI lists the host's PCI functions.
func (h Host) PCI() api.ResourcesPCI {
	out := api.ResourcesPCI{Devices: []api.ResourcesPCIDevice{}}
	entries, _ := os.ReadDir(h.path("sys/bus/pci/devices"))
	for _, e := range entries {
		dev, err := filepath.EvalSymlinks(h.path(filepath.Join("sys/bus/pci/devices", e.Name())))
		if err != nil {
			continue
		}
		d := api.ResourcesPCIDevice{PCIAddress: e.Name(), NUMANode: numaOf(dev),
			VendorID: hexID(filepath.Join(dev, "vendor")), ProductID: hexID(filepath.Join(dev, "device"))}
		d.Vendor, d.Product = pciDB.name(d.VendorID, d.ProductID)
		d.Driver, d.DriverVersion = driverOf(dev)
		if g, err := os.Readlink(filepath.Join(dev, "iommu_group")); err == nil {
			d.IOMMUGroup, _ = strconv.ParseUint(filepath.Base(g), 10, 64)
		}
		out.Devices = append(out.Devices, d)
	}
	out.Total = uint64(len(out.Devices))
	return out
}

// USB lists the host's USB devices and their interfaces.
func (h Host) USB() api.ResourcesUSB {
	out := api.ResourcesUSB{Devices: []api.ResourcesUSBDevice{}}
	entries, _ := os.ReadDir(h.path("sys/bus/usb/devices"))
	for _, e := range entries {
		dir := filepath.Join("sys/bus/usb/devices", e.Name())
		if h.read(filepath.Join(dir, "idVendor")) == "" {
			continue // an interface, not a device
		}
		bus, _ := h.readUint(filepath.Join(dir, "busnum"))
		num, _ := h.readUint(filepath.Join(dir, "devnum"))
		speed, _ := strconv.ParseFloat(h.read(filepath.Join(dir, "speed")), 64)
		d := api.ResourcesUSBDevice{BusAddress: bus, DeviceAddress: num, Vendor: h.read(filepath.Join(dir, "manufacturer")),
			VendorID: h.read(filepath.Join(dir, "idVendor")), Product: h.read(filepath.Join(dir, "product")),
			ProductID: h.read(filepath.Join(dir, "idProduct")), Speed: speed, Interfaces: []api.ResourcesUSBDeviceInterface{}}
		ifaces, _ := os.ReadDir(h.path(dir))
		for _, i := range ifaces {
			idir := filepath.Join(dir, i.Name())
			class, err := strconv.ParseUint(h.read(filepath.Join(idir, "bInterfaceClass")), 16, 64)
			if err != nil {
				continue
			}
			sub, _ := strconv.ParseUint(h.read(filepath.Join(idir, "bInterfaceSubClass")), 16, 64)
			n, _ := strconv.ParseUint(h.read(filepath.Join(idir, "bInterfaceNumber")), 16, 64)
			drv, ver := driverOf(h.path(idir))
			d.Interfaces = append(d.Interfaces, api.ResourcesUSBDeviceInterface{ClassID: class, SubClassID: sub, Number: n, Driver: drv, DriverVersion: ver})
		}
		out.Devices = append(out.Devices, d)
	}
	out.Total = uint64(len(out.Devices))
	return out
}

// GPU lists the host's graphics cards, from their DRM nodes.
func (h Host) GPU() api.ResourcesGPU {
	out := api.ResourcesGPU{Cards: []api.ResourcesGPUCard{}}
	entries, _ := os.ReadDir(h.path("sys/class/drm"))
	byDevice := map[string]int{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "card") || strings.Contains(name, "-") {
			continue // connectors (card0-HDMI-A-1)
		}
		class := filepath.Join("sys/class/drm", name)
		dev := h.devicePath(class)
		if dev == "" {
			continue
		}
		if _, ok := byDevice[dev]; ok {
			continue
		}
		id, _ := strconv.ParseUint(strings.TrimPrefix(name, "card"), 10, 64)
		card := api.ResourcesGPUCard{NUMANode: numaOf(dev), DRM: &api.ResourcesGPUCardDRM{ID: id, CardName: name, CardDevice: h.read(filepath.Join(class, "dev"))}}
		card.Driver, card.DriverVersion = driverOf(dev)
		card.PCIAddress, _ = pciParent(dev)
		card.VendorID, card.ProductID = hexID(filepath.Join(dev, "vendor")), hexID(filepath.Join(dev, "device"))
		card.Vendor, card.Product = pciDB.name(card.VendorID, card.ProductID)
		nodes, _ := os.ReadDir(filepath.Join(dev, "drm"))
		for _, n := range nodes {
			if strings.HasPrefix(n.Name(), "renderD") {
				card.DRM.RenderName = n.Name()
				card.DRM.RenderDevice = readTrim(filepath.Join(dev, "drm", n.Name(), "dev"))
			}
		}
		byDevice[dev] = len(out.Cards)
		out.Cards = append(out.Cards, card)
	}
	out.Total = uint64(len(out.Cards))
	return out
}

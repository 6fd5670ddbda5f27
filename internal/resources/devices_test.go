package resources

import (
	"os"
	"path/filepath"
	"testing"
)

func link(t *testing.T, root, target, at string) {
	t.Helper()
	p := filepath.Join(root, at)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, root, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A host with one virtio NIC (eth0, plus lo, which has no device), one
// virtio disk with two partitions, and a loop device (no device: left
// out), in sysfs's layout of links.
func TestDevicesFromTree(t *testing.T) {
	root := t.TempDir()
	pci := "sys/devices/pci0000:00/"
	for _, fn := range []struct{ addr, product, child string }{{"0000:00:03.0", "0x1041", "virtio2"}, {"0000:00:02.0", "0x1042", "virtio1"}} {
		put(t, root, pci+fn.addr+"/vendor", "0x1af4")
		put(t, root, pci+fn.addr+"/device", fn.product)
		put(t, root, pci+fn.addr+"/numa_node", "-1")
		mkdir(t, root, pci+fn.addr+"/"+fn.child)
		link(t, root, "../../../bus/pci/drivers/virtio-pci", pci+fn.addr+"/driver")
		link(t, root, "../../../devices/pci0000:00/"+fn.addr, "sys/bus/pci/devices/"+fn.addr)
	}
	mkdir(t, root, "sys/bus/pci/drivers/virtio-pci")
	mkdir(t, root, "sys/bus/virtio/drivers/virtio_net")
	link(t, root, "../../../../bus/virtio/drivers/virtio_net", pci+"0000:00:03.0/virtio2/driver")

	put(t, root, "sys/class/net/eth0/address", "02:fc:00:00:00:01")
	put(t, root, "sys/class/net/eth0/carrier", "1")
	put(t, root, "sys/class/net/eth0/speed", "10000")
	put(t, root, "sys/class/net/eth0/duplex", "full")
	put(t, root, "sys/class/net/eth0/type", "1")
	link(t, root, "../../../devices/pci0000:00/0000:00:03.0/virtio2", "sys/class/net/eth0/device")
	put(t, root, "sys/class/net/lo/address", "00:00:00:00:00:00")

	vda := "sys/class/block/vda/"
	put(t, root, vda+"dev", "254:0")
	put(t, root, vda+"size", "2048")
	put(t, root, vda+"ro", "0")
	put(t, root, vda+"removable", "0")
	put(t, root, vda+"queue/logical_block_size", "512")
	put(t, root, vda+"queue/rotational", "0")
	link(t, root, "../../../devices/pci0000:00/0000:00:02.0/virtio1", vda+"device")
	for i, n := range []string{"2", "1"} {
		put(t, root, vda+"vda"+n+"/partition", n)
		put(t, root, vda+"vda"+n+"/dev", "254:"+n)
		put(t, root, vda+"vda"+n+"/size", []string{"1000", "24"}[i])
	}
	put(t, root, "sys/class/block/loop0/dev", "7:0")
	link(t, root, "../../vda", "dev/disk/by-path/pci-0000:00:02.0")

	h := Host{Root: root}
	net := h.Network()
	if net.Total != 1 || len(net.Cards) != 1 {
		t.Fatalf("network cards: %+v", net)
	}
	card := net.Cards[0]
	if card.Driver != "virtio_net" || card.PCIAddress != "0000:00:03.0" || card.VendorID != "1af4" || card.ProductID != "1041" || len(card.Ports) != 1 {
		t.Fatalf("the NIC: %+v", card)
	}
	if p := card.Ports[0]; p.ID != "eth0" || p.Address != "02:fc:00:00:00:01" || !p.LinkDetected || p.LinkSpeed != 10000 || p.LinkDuplex != "full" || p.Protocol != "ethernet" {
		t.Fatalf("its port: %+v", p)
	}

	st := h.Storage()
	if st.Total != 1 || st.Disks[0].ID != "vda" {
		t.Fatalf("disks (loop0 has no device): %+v", st)
	}
	d := st.Disks[0]
	if d.Device != "254:0" || d.Size != 2048*512 || d.Type != "virtio" || d.BlockSize != 512 || d.RPM != 0 || d.PCIAddress != "0000:00:02.0" ||
		d.DevicePath != "pci-0000:00:02.0" || len(d.Partitions) != 2 || d.Partitions[0].Partition != 1 || d.Partitions[0].Size != 24*512 {
		t.Fatalf("vda: %+v", d)
	}

	pcis := h.PCI()
	if pcis.Total != 2 || pcis.Devices[0].PCIAddress != "0000:00:02.0" || pcis.Devices[0].Driver != "virtio-pci" || pcis.Devices[1].ProductID != "1041" {
		t.Fatalf("PCI: %+v", pcis)
	}
	if u := h.USB(); u.Total != 0 || u.Devices == nil {
		t.Fatalf("USB on a host with none: %+v", u)
	}
	if g := h.GPU(); g.Total != 0 || g.Cards == nil {
		t.Fatalf("GPUs on a host with none: %+v", g)
	}
}

func TestSystemType(t *testing.T) {
	root := t.TempDir()
	put(t, root, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n")
	put(t, root, "sys/class/dmi/id/chassis_type", "17")
	put(t, root, "sys/class/dmi/id/sys_vendor", "QEMU")
	s := Host{Root: root}.System()
	if s.Type != "virtual-machine" || s.Chassis.Type != "Main Server Chassis" || s.Vendor != "QEMU" {
		t.Fatalf("system: %+v %+v", s, s.Chassis)
	}
	put(t, root, "proc/cpuinfo", "flags\t\t: fpu vme\n")
	if s := (Host{Root: root}).System(); s.Type != "physical" {
		t.Fatalf("no hypervisor flag: %+v", s)
	}
	put(t, root, "run/systemd/container", "lxc")
	if s := (Host{Root: root}).System(); s.Type != "container" {
		t.Fatalf("in a container: %+v", s)
	}
}

func TestPCINamesFromTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pci.ids")
	if err := os.WriteFile(db, []byte("# comment\n1af4  Red Hat, Inc.\n\t1041  Virtio 1.0 network device\n\t\t1af4 1100  QEMU\n8086  Intel Corporation\nC 00  Unclassified device\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := pciIDsFiles
	pciIDsFiles = []string{db}
	defer func() { pciIDsFiles = old }()
	var p pciNames
	if v, d := p.name("1af4", "1041"); v != "Red Hat, Inc." || d != "Virtio 1.0 network device" {
		t.Fatalf("names: %q %q", v, d)
	}
	if v, d := p.name("8086", "ffff"); v != "Intel Corporation" || d != "" {
		t.Fatalf("an unknown product: %q %q", v, d)
	}
}

package api

// The devices of GET /1.0/resources, in LXD's shapes (resources_v2 and
// the extensions after it). Fields Lodge cannot read from sysfs (SR-IOV,
// NVIDIA, mediated devices, InfiniBand details) are left out; their JSON
// keys are optional in LXD's too.

// ResourcesGPU is the host's graphics cards.
type ResourcesGPU struct {
	Cards []ResourcesGPUCard `json:"cards" yaml:"cards"`
	Total uint64             `json:"total" yaml:"total"`
}

// ResourcesGPUCard is one graphics card.
type ResourcesGPUCard struct {
	Driver        string               `json:"driver,omitempty" yaml:"driver,omitempty"`
	DriverVersion string               `json:"driver_version,omitempty" yaml:"driver_version,omitempty"`
	DRM           *ResourcesGPUCardDRM `json:"drm,omitempty" yaml:"drm,omitempty"`
	NUMANode      uint64               `json:"numa_node" yaml:"numa_node"`
	PCIAddress    string               `json:"pci_address,omitempty" yaml:"pci_address,omitempty"`
	Vendor        string               `json:"vendor,omitempty" yaml:"vendor,omitempty"`
	VendorID      string               `json:"vendor_id,omitempty" yaml:"vendor_id,omitempty"`
	Product       string               `json:"product,omitempty" yaml:"product,omitempty"`
	ProductID     string               `json:"product_id,omitempty" yaml:"product_id,omitempty"`
	USBAddress    string               `json:"usb_address,omitempty" yaml:"usb_address,omitempty"`
}

// ResourcesGPUCardDRM is a card's DRM nodes.
type ResourcesGPUCardDRM struct {
	ID            uint64 `json:"id" yaml:"id"`
	CardName      string `json:"card_name" yaml:"card_name"`
	CardDevice    string `json:"card_device" yaml:"card_device"`
	ControlName   string `json:"control_name,omitempty" yaml:"control_name,omitempty"`
	ControlDevice string `json:"control_device,omitempty" yaml:"control_device,omitempty"`
	RenderName    string `json:"render_name,omitempty" yaml:"render_name,omitempty"`
	RenderDevice  string `json:"render_device,omitempty" yaml:"render_device,omitempty"`
}

// ResourcesNetwork is the host's network cards.
type ResourcesNetwork struct {
	Cards []ResourcesNetworkCard `json:"cards" yaml:"cards"`
	Total uint64                 `json:"total" yaml:"total"`
}

// ResourcesNetworkCard is one network card and its ports.
type ResourcesNetworkCard struct {
	Driver          string                     `json:"driver,omitempty" yaml:"driver,omitempty"`
	DriverVersion   string                     `json:"driver_version,omitempty" yaml:"driver_version,omitempty"`
	Ports           []ResourcesNetworkCardPort `json:"ports,omitempty" yaml:"ports,omitempty"`
	NUMANode        uint64                     `json:"numa_node" yaml:"numa_node"`
	PCIAddress      string                     `json:"pci_address,omitempty" yaml:"pci_address,omitempty"`
	Vendor          string                     `json:"vendor,omitempty" yaml:"vendor,omitempty"`
	VendorID        string                     `json:"vendor_id,omitempty" yaml:"vendor_id,omitempty"`
	Product         string                     `json:"product,omitempty" yaml:"product,omitempty"`
	ProductID       string                     `json:"product_id,omitempty" yaml:"product_id,omitempty"`
	FirmwareVersion string                     `json:"firmware_version,omitempty" yaml:"firmware_version,omitempty"`
	USBAddress      string                     `json:"usb_address,omitempty" yaml:"usb_address,omitempty"`
}

// ResourcesNetworkCardPort is one interface of a card.
type ResourcesNetworkCardPort struct {
	ID              string   `json:"id" yaml:"id"`
	Address         string   `json:"address,omitempty" yaml:"address,omitempty"`
	Port            uint64   `json:"port" yaml:"port"`
	Protocol        string   `json:"protocol" yaml:"protocol"`
	SupportedModes  []string `json:"supported_modes,omitempty" yaml:"supported_modes,omitempty"`
	SupportedPorts  []string `json:"supported_ports,omitempty" yaml:"supported_ports,omitempty"`
	PortType        string   `json:"port_type,omitempty" yaml:"port_type,omitempty"`
	TransceiverType string   `json:"transceiver_type,omitempty" yaml:"transceiver_type,omitempty"`
	AutoNegotiation bool     `json:"auto_negotiation" yaml:"auto_negotiation"`
	LinkDetected    bool     `json:"link_detected" yaml:"link_detected"`
	LinkSpeed       uint64   `json:"link_speed,omitempty" yaml:"link_speed,omitempty"`
	LinkDuplex      string   `json:"link_duplex,omitempty" yaml:"link_duplex,omitempty"`
}

// ResourcesStorage is the host's disks.
type ResourcesStorage struct {
	Disks []ResourcesStorageDisk `json:"disks" yaml:"disks"`
	Total uint64                 `json:"total" yaml:"total"`
}

// ResourcesStorageDisk is one disk.
type ResourcesStorageDisk struct {
	ID              string                          `json:"id" yaml:"id"`
	Device          string                          `json:"device" yaml:"device"`
	Model           string                          `json:"model,omitempty" yaml:"model,omitempty"`
	Type            string                          `json:"type,omitempty" yaml:"type,omitempty"`
	ReadOnly        bool                            `json:"read_only" yaml:"read_only"`
	Size            uint64                          `json:"size" yaml:"size"`
	Removable       bool                            `json:"removable" yaml:"removable"`
	WWN             string                          `json:"wwn,omitempty" yaml:"wwn,omitempty"`
	NUMANode        uint64                          `json:"numa_node" yaml:"numa_node"`
	DevicePath      string                          `json:"device_path,omitempty" yaml:"device_path,omitempty"`
	BlockSize       uint64                          `json:"block_size" yaml:"block_size"`
	FirmwareVersion string                          `json:"firmware_version,omitempty" yaml:"firmware_version,omitempty"`
	RPM             uint64                          `json:"rpm" yaml:"rpm"`
	Serial          string                          `json:"serial,omitempty" yaml:"serial,omitempty"`
	DeviceID        string                          `json:"device_id" yaml:"device_id"`
	Partitions      []ResourcesStorageDiskPartition `json:"partitions" yaml:"partitions"`
	PCIAddress      string                          `json:"pci_address,omitempty" yaml:"pci_address,omitempty"`
	USBAddress      string                          `json:"usb_address,omitempty" yaml:"usb_address,omitempty"`
}

// ResourcesStorageDiskPartition is one partition of a disk.
type ResourcesStorageDiskPartition struct {
	ID        string `json:"id" yaml:"id"`
	Device    string `json:"device" yaml:"device"`
	ReadOnly  bool   `json:"read_only" yaml:"read_only"`
	Size      uint64 `json:"size" yaml:"size"`
	Partition uint64 `json:"partition" yaml:"partition"`
}

// ResourcesUSB is the host's USB devices.
type ResourcesUSB struct {
	Devices []ResourcesUSBDevice `json:"devices" yaml:"devices"`
	Total   uint64               `json:"total" yaml:"total"`
}

// ResourcesUSBDevice is one USB device.
type ResourcesUSBDevice struct {
	BusAddress    uint64                        `json:"bus_address" yaml:"bus_address"`
	DeviceAddress uint64                        `json:"device_address" yaml:"device_address"`
	Interfaces    []ResourcesUSBDeviceInterface `json:"interfaces" yaml:"interfaces"`
	Vendor        string                        `json:"vendor" yaml:"vendor"`
	VendorID      string                        `json:"vendor_id" yaml:"vendor_id"`
	Product       string                        `json:"product" yaml:"product"`
	ProductID     string                        `json:"product_id" yaml:"product_id"`
	Speed         float64                       `json:"speed" yaml:"speed"`
}

// ResourcesUSBDeviceInterface is one interface of a USB device.
type ResourcesUSBDeviceInterface struct {
	Class         string `json:"class" yaml:"class"`
	ClassID       uint64 `json:"class_id" yaml:"class_id"`
	Driver        string `json:"driver" yaml:"driver"`
	DriverVersion string `json:"driver_version" yaml:"driver_version"`
	Number        uint64 `json:"number" yaml:"number"`
	SubClass      string `json:"subclass" yaml:"subclass"`
	SubClassID    uint64 `json:"subclass_id" yaml:"subclass_id"`
}

// ResourcesPCI is the host's PCI functions.
type ResourcesPCI struct {
	Devices []ResourcesPCIDevice `json:"devices" yaml:"devices"`
	Total   uint64               `json:"total" yaml:"total"`
}

// ResourcesPCIDevice is one PCI function.
type ResourcesPCIDevice struct {
	Driver        string `json:"driver" yaml:"driver"`
	DriverVersion string `json:"driver_version" yaml:"driver_version"`
	NUMANode      uint64 `json:"numa_node" yaml:"numa_node"`
	PCIAddress    string `json:"pci_address" yaml:"pci_address"`
	Vendor        string `json:"vendor" yaml:"vendor"`
	VendorID      string `json:"vendor_id" yaml:"vendor_id"`
	Product       string `json:"product" yaml:"product"`
	ProductID     string `json:"product_id" yaml:"product_id"`
	IOMMUGroup    uint64 `json:"iommu_group" yaml:"iommu_group"`
}

// ResourcesSystem is the machine itself, from its firmware (DMI).
type ResourcesSystem struct {
	UUID        string                      `json:"uuid" yaml:"uuid"`
	Vendor      string                      `json:"vendor" yaml:"vendor"`
	Product     string                      `json:"product" yaml:"product"`
	Family      string                      `json:"family" yaml:"family"`
	Version     string                      `json:"version" yaml:"version"`
	Sku         string                      `json:"sku" yaml:"sku"`
	Serial      string                      `json:"serial" yaml:"serial"`
	Type        string                      `json:"type" yaml:"type"`
	Firmware    *ResourcesSystemFirmware    `json:"firmware" yaml:"firmware"`
	Chassis     *ResourcesSystemChassis     `json:"chassis" yaml:"chassis"`
	Motherboard *ResourcesSystemMotherboard `json:"motherboard" yaml:"motherboard"`
}

// ResourcesSystemFirmware is the machine's firmware.
type ResourcesSystemFirmware struct {
	Vendor  string `json:"vendor" yaml:"vendor"`
	Date    string `json:"date" yaml:"date"`
	Version string `json:"version" yaml:"version"`
}

// ResourcesSystemChassis is the machine's chassis.
type ResourcesSystemChassis struct {
	Vendor  string `json:"vendor" yaml:"vendor"`
	Type    string `json:"type" yaml:"type"`
	Serial  string `json:"serial" yaml:"serial"`
	Version string `json:"version" yaml:"version"`
}

// ResourcesSystemMotherboard is the machine's motherboard.
type ResourcesSystemMotherboard struct {
	Vendor  string `json:"vendor" yaml:"vendor"`
	Product string `json:"product" yaml:"product"`
	Serial  string `json:"serial" yaml:"serial"`
	Version string `json:"version" yaml:"version"`
}

package api

// Resources is GET /1.0/resources (the resources and resources_v2
// extensions): the host's hardware, in LXD's shape.
type Resources struct {
	CPU     ResourcesCPU     `json:"cpu" yaml:"cpu"`
	Memory  ResourcesMemory  `json:"memory" yaml:"memory"`
	GPU     ResourcesGPU     `json:"gpu" yaml:"gpu"`
	Network ResourcesNetwork `json:"network" yaml:"network"`
	Storage ResourcesStorage `json:"storage" yaml:"storage"`
	USB     ResourcesUSB     `json:"usb" yaml:"usb"`
	PCI     ResourcesPCI     `json:"pci" yaml:"pci"`
	System  ResourcesSystem  `json:"system" yaml:"system"`
}

// ResourcesCPU is the host's processors, by socket.
type ResourcesCPU struct {
	Architecture string               `json:"architecture" yaml:"architecture"`
	Sockets      []ResourcesCPUSocket `json:"sockets" yaml:"sockets"`
	Total        uint64               `json:"total" yaml:"total"`
}

// ResourcesCPUSocket is one processor package.
type ResourcesCPUSocket struct {
	Name             string              `json:"name,omitempty" yaml:"name,omitempty"`
	Vendor           string              `json:"vendor,omitempty" yaml:"vendor,omitempty"`
	Socket           uint64              `json:"socket" yaml:"socket"`
	Cache            []ResourcesCPUCache `json:"cache,omitempty" yaml:"cache,omitempty"`
	Cores            []ResourcesCPUCore  `json:"cores" yaml:"cores"`
	Frequency        uint64              `json:"frequency,omitempty" yaml:"frequency,omitempty"`
	FrequencyMinimum uint64              `json:"frequency_minimum,omitempty" yaml:"frequency_minimum,omitempty"`
	FrequencyTurbo   uint64              `json:"frequency_turbo,omitempty" yaml:"frequency_turbo,omitempty"`
}

// ResourcesCPUCache is one cache of a socket.
type ResourcesCPUCache struct {
	Level uint64 `json:"level" yaml:"level"`
	Type  string `json:"type" yaml:"type"`
	Size  uint64 `json:"size" yaml:"size"`
}

// ResourcesCPUCore is one core and its threads.
type ResourcesCPUCore struct {
	Core      uint64               `json:"core" yaml:"core"`
	Die       uint64               `json:"die" yaml:"die"`
	Threads   []ResourcesCPUThread `json:"threads" yaml:"threads"`
	Frequency uint64               `json:"frequency,omitempty" yaml:"frequency,omitempty"`
}

// ResourcesCPUThread is one logical CPU.
type ResourcesCPUThread struct {
	ID       int64  `json:"id" yaml:"id"`
	NUMANode uint64 `json:"numa_node" yaml:"numa_node"`
	Thread   uint64 `json:"thread" yaml:"thread"`
	Online   bool   `json:"online" yaml:"online"`
	Isolated bool   `json:"isolated" yaml:"isolated"`
}

// ResourcesMemory is the host's memory, in bytes.
type ResourcesMemory struct {
	Nodes          []ResourcesMemoryNode `json:"nodes,omitempty" yaml:"nodes,omitempty"`
	HugepagesTotal uint64                `json:"hugepages_total" yaml:"hugepages_total"`
	HugepagesUsed  uint64                `json:"hugepages_used" yaml:"hugepages_used"`
	HugepagesSize  uint64                `json:"hugepages_size" yaml:"hugepages_size"`
	Used           uint64                `json:"used" yaml:"used"`
	Total          uint64                `json:"total" yaml:"total"`
}

// ResourcesMemoryNode is one NUMA node's memory.
type ResourcesMemoryNode struct {
	NUMANode       uint64 `json:"numa_node" yaml:"numa_node"`
	HugepagesUsed  uint64 `json:"hugepages_used" yaml:"hugepages_used"`
	HugepagesTotal uint64 `json:"hugepages_total" yaml:"hugepages_total"`
	Used           uint64 `json:"used" yaml:"used"`
	Total          uint64 `json:"total" yaml:"total"`
}

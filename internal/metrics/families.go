// Package metrics writes instance metrics in the Prometheus text format,
// under the names LXD 5.0.2 gives them (lxd_cpu_seconds_total, ...), so
// that dashboards and alerts made for LXD read Lodge unchanged.
package metrics

// Family is one metric; the order is LXD's, which its output keeps.
type Family int

// LXD's metrics.
const (
	CPUSecondsTotal Family = iota
	DiskReadBytesTotal
	DiskReadsCompletedTotal
	DiskWrittenBytesTotal
	DiskWritesCompletedTotal
	FilesystemAvailBytes
	FilesystemFreeBytes
	FilesystemSizeBytes
	MemoryActiveAnonBytes
	MemoryActiveFileBytes
	MemoryActiveBytes
	MemoryCachedBytes
	MemoryDirtyBytes
	MemoryHugepagesFreeBytes
	MemoryHugepagesTotalBytes
	MemoryInactiveAnonBytes
	MemoryInactiveFileBytes
	MemoryInactiveBytes
	MemoryMappedBytes
	MemoryMemAvailableBytes
	MemoryMemFreeBytes
	MemoryMemTotalBytes
	MemoryRSSBytes
	MemoryShmemBytes
	MemorySwapBytes
	MemoryUnevictableBytes
	MemoryWritebackBytes
	NetworkReceiveBytesTotal
	NetworkReceiveDropTotal
	NetworkReceiveErrsTotal
	NetworkReceivePacketsTotal
	NetworkTransmitBytesTotal
	NetworkTransmitDropTotal
	NetworkTransmitErrsTotal
	NetworkTransmitPacketsTotal
	ProcsTotal
	numFamilies
)

type family struct {
	name, help string
	counter    bool // else a gauge
}

var families = [numFamilies]family{
	CPUSecondsTotal:             {"lxd_cpu_seconds_total", "The total number of CPU time used in seconds.", true},
	DiskReadBytesTotal:          {"lxd_disk_read_bytes_total", "The total number of bytes read.", true},
	DiskReadsCompletedTotal:     {"lxd_disk_reads_completed_total", "The total number of completed reads.", true},
	DiskWrittenBytesTotal:       {"lxd_disk_written_bytes_total", "The total number of bytes written.", true},
	DiskWritesCompletedTotal:    {"lxd_disk_writes_completed_total", "The total number of completed writes.", true},
	FilesystemAvailBytes:        {"lxd_filesystem_avail_bytes", "The number of available space in bytes.", false},
	FilesystemFreeBytes:         {"lxd_filesystem_free_bytes", "The number of free space in bytes.", false},
	FilesystemSizeBytes:         {"lxd_filesystem_size_bytes", "The size of the filesystem in bytes.", false},
	MemoryActiveAnonBytes:       {"lxd_memory_Active_anon_bytes", "The amount of anonymous memory on active LRU list.", false},
	MemoryActiveFileBytes:       {"lxd_memory_Active_file_bytes", "The amount of file-backed memory on active LRU list.", false},
	MemoryActiveBytes:           {"lxd_memory_Active_bytes", "The amount of memory on active LRU list.", false},
	MemoryCachedBytes:           {"lxd_memory_Cached_bytes", "The amount of cached memory.", false},
	MemoryDirtyBytes:            {"lxd_memory_Dirty_bytes", "The amount of memory waiting to get written back to the disk.", false},
	MemoryHugepagesFreeBytes:    {"lxd_memory_HugepagesFree_bytes", "The amount of free memory for hugetlb.", false},
	MemoryHugepagesTotalBytes:   {"lxd_memory_HugepagesTotal_bytes", "The amount of used memory for hugetlb.", false},
	MemoryInactiveAnonBytes:     {"lxd_memory_Inactive_anon_bytes", "The amount of anonymous memory on inactive LRU list.", false},
	MemoryInactiveFileBytes:     {"lxd_memory_Inactive_file_bytes", "The amount of file-backed memory on inactive LRU list.", false},
	MemoryInactiveBytes:         {"lxd_memory_Inactive_bytes", "The amount of memory on inactive LRU list.", false},
	MemoryMappedBytes:           {"lxd_memory_Mapped_bytes", "The amount of mapped memory.", false},
	MemoryMemAvailableBytes:     {"lxd_memory_MemAvailable_bytes", "The amount of available memory.", false},
	MemoryMemFreeBytes:          {"lxd_memory_MemFree_bytes", "The amount of free memory.", false},
	MemoryMemTotalBytes:         {"lxd_memory_MemTotal_bytes", "The amount of used memory.", false},
	MemoryRSSBytes:              {"lxd_memory_RSS_bytes", "The amount of anonymous and swap cache memory.", false},
	MemoryShmemBytes:            {"lxd_memory_Shmem_bytes", "The amount of cached filesystem data that is swap-backed.", false},
	MemorySwapBytes:             {"lxd_memory_Swap_bytes", "The amount of used swap memory.", false},
	MemoryUnevictableBytes:      {"lxd_memory_Unevictable_bytes", "The amount of unevictable memory.", false},
	MemoryWritebackBytes:        {"lxd_memory_Writeback_bytes", "The amount of memory queued for syncing to disk.", false},
	NetworkReceiveBytesTotal:    {"lxd_network_receive_bytes_total", "The amount of received bytes on a given interface.", true},
	NetworkReceiveDropTotal:     {"lxd_network_receive_drop_total", "The amount of received dropped bytes on a given interface.", true},
	NetworkReceiveErrsTotal:     {"lxd_network_receive_errs_total", "The amount of received errors on a given interface.", true},
	NetworkReceivePacketsTotal:  {"lxd_network_receive_packets_total", "The amount of received packets on a given interface.", true},
	NetworkTransmitBytesTotal:   {"lxd_network_transmit_bytes_total", "The amount of transmitted bytes on a given interface.", true},
	NetworkTransmitDropTotal:    {"lxd_network_transmit_drop_total", "The amount of transmitted dropped bytes on a given interface.", true},
	NetworkTransmitErrsTotal:    {"lxd_network_transmit_errs_total", "The amount of transmitted errors on a given interface.", true},
	NetworkTransmitPacketsTotal: {"lxd_network_transmit_packets_total", "The amount of transmitted packets on a given interface.", true},
	// A process count goes down as well as up: a gauge, as LXD has it.
	ProcsTotal: {"lxd_procs_total", "The number of running processes.", false},
}

package daemon

// extension is one API extension lodged advertises: clients decide what to
// send from this list, so it holds only what works. LXD's names mean LXD's
// behaviour; Lodge's own carry the lodge_ prefix. Test names the test that
// shows the promise kept (TestExtensionTable checks it exists).
type extension struct {
	Name    string
	Promise string
	Test    string
}

var extensions = []extension{
	{"etag", "GET answers carry an ETag; PUT and PATCH with If-Match refuse a stale one (412)", "TestETag"},
	{"patch", "PATCH merges into instances, profiles, networks and images as stored", "TestConcurrentWritesLoseNothing"},
	{"container_last_used_at", "instances report last_used_at, set at each start", "TestAdvertisedExtensions"},
	{"container_exec_recording", "exec with record-output keeps the output in the instance's logs", "TestExecRecordOutput"},
	{"container_exec_signal_handling", "exec's control websocket forwards signals", "TestExecPty"},
	{"container_exec_user_group_cwd", "exec takes user, group and cwd", "TestExecPipes"},
	{"instances", "the /1.0/instances endpoints (and /1.0/containers)", "TestLXCClient"},
	{"container_full", "recursion=2 lists instances with state, snapshots and backups", "TestLXCClient"},
	{"instance_get_full", "GET of an instance with recursion=1 adds its state, snapshots and backups (lxc info)", "TestDailyLXC"},
	{"operation_description", "operations carry a description", "TestAdvertisedExtensions"},
	{"event_lifecycle", "lifecycle events on /1.0/events", "TestEventsAndOperations"},
	{"container_host_shutdown_timeout", "boot.host_shutdown_timeout", "TestAutostartAndHostShutdown"},
	{"profile_usedby", "profiles list the instances that use them (used_by)", "TestAdvertisedExtensions"},
	{"instance_all_projects", "?all-projects=true lists the instances of every project", "TestAdvertisedExtensions"},
	{"snapshot_expiry", "snapshots.expiry and a snapshot's expires_at", "TestSnapshotSchedule"},
	{"snapshot_expiry_creation", "a snapshot create takes expires_at", "TestAdvertisedExtensions"},
	{"snapshot_scheduling", "snapshots.schedule, snapshots.schedule.stopped, snapshots.pattern", "TestSnapshotSchedule"},
	{"container_protection_delete", "security.protection.delete", "TestCopyAndRename"},
	{"container_only_migration", "copy with instance_only leaves the snapshots out", "TestCopyAndRename"},
	{"file_delete", "DELETE on the files endpoint", "TestFiles"},
	{"file_append", "X-LXD-write: append", "TestAdvertisedExtensions"},
	{"file_get_symlink", "GET of a symlink's path answers the link itself (X-LXD-type: symlink, its target as the body), as LXD's: lxc makes a link of it, or follows it to stdout", "TestFilesLXC"},
	{"instance_file_head", "HEAD on the files endpoint: a path's type, owner and mode, no body", "TestFilesLXC"},
	{"file_symlinks", "the files API reads and writes symlinks", "TestFiles"},
	{"directory_manipulation", "the files API makes and lists directories", "TestFiles"},
	{"console", "the console websocket and the console log", "TestConsole"},
	{"network", "the /1.0/networks endpoints, managed bridges", "TestManagedNetwork"},
	{"network_state", "GET /1.0/networks/NAME/state", "TestAutoInitAndLXCNetworks"},
	{"network_leases", "GET /1.0/networks/NAME/leases", "TestManagedNetwork"},
	{"instance_nic_network", "NICs with network=NET on a managed network (and bridged parent=NET NICs alike)", "TestBothNICForms"},
	{"api_filtering", "?filter= on instance lists", "TestListFilter"},
	{"storage", "the /1.0/storage-pools endpoints; a root disk names its pool", "TestAdvertisedExtensions"},
	{"container_backup", "instance backups in LXD's tarball layout: create, list, rename, delete, export; import by posting a tarball", "TestBackups"},
	{"backup_compression_algorithm", "a backup takes compression_algorithm (gzip, zstd, xz, bzip2, none)", "TestBackups"},
	{"container_backup_override_pool", "an imported backup goes to the pool X-LXD-pool names", "TestBackups"},
	{"backup_override_name", "an imported backup takes the name X-LXD-name gives", "TestBackups"},
	{"instance_pool_move", "POST /1.0/instances/NAME with migration and pool moves a stopped instance to another pool (lxc move --storage)", "TestPoolMovesAndCopies"},
	{"storage_api_volume_rename", "POST to a custom volume renames it", "TestCustomVolumeChanges"},
	{"storage_api_local_volume_handling", "custom volumes copy (source type copy) and move between pools of the host", "TestCustomVolumeChanges"},
	{"volume_snapshot_scheduling", "a custom volume's snapshots.schedule and snapshots.pattern", "TestSnapshotSchedule"},
	{"custom_volume_snapshot_expiry", "a custom volume's snapshots.expiry, and a volume snapshot's own expires_at: expired snapshots go", "TestSnapshotSchedule"},
	{"storage_volume_state", "GET of a custom volume's state: what it holds where the pool's driver can tell (btrfs quota groups, dir with project quotas), as lxc storage volume info shows it", "TestBtrfsPools"},
	{"storage_volume_state_total", "a custom volume's state gives its size limit as total (-1: none)", "TestBtrfsPools"},
	{"storage_api_remote_volume_handling", "custom volumes copy and move to another host in LXD's migration protocol (pull, push, relay): rsync trees, or btrfs streams between btrfs pools; each tree checked as it lands", "TestVolumesBetweenHosts"},
	{"storage_api_remote_volume_snapshots", "a custom volume copied to another host takes its snapshots (with their descriptions and expiry) unless volume_only", "TestVolumesBetweenHosts"},
	{"storage_api_volume_snapshots", "custom volume snapshots: create, list, show, rename, delete, restore (PUT restore); copies with volume_only", "TestCustomVolumeChanges"},
	{"custom_volume_backup", "custom volume backups in LXD's layout: create, list, rename, delete, export; import by posting a tarball to the pool's volumes", "TestVolumeBackups"},
	{"resources", "GET /1.0/resources: the host's CPUs (sockets, cores, threads, caches, frequencies, NUMA nodes) and memory (with hugepages); GET /1.0/storage-pools/NAME/resources", "TestResources"},
	{"resources_v2", "GET /1.0/resources also lists GPUs (by DRM node), network cards and their ports, disks and partitions (lxc info --resources)", "TestResources"},
	{"resources_gpu", "GPUs in GET /1.0/resources", "TestResources"},
	{"resources_usb_pci", "USB and PCI devices in GET /1.0/resources", "TestResources"},
	{"resources_system", "the machine in GET /1.0/resources: DMI identity, firmware, chassis, motherboard; physical, virtual-machine or container", "TestResources"},
	{"resources_disk_id", "a disk's device_id and device_path (/dev/disk/by-id, by-path) in GET /1.0/resources", "TestResources"},
	{"resources_pci_iommu", "a PCI device's IOMMU group in GET /1.0/resources", "TestResources"},
	{"metrics", "GET /1.0/metrics: the running instances' metrics in the Prometheus text format, under LXD's names (CPU, memory, disk, filesystem, network, processes; project, name and type labels); metrics certificates", "TestMetrics"},
	{"metrics_cpu_seconds", "lxd_cpu_seconds_total counts seconds, by cpu and mode", "TestMetrics"},
	{"metrics_authentication", "core.metrics_authentication=false serves GET /1.0/metrics to any client", "TestMetrics"},
	{"warnings", "/1.0/warnings: the host's warnings (missing cgroup controllers and swap accounting, no AppArmor, no lxcfs, an autostart that failed, a dnsmasq that keeps exiting): list, show, acknowledge, delete; resolved when the cause is gone", "TestWarnings"},
	{"container_edit_metadata", "GET/PUT /1.0/instances/NAME/metadata and /metadata/templates: an instance's image metadata and template files (lxc config metadata, lxc config template); templates render at create (first start), copy, start and rename, with LXD's variables", "TestTemplates"},
	{"restrict_devlxd", "security.devlxd: /dev/lxd/sock inside the instance (default true), answering only the instance's own processes", "TestCloudInit"},
	{"devlxd_images", "security.devlxd.images: /1.0/images/FINGERPRINT/export through /dev/lxd, for the host's public and cached images", "TestCloudInit"},
	{"devlxd_events", "/dev/lxd's /1.0/events: a websocket of config (user.*) and device changes", "TestEventsOfConfigAndDevices"},
	{"projects", "/1.0/projects and ?project= everywhere: projects with their own images, profiles and custom volumes (features.*, LXD's defaults and rules), instances of one name in two projects, events by project", "TestProjects"},
	{"projects_limits", "a project's limits.containers, limits.cpu, limits.memory and limits.processes bound its instances' sum, on create, update, start and when set", "TestProjects"},
	{"projects_limits_instances", "a project's limits.instances", "TestProjects"},
	{"projects_limits_disk", "a project's limits.disk bounds the sizes its root disks and custom volumes declare, and what is left of it bounds an image brought into it", "TestProjectDiskLimit"},
	{"projects_networks", "features.networks: a project's own networks (bridges, unique by name across the host), reached only by its instances; limits.networks", "TestProjectNetworks"},
	{"projects_restricted_cluster_target", "restricted.cluster.target (off a cluster, ?target= is refused anyway)", "TestProjectDiskLimit"},
	{"projects_restricted_intercept", "restricted.containers.interception", "TestRestrictionsOnDeviceTypesAndLowLevelKeys"},
	{"projects_restrictions", "restricted=true with restricted.containers.nesting/privilege/lowlevel, restricted.devices.unix-char/unix-block/unix-hotplug/proxy/nic/disk (and disk.paths)/gpu/usb/pci/infiniband, restricted.virtual-machines.lowlevel, restricted.idmap.uid/gid; the restricted.* keys Lodge does not enforce (restricted.networks.uplinks/subnets/zones, which need OVN) are refused", "TestProjects"},
	{"projects_restricted_backups_and_snapshots", "restricted.backups and restricted.snapshots", "TestProjects"},
	{"projects_networks_restricted_access", "restricted.networks.access: the managed networks a restricted project's NICs may use", "TestProjects"},
	{"container_copy_project", "a copy's source may be in another project (source.project): lxc copy and move --target-project on one host", "TestProjects"},
	{"project_usage", "GET /1.0/projects/NAME/state: each limited resource's limit and use (lxc project info)", "TestProjects"},
	{"certificate_project", "a certificate restricted to projects (restricted, projects): its client reaches those projects' objects and reads what projects share, nothing else", "TestRestrictedCertificates"},
	{"image_profiles", "an image's profiles (lxc image edit) apply to an instance made from it without a profile list of its own", "TestImageProfilesAndExpiry"},
	{"images_expiry", "an image's expires_at is edited with PUT and PATCH (lxc image edit)", "TestImageProfilesAndExpiry"},
	{"certificate_update", "a certificate's GET has an ETag; PUT and PATCH edit its name, type and restriction (lxc config trust edit), never the certificate itself", "TestCertificateEdits"},
	{"remote_token_expiry", "core.remote_token_expiry (LXD's units, seconds to years): an expired token is refused and no longer listed", "TestForgedTokensAndMalformedCertificates"},
	{"certificate_token", "POST /1.0/certificates with token makes a single-use trust token (a token operation; core.remote_token_expiry), spent by the client that sends it as its password", "TestHTTPSAndTrust"},
	{"lodge_incremental_backups", "an instance backup takes lodge_since (an earlier optimized backup's streams) and holds only what changed since; an import takes the chain in one body (X-Lodge-Backup-Chain)", "TestIncrementalBackups"},
	{"lodge_backup_schedule", "backups.schedule, backups.expiry and backups.path: backups on a cron schedule, as the instance's backups or as files in a host directory, expired", "TestSnapshotSchedule"},
	{"images_push_relay", "lxc image copy --mode push (the target's token, POST /1.0/images/FP/export on the source, an upload the target takes only for that image) and --mode relay", "TestImagePush"},
	{"image_source_project", "POST /1.0/images takes source.project: the project of the source server the image is pulled from", "TestImagesBetweenProjects"},
	{"images_target_project", "an image copies into another project of the same host (lxc image copy --target-project)", "TestImagesBetweenProjects"},
	{"image_force_refresh", "POST /1.0/images/FP/refresh refreshes an image from the server it came from (lxc image refresh)", "TestImagesAcrossHosts"},
	{"image_create_aliases", "POST /1.0/images takes the new image's aliases (image copy --alias, publish --alias)", "TestImagesAcrossHosts"},
	{"image_compression_algorithm", "publish takes compression_algorithm; images.compression_algorithm is the default", "TestImagesAcrossHosts"},
	{"container_push", "migration between hosts in LXD's protocol: pull (the target connects to the source's operation), push, and relay by the client", "TestMigrationBetweenHosts"},
	{"container_incremental_copy", "copy --refresh onto an instance the target has: only the snapshots it lacks and the changed files are sent, and its snapshots follow the source's", "TestMigrationBetweenHosts"},
	{"container_push_target", "POST /1.0/instances/NAME with migration and target: the source connects to the target's operation (push)", "TestMigrationBetweenHosts"},
	{"migration_progress", "a migration's operations show the bytes moved and their rate in fs_progress, on both ends", "TestMigrationBetweenHosts"},
	{"container_stateless_copy", "POST /1.0/instances/NAME with migration takes live: false, a stateless copy of a running instance (its volume sent twice, the second time as a final sync, each time frozen)", "TestMigrationBetweenHosts"},
	{"instance_allow_inconsistent_copy", "a migration's allow_inconsistent takes files that vanish during the copy as copied", "TestMigrationBetweenHosts"},
	{"lodge_image_streams", "the public images as a simplestreams tree (/streams/v1/index.json, images.json, /images/FP/FILE) for any client; images pull from simplestreams servers (unified, squashfs and root.tar.xz images)", "TestSimplestreams"},
	{"lodge_nic_limits_connections", "limits.connections on NICs: most connections at once through the host", "TestNICFilteringAndLimits"},
}

// apiExtensions is what GET /1.0 lists, in the table's order.
var apiExtensions = func() []string {
	names := make([]string, len(extensions))
	for i, e := range extensions {
		names[i] = e.Name
	}
	return names
}()

// The C half of exec: lodged re-executes itself with _LODGE_ATTACH set, and
// this constructor runs before the Go runtime starts (setns into a user
// namespace is refused to a multi-threaded process). It joins a running
// container and execs a command there, without the Go start-up, netlink
// bootstrap and sync round trips of libcontainer's setns `runc init`.
//
// lodged passes (see attach.go for the Go side):
//   fd 0-2  the command's stdio (unused with a pty)
//   fd 3    the job: records of [tag u8][len u32][bytes], until EOF
//   fd 4    a pidfd of the container's init
//   fd 5    a SOCK_SEQPACKET socket for reports: the command's pid, the
//           pty master, or an error; close-on-exec, so EOF means exec'd.
//           A held job reports ready and reads lodged's go from it.
//
// The process joins the container's cgroups, then its namespaces, and
// forks the command with CLONE_PARENT so lodged is its parent and waits for
// it directly. The command then gets its pty, signal defaults, seccomp
// filter, capability bounding set, ids and capabilities, working directory
// and environment, in runc's order, and is exec'd.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "attach.h"

#define JOB_FD 3
#define PIDFD_FD 4
#define REPORT_FD 5
#define MAX_LIST 4096

struct job {
	const char *cgroup_procs[64];
	int n_cgroups;
	uint32_t ns_flags;
	uint32_t uid, gid;
	const char *cwd;
	char *argv[MAX_LIST + 1];
	int argc;
	char *envp[MAX_LIST + 1];
	int envc;
	uint64_t caps[5]; /* bounding, effective, permitted, inheritable, ambient */
	struct sock_filter *seccomp;
	unsigned short seccomp_len;
	int no_new_privs;
	int hold;
	int tty;
	uint16_t width, height;
};

/* report sends an error to lodged and ends this process. */
static void fail(const char *what, int err)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%c%s: %s", ATTACH_REPORT_ERROR, what, strerror(err));
	if (n > (int)sizeof(msg) - 1)
		n = sizeof(msg) - 1;
	(void)!send(REPORT_FD, msg, n, MSG_NOSIGNAL);
	_exit(ATTACH_EXIT_FAILED);
}

static char *read_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		fail("read job", ENOMEM);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				fail("read job", ENOMEM);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("read job", errno);
		if (r == 0)
			break;
		n += r;
	}
	*len = n;
	return buf;
}

static uint32_t u32(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t u64(const char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* parse reads the job's records; strings arrive NUL-terminated. */
static void parse(char *buf, size_t len, struct job *j)
{
	size_t off = 0;
	while (off < len) {
		if (len - off < 5)
			fail("parse job", EINVAL);
		char tag = buf[off];
		uint32_t n = u32(buf + off + 1);
		char *v = buf + off + 5;
		off += 5;
		if (n > len - off)
			fail("parse job", EINVAL);
		off += n;
		int is_string = tag && strchr("cdae", tag) != NULL;
		if (is_string && (n == 0 || v[n - 1] != '\0'))
			fail("parse job: unterminated string", EINVAL);
		switch (tag) {
		case ATTACH_CGROUP:
			if (j->n_cgroups == 64)
				fail("parse job: too many cgroups", E2BIG);
			j->cgroup_procs[j->n_cgroups++] = v;
			break;
		case ATTACH_NAMESPACES:
			if (n != 4) fail("parse job", EINVAL);
			j->ns_flags = u32(v);
			break;
		case ATTACH_IDS:
			if (n != 8) fail("parse job", EINVAL);
			j->uid = u32(v);
			j->gid = u32(v + 4);
			break;
		case ATTACH_CWD:
			j->cwd = v;
			break;
		case ATTACH_ARG:
			if (j->argc == MAX_LIST) fail("parse job: too many arguments", E2BIG);
			j->argv[j->argc++] = v;
			break;
		case ATTACH_ENV:
			if (j->envc == MAX_LIST) fail("parse job: too many variables", E2BIG);
			j->envp[j->envc++] = v;
			break;
		case ATTACH_CAPS:
			if (n != 40) fail("parse job", EINVAL);
			for (int i = 0; i < 5; i++)
				j->caps[i] = u64(v + 8 * i);
			break;
		case ATTACH_SECCOMP:
			if (n % sizeof(struct sock_filter) || n / sizeof(struct sock_filter) > BPF_MAXINSNS)
				fail("parse job: seccomp program", EINVAL);
			/* Copied: the record is not aligned for struct sock_filter. */
			j->seccomp = malloc(n ? n : 1);
			if (!j->seccomp)
				fail("parse job", ENOMEM);
			memcpy(j->seccomp, v, n);
			j->seccomp_len = n / sizeof(struct sock_filter);
			break;
		case ATTACH_NO_NEW_PRIVS:
			j->no_new_privs = 1;
			break;
		case ATTACH_HOLD:
			j->hold = 1;
			break;
		case ATTACH_TTY:
			if (n != 4) fail("parse job", EINVAL);
			j->tty = 1;
			memcpy(&j->width, v, 2);
			memcpy(&j->height, v + 2, 2);
			break;
		default:
			fail("parse job: unknown record", EINVAL);
		}
	}
	if (j->argc == 0 || !j->cwd)
		fail("parse job: no command", EINVAL);
	j->argv[j->argc] = NULL;
	j->envp[j->envc] = NULL;
}

static void join_cgroups(const struct job *j)
{
	for (int i = 0; i < j->n_cgroups; i++) {
		int fd = open(j->cgroup_procs[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			fail(j->cgroup_procs[i], errno);
		if (write(fd, "0", 1) != 1)
			fail(j->cgroup_procs[i], errno);
		close(fd);
	}
}

static void send_fd(int fd)
{
	char tag = ATTACH_REPORT_PTY;
	struct iovec iov = {.iov_base = &tag, .iov_len = 1};
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof(cbuf));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(REPORT_FD, &msg, MSG_NOSIGNAL) < 0)
		fail("send pty", errno);
}

/* setup_pty opens a pty of the container's own devpts (so `tty` names it
 * there), hands the master to lodged and makes the slave the command's
 * controlling terminal and stdio. */
static void setup_pty(const struct job *j)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		fail("open /dev/ptmx", errno);
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		fail("unlock pty", errno);
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0)
		fail("open pty peer", errno);
	if (j->width && j->height) {
		struct winsize ws = {.ws_row = j->height, .ws_col = j->width};
		if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
			fail("set window size", errno);
	}
	/* The user owns its terminal (the group stays devpts' tty), as after a
	 * login: programs that reopen or chmod it need that. */
	if (fchown(slave, j->uid, -1) < 0 && errno != EPERM && errno != EINVAL)
		fail("chown pty", errno);
	send_fd(master);
	close(master);
	if (setsid() < 0)
		fail("setsid", errno);
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		fail("set controlling terminal", errno);
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			fail("dup pty", errno);
	if (slave > 2)
		close(slave);
}

/* own_stdio gives the user its stdio pipes, as runc does, so it may reopen
 * them through /proc/self/fd. Ids a user namespace cannot map are left. */
static void own_stdio(const struct job *j)
{
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			fail("stat stdio", errno);
		if (S_ISCHR(st.st_mode) || (st.st_uid == j->uid && st.st_gid == j->gid))
			continue;
		if (fchown(fd, j->uid, j->gid) < 0 && errno != EPERM && errno != EINVAL)
			fail("chown stdio", errno);
	}
}

static void reset_signals(void)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL); /* KILL, STOP and libc's own refuse: fine */
}

static void load_seccomp(const struct job *j)
{
	if (!j->seccomp_len)
		return;
	struct sock_fprog prog = {.len = j->seccomp_len, .filter = j->seccomp};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		fail("load seccomp filter", errno);
}

static int has_cap(uint64_t mask, int cap) { return (mask >> cap) & 1; }

static void drop_bounding(const struct job *j)
{
	for (int cap = 0; cap < 64; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break; /* past the kernel's last capability */
		if (in && !has_cap(j->caps[0], cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			fail("drop bounding capability", errno);
	}
}

static void set_ids(const struct job *j)
{
	gid_t none[1];
	if (setgroups(0, none) < 0 && errno != EPERM)
		fail("setgroups", errno);
	if (setresgid(j->gid, j->gid, j->gid) < 0)
		fail("setresgid", errno);
	if (setresuid(j->uid, j->uid, j->uid) < 0)
		fail("setresuid", errno);
}

/* set_caps gives root its capability sets. Any other user keeps none, as
 * after a login: the kernel cleared them at setresuid. */
static void set_caps(const struct job *j)
{
	if (j->uid != 0)
		return;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(j->caps[1] >> (32 * i));
		data[i].permitted = (uint32_t)(j->caps[2] >> (32 * i));
		data[i].inheritable = (uint32_t)(j->caps[3] >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail("capset", errno);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		fail("clear ambient capabilities", errno);
	for (int cap = 0; cap < 64; cap++)
		if (has_cap(j->caps[4], cap) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			fail("raise ambient capability", errno);
}

static const char *env_path(const struct job *j)
{
	for (int i = 0; i < j->envc; i++)
		if (strncmp(j->envp[i], "PATH=", 5) == 0)
			return j->envp[i] + 5;
	return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

/* exec_failed ends a command that could not be exec'd the way a shell
 * does, and LXD's exec API reports: a message on its own stderr and exit
 * status 127 when there is no such command, 126 when there is one that
 * cannot run. The exec then succeeds with that return code. */
static void exec_failed(const char *what, int err)
{
	char msg[600];
	int n = snprintf(msg, sizeof(msg), "%s: %s\n", what, strerror(err));
	if (n > (int)sizeof(msg) - 1)
		n = sizeof(msg) - 1;
	(void)!write(STDERR_FILENO, msg, n);
	_exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

/* exec_command runs the command, looking it up in the job's own PATH (the
 * container's, not lodged's), as execvpe would with that environment. */
static void exec_command(const struct job *j)
{
	const char *file = j->argv[0];
	if (strchr(file, '/')) {
		execve(file, j->argv, j->envp);
		exec_failed(file, errno);
	}
	const char *path = env_path(j);
	int err = ENOENT;
	char full[4096];
	while (*path) {
		const char *end = strchrnul(path, ':');
		size_t dlen = end - path;
		int n = dlen ? snprintf(full, sizeof(full), "%.*s/%s", (int)dlen, path, file)
			     : snprintf(full, sizeof(full), "%s", file);
		if (n > 0 && n < (int)sizeof(full)) {
			execve(full, j->argv, j->envp);
			if (errno == EACCES)
				err = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ELOOP && errno != ENAMETOOLONG)
				exec_failed(file, errno);
		}
		path = *end ? end + 1 : end;
	}
	char what[512];
	snprintf(what, sizeof(what), "%s (PATH %s)", file, env_path(j));
	exec_failed(what, err);
}

/* wait_for_go tells lodged the command is ready and waits for its word:
 * lodged prepares an exec while the client is still connecting. */
static void wait_for_go(void)
{
	char c = ATTACH_REPORT_READY;
	if (send(REPORT_FD, &c, 1, MSG_NOSIGNAL) < 0)
		_exit(ATTACH_EXIT_FAILED);
	ssize_t n;
	do
		n = recv(REPORT_FD, &c, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n != 1 || c != ATTACH_GO)
		_exit(ATTACH_EXIT_FAILED);
}

static void run_command(const struct job *j)
{
	if (j->tty)
		setup_pty(j);
	else
		own_stdio(j);
	/* Only stdio and the report socket (close-on-exec) go on. */
	if (syscall(SYS_close_range, REPORT_FD + 1, ~0U, 0) < 0 || close(JOB_FD) < 0 || close(PIDFD_FD) < 0)
		fail("close descriptors", errno);
	reset_signals();
	/* Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: load it
	 * while root still has it. With it, load it last. */
	if (j->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail("set no_new_privs", errno);
	if (!j->no_new_privs)
		load_seccomp(j);
	drop_bounding(j);
	/* A session keyring of its own, not lodged's (runc joins one per
	 * container; a kernel without keys has nothing to leak). */
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		fail("join a new session keyring", errno);
	set_ids(j);
	set_caps(j);
	if (chdir(j->cwd) < 0)
		fail(j->cwd, errno);
	if (j->no_new_privs)
		load_seccomp(j);
	if (j->hold)
		wait_for_go();
	exec_command(j);
}

__attribute__((constructor)) static void lodge_attach(void)
{
	if (!getenv(ATTACH_ENV_VAR))
		return;
	/* Not dumpable until the exec: the container's processes must not
	 * ptrace the command, or open lodged's binary through /proc, while it
	 * is still lodged. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(ATTACH_EXIT_FAILED);
	if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) < 0)
		_exit(ATTACH_EXIT_FAILED);
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		fail("allocate job", ENOMEM);
	size_t len;
	char *buf = read_all(JOB_FD, &len);
	parse(buf, len, j);
	join_cgroups(j);
	if (j->ns_flags && setns(PIDFD_FD, j->ns_flags) < 0)
		fail("join namespaces", errno);
	/* Become the container's root, as runc's nsexec does: what is made
	 * from here on (the pty) is the container's, not an unmapped id's. */
	if ((j->ns_flags & CLONE_NEWUSER) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		fail("become the container's root", errno);
	/* A new pid namespace only takes the children. CLONE_PARENT makes the
	 * command lodged's child, which waits for it and signals it. */
	pid_t pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		fail("clone", errno);
	if (pid == 0)
		run_command(j);
	char msg[1 + sizeof(pid)];
	msg[0] = ATTACH_REPORT_PID;
	memcpy(msg + 1, &pid, sizeof(pid));
	if (send(REPORT_FD, msg, sizeof(msg), MSG_NOSIGNAL) < 0) {
		kill(pid, SIGKILL);
		_exit(ATTACH_EXIT_FAILED);
	}
	_exit(0);
}

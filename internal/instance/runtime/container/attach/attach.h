// The record tags and reports shared by attach.c and attach.go.
#ifndef LODGE_ATTACH_H
#define LODGE_ATTACH_H

#define ATTACH_ENV_VAR "_LODGE_ATTACH"

// Job records.
#define ATTACH_CGROUP 'c'        // a cgroup.procs path to join (repeated)
#define ATTACH_NAMESPACES 'n'    // u32: the CLONE_NEW* flags to join
#define ATTACH_IDS 'i'           // u32 uid, u32 gid
#define ATTACH_CWD 'd'           // the working directory
#define ATTACH_ARG 'a'           // an argument (repeated, argv[0] first)
#define ATTACH_ENV 'e'           // a NAME=value (repeated)
#define ATTACH_CAPS 'p'          // u64 masks: bounding, effective, permitted, inheritable, ambient
#define ATTACH_SECCOMP 's'       // a struct sock_filter program
#define ATTACH_NO_NEW_PRIVS 'x'  // set no_new_privs (empty)
#define ATTACH_TTY 't'           // u16 width, u16 height: give the command a pty
#define ATTACH_HOLD 'h'          // report ready and wait for a go before the exec (empty)

// Reports, one per message.
#define ATTACH_REPORT_PID 'P'    // pid_t: the command, lodged's child
#define ATTACH_REPORT_PTY 'T'    // the pty master, as SCM_RIGHTS
#define ATTACH_REPORT_ERROR 'E'  // text: what failed; the sender exits
#define ATTACH_REPORT_READY 'R'  // held: all set but the exec

// From lodged to a held command.
#define ATTACH_GO 'G'            // exec now; EOF instead means exit

#define ATTACH_EXIT_FAILED 126

#endif

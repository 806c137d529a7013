#define _GNU_SOURCE
#include "CApusSystem.h"
#include <fcntl.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

int apus_setresgid(gid_t rgid, gid_t egid, gid_t sgid) { return setresgid(rgid, egid, sgid); }
int apus_getresgid(gid_t *rgid, gid_t *egid, gid_t *sgid) { return getresgid(rgid, egid, sgid); }
int apus_close_range_from(unsigned int first) { return (int)syscall(SYS_close_range, first, ~0U, 0); }
int apus_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on, 0, 0, 0); }
int apus_open_tmpfile(const char *dir, int flags, mode_t mode) { return open(dir, O_TMPFILE | flags, mode); }

/* The program's arguments as the process entry received them. glibc calls the
   functions of .init_array with (argc, argv, envp), so this works without
   /proc (Swift's CommandLine reads /proc/self/cmdline on Linux). */
static int saved_argc = -1;
static char **saved_argv = 0;

__attribute__((constructor)) static void apus_save_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int apus_argument_count(void) { return saved_argc; }
const char *apus_argument(int index) {
    if (saved_argv == 0 || index < 0 || index >= saved_argc) return 0;
    return saved_argv[index];
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
int apus_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

#include <spawn.h>
#include <errno.h>
int apus_spawn_close_from(void *actions, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, from);
#else
    (void)actions; (void)from;
    errno = ENOSYS;
    return -1;
#endif
}

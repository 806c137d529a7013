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

#ifndef APUS_CAPUSSYSTEM_H
#define APUS_CAPUSSYSTEM_H
#include <sys/types.h>
/* Linux calls that Glibc's Swift module does not export (they need _GNU_SOURCE). */
int apus_setresgid(gid_t rgid, gid_t egid, gid_t sgid);
int apus_getresgid(gid_t *rgid, gid_t *egid, gid_t *sgid);
int apus_close_range_from(unsigned int first);
int apus_set_dumpable(int on);
/* open(dir, O_TMPFILE | flags, mode): an unnamed file in dir. */
int apus_open_tmpfile(const char *dir, int flags, mode_t mode);
/* argc as the process entry received it, or -1 when unknown; argv[index] or NULL. */
int apus_argument_count(void);
const char *apus_argument(int index);
#endif

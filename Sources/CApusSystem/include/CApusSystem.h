#ifndef APUS_CAPUSSYSTEM_H
#define APUS_CAPUSSYSTEM_H
#include <sys/types.h>
/* Linux calls that Glibc's Swift module does not export (they need _GNU_SOURCE). */
int apus_setresgid(gid_t rgid, gid_t egid, gid_t sgid);
int apus_getresgid(gid_t *rgid, gid_t *egid, gid_t *sgid);
int apus_close_range_from(unsigned int first);
int apus_set_dumpable(int on);
/* pidfd_open(pid, 0): a descriptor that polls readable when the process exits; -1 with errno (ENOSYS before Linux 5.3). */
int apus_pidfd_open(pid_t pid);
/* posix_spawn_file_actions_addclosefrom_np(actions, from) when glibc has it (2.34+); -1 otherwise. */
int apus_spawn_close_from(void *actions, int from);
/* open(dir, O_TMPFILE | flags, mode): an unnamed file in dir. */
int apus_open_tmpfile(const char *dir, int flags, mode_t mode);
/* argc as the process entry received it, or -1 when unknown; argv[index] or NULL. */
int apus_argument_count(void);
const char *apus_argument(int index);
/* The owners of the server side of a TCP connection, from NETLINK_SOCK_DIAG
   (see SocketTable.swift). Addresses are 4 (AF_INET) or 16 (AF_INET6) bytes in
   network order, ports in host order; "peer" is the server's end. */
struct apus_socket_owners {
    unsigned int listeners[16];
    int listener_count;     /* matching listening sockets, at most 16 kept */
    unsigned int connection_uid;
    int connection_found;   /* 1 when the server end of the connection was found */
};
/* 0 on success, else -1 with errno set (the diag socket, a send or receive failed). */
int apus_socket_owners(int family, const unsigned char *peer, unsigned short peer_port,
                       const unsigned char *local, unsigned short local_port,
                       struct apus_socket_owners *result);
#endif

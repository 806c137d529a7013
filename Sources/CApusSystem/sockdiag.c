#define _GNU_SOURCE
#include "CApusSystem.h"
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* NETLINK_SOCK_DIAG (sock_diag(7)): an exact lookup of one TCP socket by its
   four-tuple, and a dump of the listening sockets only. Both are cheap: the
   exact lookup is one hash lookup, and a dump limited to TCP_LISTEN walks the
   listening hash only, never the established one (which /proc/net/tcp walks
   whole: milliseconds on a large machine). */

#define LISTEN_STATE 10 /* TCP_LISTEN */
#define MAX_MESSAGES 100000

static int address_length(int family) { return family == AF_INET ? 4 : 16; }

static int diag_send(int fd, int family, int dump, unsigned int states, const unsigned char *src,
                     unsigned short sport, const unsigned char *dst, unsigned short dport) {
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message;
    memset(&message, 0, sizeof message);
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
    message.header.nlmsg_seq = 1;
    message.request.sdiag_family = (unsigned char)family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = states;
    message.request.id.idiag_sport = htons(sport);
    message.request.id.idiag_dport = htons(dport);
    if (src) memcpy(message.request.id.idiag_src, src, address_length(family));
    if (dst) memcpy(message.request.id.idiag_dst, dst, address_length(family));
    message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    ssize_t n;
    do {
        n = sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof message) {
        if (n >= 0) errno = EIO;
        return -1;
    }
    return 0;
}

typedef int (*diag_visit)(const struct inet_diag_msg *socket, void *context);

/* Receives replies until NLMSG_DONE (dump) or the first answer (exact),
   calling visit for each socket. Returns 0, or -1 with errno; an exact lookup
   that finds nothing (ENOENT) is 0 with no visit. */
static int diag_receive(int fd, int dump, diag_visit visit, void *context) {
    unsigned char buffer[32768] __attribute__((aligned(8)));
    int messages = 0;
    for (;;) {
        ssize_t n;
        do {
            n = recv(fd, buffer, sizeof buffer, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        int length = (int)n;
        for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, length);
             header = NLMSG_NEXT(header, length)) {
            if (header->nlmsg_type == NLMSG_DONE) return 0;
            if (header->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *error = NLMSG_DATA(header);
                if (header->nlmsg_len < NLMSG_LENGTH(sizeof *error)) {
                    errno = EIO;
                    return -1;
                }
                if (error->error == 0) return 0;
                if (!dump && error->error == -ENOENT) return 0;
                errno = -error->error;
                return -1;
            }
            if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
            if (header->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
            if (++messages > MAX_MESSAGES) {
                errno = EFBIG;
                return -1;
            }
            visit(NLMSG_DATA(header), context);
            if (!dump) return 0;
        }
    }
}

struct connection_context {
    struct apus_socket_owners *result;
    int family;
};

static int visit_connection(const struct inet_diag_msg *socket, void *context) {
    struct connection_context *c = context;
    if (socket->idiag_state == LISTEN_STATE) return 0; /* the lookup fell back to a listener */
    c->result->connection_found = 1;
    c->result->connection_uid = socket->idiag_uid;
    c->family = socket->idiag_family;
    return 0;
}

struct listener_context {
    struct apus_socket_owners *result;
    unsigned char address[16]; /* the peer address as the listener's family writes it */
    int length;
    unsigned short port;       /* network order */
};

static int visit_listener(const struct inet_diag_msg *socket, void *context) {
    struct listener_context *c = context;
    if (socket->id.idiag_sport != c->port) return 0;
    static const unsigned char zero[16];
    const unsigned char *bound = (const unsigned char *)socket->id.idiag_src;
    if (memcmp(bound, c->address, c->length) != 0 && memcmp(bound, zero, c->length) != 0) return 0;
    if (c->result->listener_count < 16) c->result->listeners[c->result->listener_count] = socket->idiag_uid;
    c->result->listener_count++;
    return 0;
}

int apus_socket_owners(int family, const unsigned char *peer, unsigned short peer_port, const unsigned char *local,
                       unsigned short local_port, struct apus_socket_owners *result) {
    memset(result, 0, sizeof *result);
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -1;
    struct timeval wait = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    struct connection_context connection = {result, family};
    int ok = diag_send(fd, family, 0, ~0U, peer, peer_port, local, local_port) == 0 &&
             diag_receive(fd, 0, visit_connection, &connection) == 0;
    if (ok && result->connection_found) {
        /* The listener is of the family of the accepted socket: an IPv4
           connection taken by a dual-stack listener is AF_INET6, its
           addresses IPv4-mapped. */
        struct listener_context listener;
        memset(&listener, 0, sizeof listener);
        listener.result = result;
        listener.port = htons(peer_port);
        listener.length = address_length(connection.family);
        if (connection.family == family) {
            memcpy(listener.address, peer, address_length(family));
        } else if (connection.family == AF_INET6 && family == AF_INET) {
            listener.address[10] = 0xff;
            listener.address[11] = 0xff;
            memcpy(listener.address + 12, peer, 4);
        } else { /* an AF_INET socket found through a mapped AF_INET6 request */
            memcpy(listener.address, peer + 12, 4);
        }
        ok = diag_send(fd, connection.family, 1, 1U << LISTEN_STATE, 0, 0, 0, 0) == 0 &&
             diag_receive(fd, 1, visit_listener, &listener) == 0;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return ok ? 0 : -1;
}

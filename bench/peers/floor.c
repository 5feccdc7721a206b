/* floor.c - the floor of the machine for the socket benchmarks: a minimal
 * epoll WebSocket server (one thread, level-triggered). It does the RFC 6455
 * upgrade (SHA-1 of the key with OpenSSL), unmasks each client frame, answers
 * each text frame with a fixed reply of the size of dropind's sys.ping reply,
 * and writes everything one read produced in ONE send(): the least a
 * WebSocket server can cost per message on this kernel. No JSON, no state.
 *
 *   floor PORT        listens on 127.0.0.1:PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 16384 /* replies of one read */
#define IN 2048    /* a connection's input buffer */

/* the size of dropind's reply to sys.ping */
static const char reply[] = "{\"re\":1,\"ok\":true,\"data\":{\"time\":\"2026-11-29T12:00:00.000Z\"}}";

struct c {
    int fd;
    int open;
    size_t len;
    unsigned char in[IN];
};

static void drop(int ep, struct c *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Returns -1 to close. */
static int handle(struct c *c, unsigned char *out, size_t *outlen)
{
    size_t off = 0;
    if (!c->open) {
        char *e = memmem(c->in, c->len, "\r\n\r\n", 4), *k;
        unsigned char sha[20];
        char key[128], acc[64];
        if (!e) return c->len == IN ? -1 : 0;
        *e = '\0';
        k = strcasestr((char *)c->in, "Sec-WebSocket-Key:");
        if (!k || sscanf(k + 18, " %60s", key) != 1) return -1;
        strcat(key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        SHA1((unsigned char *)key, strlen(key), sha);
        EVP_EncodeBlock((unsigned char *)acc, sha, 20);
        *outlen += (size_t)sprintf((char *)out + *outlen,
                                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                                   acc);
        off = (size_t)(e - (char *)c->in) + 4;
        c->open = 1;
    }
    while (c->len - off >= 6) {
        unsigned char *p = c->in + off, *m;
        size_t h = 2, len = p[1] & 0x7f;
        if (len == 126) {
            len = (size_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            return -1;
        }
        if (c->len - off < h + 4 + len) break;
        m = p + h;
        for (size_t i = 0; i < len; i++) p[h + 4 + i] ^= m[i & 3];
        int op = p[0] & 0x0f;
        if (op == 8) return -1;
        if (op == 1 || op == 2) {
            if (*outlen + sizeof reply + 4 > BUF) return -1;
            out[(*outlen)++] = 0x81;
            out[(*outlen)++] = sizeof reply - 1;
            memcpy(out + *outlen, reply, sizeof reply - 1);
            *outlen += sizeof reply - 1;
        }
        off += h + 4 + len;
    }
    memmove(c->in, c->in + off, c->len - off);
    c->len -= off;
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = {0};
    struct epoll_event ev, evs[256];
    struct rlimit rl;
    int one = 1, ls, ep;
    static unsigned char out[BUF];

    if (argc < 2) {
        fprintf(stderr, "usage: floor PORT\n");
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(argv[1]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
        perror("floor: bind/listen");
        return 1;
    }
    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct c *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            ssize_t r = recv(c->fd, c->in + c->len, IN - c->len, 0);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                drop(ep, c);
                continue;
            }
            c->len += (size_t)r;
            size_t ol = 0;
            if (handle(c, out, &ol) < 0) {
                drop(ep, c);
                continue;
            }
            /* everything this read produced, in one send; a client that
             * does not read is this peer's problem only in a benchmark */
            if (ol && send(c->fd, out, ol, MSG_NOSIGNAL) != (ssize_t)ol) drop(ep, c);
        }
    }
}

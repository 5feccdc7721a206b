/* What the files of dropctl share: the options, the exit statuses, the
 * connection to the node (dropctl_conn.c), the table and text formatting
 * (dropctl_print.c) and the commands (dropctl_show.c: one answer, printed;
 * dropctl_live.c: top, watch and tail -f, which keep the socket open).
 * dropctl.c parses the command line and runs one command from its table. */
#ifndef DROPCTL_INTERNAL_H
#define DROPCTL_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { EX_OK = 0, EX_ERR = 1, EX_USAGE = 2, EX_UNREACH = 3, EX_UNAUTH = 4 };

/* The command line's options, set once by main before the command runs. */
struct dropctl_opt {
    const char *url;
    const char *token;
    bool json;
    const char *node;
    int timeout_ms;
    bool follow;
};
extern struct dropctl_opt opt;

/* Prints "dropctl: MESSAGE (dropctl --help)" and exits EX_USAGE. */
void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A command's arguments: positional ones after the command, KEY=VALUE
 * pairs (and --lat/--lng/--radius/--cells) as the op's data. */
struct cmd_ctx {
    const char *cmd;
    int argc;
    char **argv;
    json_t *data;
};

/* ---- dropctl_conn.c: one WebSocket to opt.url ---- */

int conn_open(void);
void conn_close(void);
bool conn_alive(void);
int conn_lost(void);
void conn_service(int ms);
int conn_call(const char *op, json_t *data, json_t **out);
int cluster_call(const char *what, json_t *args, json_t **out);
const char *node_state(json_t *e, char *buf, size_t len);
json_t *conn_event(int ms);
int report(int rc, json_t *err);
int reply_done(int rc, json_t *r);
int64_t now_ms(void);

/* ---- dropctl_print.c: text for people ---- */

extern const char *C_RED, *C_GREEN, *C_YELLOW, *C_DIM, *C_BOLD, *C_OFF;
void use_color(bool on);

void fmt_span(char *out, size_t len, int64_t secs);
void fmt_ago(char *out, size_t len, json_t *iso);
void fmt_dist(char *out, size_t len, double m);
void fmt_clock(char *out, size_t len);
const char *str(json_t *o, const char *key);
long long num(json_t *o, const char *key);
void print_json(json_t *v);
void print_compact(json_t *v);

/* A table: cells are copied; numeric columns align right. */
struct table {
    int ncols;
    const char *head[16];
    bool right[16];
    json_t *rows;   /* [[cell, ...]] */
    json_t *colors; /* per row: a colour for the whole row or null */
    char spec[1024];
};
void table_init(struct table *t, const char *spec);
void table_row(struct table *t, const char *color, ...);
void table_print(struct table *t, FILE *f);

/* Shortened ids: see shortener_init. */
struct shortener {
    int keep;
};
void shortener_init(struct shortener *s, json_t *ids);
const char *shorten(struct shortener *s, const char *id, char *buf, size_t len);
void ids_add(json_t *ids, const char *id);

/* ---- the commands; each returns an exit status ---- */

int cmd_nodes(struct cmd_ctx *cc);
int cmd_stats(struct cmd_ctx *cc);
int cmd_sessions(struct cmd_ctx *cc);
int cmd_operators(struct cmd_ctx *cc);
int cmd_gigs(struct cmd_ctx *cc);
int cmd_gig(struct cmd_ctx *cc);
int cmd_map(struct cmd_ctx *cc);
int cmd_admin(struct cmd_ctx *cc);
int cmd_raw(struct cmd_ctx *cc);
int cmd_top(struct cmd_ctx *cc);
int cmd_watch(struct cmd_ctx *cc);
int cmd_tail(struct cmd_ctx *cc);

#endif

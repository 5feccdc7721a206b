/* dropctl - the admin inspector of a dropind cluster.
 *
 *   dropctl [-u URL] [--token TOKEN] [--json] [--node ID] [--timeout MS]
 *           COMMAND [ARGS] [KEY=VALUE ...]
 *
 * It talks to one node over that node's WebSocket, as an admin (the
 * node's admin_token in the upgrade's Authorization header), and prints for
 * people by default: aligned tables, ids shortened where unambiguous, times
 * relative ("12s ago"), colour only on a terminal and never with NO_COLOR.
 * --json prints the raw reply instead, one JSON document. The node it talks
 * to asks the other nodes of the cluster (admin.cluster: a directed request
 * on node.<id> with a deadline), so nodes, stats, sessions and operators
 * cover the whole cluster; a node that does not answer in time is listed as
 * such. top, watch and tail -f keep the socket open: the node pushes what
 * happens (admin.watch), dropctl only draws it.
 *
 * Exit status: 0 ok, 1 an error reply, 2 bad usage, 3 the node cannot be
 * reached (or does not answer), 4 not authenticated as an admin.
 *
 * This file holds main: the command line and the command table, which
 * drives both the help and the dispatch. The connection is in
 * dropctl_conn.c, the tables and times in dropctl_print.c, the commands in
 * dropctl_show.c (ask once, print) and dropctl_live.c (top, watch, tail -f);
 * dropctl_internal.h is what they share. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dropctl_internal.h"

struct dropctl_opt opt;

void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dropctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (dropctl --help)\n", stderr);
    va_end(ap);
    exit(EX_USAGE);
}

/* ---- the commands ---- */

/* One row a command: its name, its help, what runs it, and whether it
 * takes positional arguments (the others take KEY=VALUE pairs only). An
 * OP.NAME that is not in the table runs as a raw op. */
struct command {
    const char *cmd, *synopsis, *text;
    int (*run)(struct cmd_ctx *cc);
    bool positional;
};

static const struct command commands[] = {
    {"nodes", "nodes",
     "Every node of the cluster, as each answers for itself: address, sessions,\n"
     "operators connected to it, uptime, loop lag, store and bus state. A node that\n"
     "does not answer within --timeout is listed as \"no answer\".",
     cmd_nodes, false},
    {"stats", "stats",
     "Counters of every node (sessions, authenticated, local operators and free ones,\n"
     "messages in/out, errors, worst loop lag) and their total.",
     cmd_stats, false},
    {"sessions", "sessions [accountId=ID] [limit=N]",
     "The open WebSocket sessions of every node (node, account, role, codec,\n"
     "queued bytes, requests in flight, age); limit is per node (default 200).",
     cmd_sessions, false},
    {"operators", "operators [limit=N]",
     "The online operators, listed by the node holding their session: state\n"
     "(free, busy, locked, away), position, rating, last update.",
     cmd_operators, false},
    {"gigs", "gigs [status=S] [accountId=ID] [limit=N]",
     "Gigs from the shared store, newest first (the store is the cluster's truth\n"
     "for gigs, so one node answers for all).",
     cmd_gigs, false},
    {"gig", "gig ID [action=terminate|invoice|video_fail]",
     "One gig and its timeline: every status change with time and actor, offers\n"
     "sent, declined and expired. With action=, an admin action on it.",
     cmd_gig, true},
    {"top", "top",
     "A full-screen view refreshed every second: per node sessions, operators\n"
     "online/free, requests/s and errors/s, loop lag, store and bus state, and the\n"
     "newest gigs by status. q quits. frames=N stops after N frames (for scripts;\n"
     "without a terminal the frames follow one another).",
     cmd_top, false},
    {"watch", "watch gig ID | watch account ID",
     "Events of a gig or an account as they happen, pushed by the node (one line\n"
     "each: time, event, status, version). Ctrl-C stops; events=N stops after N.",
     cmd_watch, true},
    {"tail", "tail [-f] [limit=N]",
     "The node's newest log lines; with -f, follows them as they are written.",
     cmd_tail, false},
    {"map", "map --lat LAT --lng LNG [--radius M] [--cells N]",
     "A density map of free and busy operators around a point (north up) with a\n"
     "scale bar; radius defaults to 2000 m, cells (per side) to 21.",
     cmd_map, false},
    {"kick", "kick accountId=ID", "Closes every session of an account (code 4401), on every node.",
     cmd_admin, false},
    {"drain", "drain", "The node closes its sessions with 1001 and stops.",
     cmd_admin, false},
};

/* The manual's first page (dropctl --help). */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: dropctl [OPTIONS] COMMAND [ARGS] [KEY=VALUE ...]\n\n"
            "Inspects a running dropind cluster through one of its nodes.\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-44s\n", commands[i].synopsis);
    fprintf(f,
            "  OP.NAME [KEY=VALUE ...]                     any op, e.g. gig.get gigId=ID\n\n"
            "options:\n"
            "  -u, --url URL      the node (default $DROPIN_URL, else ws://127.0.0.1:8080/ws)\n"
            "  -t, --token TOKEN  the admin token (default $DROPIN_ADMIN_TOKEN; prefer the\n"
            "                     variable: a flag shows in ps)\n"
            "  --json             print the raw reply, one JSON document\n"
            "  --node ID          ask only that node\n"
            "  --timeout MS       how long the cluster's nodes get to answer (default 2000)\n"
            "  --no-color         no colour (also when NO_COLOR is set or not on a terminal)\n"
            "  -h, --help         this help; dropctl help COMMAND for one command\n\n"
            "KEY=VALUE pairs become the op's data (a value that parses as JSON is taken\n"
            "as such). Exit status: 0 ok, 1 an error reply, 2 bad usage, 3 the node\n"
            "cannot be reached, 4 not authenticated as an admin.\n");
}

/* dropctl help COMMAND. Returns EX_OK, or EX_USAGE for no such command. */
static int help_cmd(const char *cmd)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].cmd, cmd) == 0) {
            printf("usage: dropctl [OPTIONS] %s\n\n%s\n", commands[i].synopsis, commands[i].text);
            return EX_OK;
        }
    }
    fprintf(stderr, "dropctl: no command '%s' (dropctl --help)\n", cmd);
    return EX_USAGE;
}

/* ---- the command line ---- */

/* The row of command c, or NULL. */
static const struct command *command_find(const char *c)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].cmd, c) == 0) return &commands[i];
    return NULL;
}

/* A KEY=VALUE value: as JSON when it parses as such, else the string. */
static json_t *parse_value(const char *s)
{
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(s);
}

/* Globals, so an early exit leaves nothing unreachable behind. */
static struct cmd_ctx cc;
static char **pos;

/* Reads the command line into opt and cc (--help prints the manual and
 * exits 0; a mistake exits EX_USAGE). Returns the command, or NULL. */
static const char *parse_args(int argc, char **argv, bool *no_color)
{
    const char *cmd = NULL;
    cc.data = json_object();
    pos = calloc((size_t)argc + 1, sizeof *pos);
    opt.url = getenv("DROPIN_URL") && *getenv("DROPIN_URL") ? getenv("DROPIN_URL")
                                                           : "ws://127.0.0.1:8080/ws";
    opt.token = getenv("DROPIN_ADMIN_TOKEN");
    opt.timeout_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (die_usage("%s needs a value", a), (char *)NULL))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(EX_OK);
        } else if (!strcmp(a, "-u") || !strcmp(a, "--url")) opt.url = NEXT();
        else if (!strcmp(a, "-t") || !strcmp(a, "--token")) opt.token = NEXT();
        else if (!strcmp(a, "--json")) opt.json = true;
        else if (!strcmp(a, "--no-color")) *no_color = true;
        else if (!strcmp(a, "--node")) opt.node = NEXT();
        else if (!strcmp(a, "-f") || !strcmp(a, "--follow")) opt.follow = true;
        else if (!strcmp(a, "--timeout")) {
            char *end;
            long v = strtol(NEXT(), &end, 10);
            if (*end || v < 100 || v > 60000) die_usage("--timeout: milliseconds 100..60000 expected");
            opt.timeout_ms = (int)v;
        } else if (!strcmp(a, "--lat") || !strcmp(a, "--lng") || !strcmp(a, "--radius") ||
                   !strcmp(a, "--cells")) {
            const char *v = NEXT();
            char *end;
            double d = strtod(v, &end);
            if (*end || end == v) die_usage("%s: a number expected", a);
            json_object_set_new(cc.data, a + 2, json_real(d));
        } else if (a[0] == '-' && a[1] && !isdigit((unsigned char)a[1])) {
            die_usage("unknown option '%s'", a);
        } else if (!cmd) {
            cmd = a;
        } else if (strchr(a, '=') && a[0] != '=') {
            const char *eq = strchr(a, '=');
            char *key = strndup(a, (size_t)(eq - a));
            json_object_set_new(cc.data, key, parse_value(eq + 1));
            free(key);
        } else {
            pos[cc.argc++] = argv[i];
        }
#undef NEXT
    }
    cc.argv = pos;
    cc.cmd = cmd;
    return cmd;
}

int main(int argc, char **argv)
{
    bool no_color = false;
    const char *cmd = parse_args(argc, argv, &no_color);
    if (!cmd) {
        usage(stderr);
        return EX_USAGE;
    }
    if (!strcmp(cmd, "help")) return cc.argc ? help_cmd(cc.argv[0]) : (usage(stdout), EX_OK);
    const struct command *c = command_find(cmd);
    if (!c && !strchr(cmd, '.')) die_usage("unknown command '%s'", cmd);
    use_color(!no_color && !opt.json && isatty(1) && !(getenv("NO_COLOR") && *getenv("NO_COLOR")));
    if (!(c && c->positional) && cc.argc)
        die_usage("%s: unexpected argument '%s' (KEY=VALUE expected)", cmd, cc.argv[0]);
    if (opt.follow && strcmp(cmd, "tail")) die_usage("-f is for tail");

    int rc = conn_open();
    if (!rc) rc = c ? c->run(&cc) : cmd_raw(&cc);
    conn_close();
    json_decref(cc.data);
    free(pos);
    return rc;
}

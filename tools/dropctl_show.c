/* dropctl's commands that ask once and print the answer: the cluster-wide
 * tables (nodes, stats, sessions, operators; through admin.cluster, one
 * entry per node, a node that did not answer in time marked as such), the
 * gigs of the shared store and one gig's timeline, the operator density
 * map, and any op by name. Each prints for people unless --json, which
 * prints the reply as it came (reply_done). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dropctl_internal.h"

/* A table of admin.cluster stats, a row a node: row adds node entry e's
 * row (d its stats, state as node_state says, ok when it answered) and
 * adds what it totals to tot; total, when there is more than one node,
 * adds the row of the totals. Returns an exit status. */
typedef void node_row_fn(struct table *t, json_t *e, json_t *d, const char *state, bool ok,
                         long long *tot);
typedef void total_row_fn(struct table *t, const long long *tot);

static int stats_table(struct cmd_ctx *cc, const char *spec, node_row_fn *row, total_row_fn *total)
{
    json_t *r, *e;
    int rc = cluster_call("stats", json_incref(cc->data), &r);
    if ((rc = reply_done(rc, r)) >= 0) return rc;
    struct table t;
    size_t i;
    long long tot[6] = {0};
    table_init(&t, spec);
    json_array_foreach(r, i, e)
    {
        char st[64];
        const char *state = node_state(e, st, sizeof st);
        row(&t, e, json_object_get(e, "data"), state, strcmp(state, "ok") == 0, tot);
    }
    if (total && json_array_size(r) > 1) total(&t, tot);
    table_print(&t, stdout);
    json_decref(r);
    return EX_OK;
}

static void nodes_row(struct table *t, json_t *e, json_t *d, const char *state, bool ok,
                      long long *tot)
{
    char s[32], o[32], up[32], lag[32];
    (void)tot;
    if (ok && json_is_true(json_object_get(d, "draining"))) state = "draining";
    snprintf(s, sizeof s, "%lld", num(d, "sessions"));
    snprintf(o, sizeof o, "%lld", num(d, "operatorsLocal"));
    fmt_span(up, sizeof up, (int64_t)json_number_value(json_object_get(d, "uptime")));
    snprintf(lag, sizeof lag, "%.0fms", json_number_value(json_object_get(d, "loopLag")) * 1000);
    const char *addr = ok ? str(d, "addr") : str(e, "addr");
    table_row(t, ok ? "" : C_RED, str(e, "node"), addr, state, ok ? s : "-", ok ? o : "-",
              ok ? up : "-", ok ? lag : "-", ok ? str(d, "store") : "-", ok ? str(d, "bus") : "-");
}

/* dropctl nodes: every node as it answers for itself. */
int cmd_nodes(struct cmd_ctx *cc)
{
    return stats_table(cc, "NODE,ADDRESS,STATE,>SESSIONS,>OPERATORS,>UPTIME,>LAG,STORE,BUS", nodes_row,
                       NULL);
}

static const char *const stats_keys[6] = {"sessions",       "authenticated", "operatorsLocal",
                                          "operatorsFree", "messagesIn",    "messagesOut"};

static void stats_row(struct table *t, json_t *e, json_t *d, const char *state, bool ok,
                      long long *tot)
{
    char v[6][32], lag[32], errs[32];
    for (int k = 0; k < 6; k++) {
        snprintf(v[k], sizeof v[k], "%lld", num(d, stats_keys[k]));
        if (ok) tot[k] += num(d, stats_keys[k]);
    }
    snprintf(errs, sizeof errs, "%lld", num(d, "errors"));
    snprintf(lag, sizeof lag, "%.0fms", json_number_value(json_object_get(d, "loopLagMax")) * 1000);
    table_row(t, ok ? "" : C_RED, str(e, "node"), state, ok ? v[0] : "-", ok ? v[1] : "-",
              ok ? v[2] : "-", ok ? v[3] : "-", ok ? v[4] : "-", ok ? v[5] : "-", ok ? errs : "-",
              ok ? lag : "-");
}

static void stats_total(struct table *t, const long long *tot)
{
    char tv[6][32];
    for (int k = 0; k < 6; k++) snprintf(tv[k], sizeof tv[k], "%lld", tot[k]);
    table_row(t, C_DIM, "total", "", tv[0], tv[1], tv[2], tv[3], tv[4], tv[5], "", "");
}

/* dropctl stats: every node's counters and, with more than one, their total. */
int cmd_stats(struct cmd_ctx *cc)
{
    return stats_table(cc, "NODE,STATE,>SESSIONS,>AUTHED,>OPERATORS,>FREE,>MSGS IN,>MSGS OUT,>ERRORS,>LAG MAX",
                       stats_row, stats_total);
}

/* Prints a line for each node that did not answer (on stdout, after the
 * table). */
static void report_silent(json_t *r)
{
    size_t i;
    json_t *e;
    json_array_foreach(r, i, e)
    {
        char st[64];
        const char *state = node_state(e, st, sizeof st);
        if (strcmp(state, "ok") != 0)
            printf("%snode %s: %s%s\n", C_RED, str(e, "node"), state, C_OFF);
    }
}

/* The items of every node's answer in one array, each with its "node", in
 * a stable order for people: sorted by the keys given (strings). */
static const char *const *sort_keys;

static int by_keys(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    for (int i = 0; sort_keys[i]; i++) {
        const char *p = json_string_value(json_object_get(x, sort_keys[i]));
        const char *q = json_string_value(json_object_get(y, sort_keys[i]));
        int c = strcmp(p ? p : "", q ? q : "");
        if (c) return c;
    }
    return 0;
}

static json_t *flatten(json_t *r, const char *const *keys)
{
    size_t i, j, k = 0, n = 0;
    json_t *e, *it, *out = json_array();
    json_array_foreach(r, i, e) n += json_array_size(json_object_get(e, "data"));
    json_t **arr = calloc(n + 1, sizeof *arr);
    json_array_foreach(r, i, e) json_array_foreach(json_object_get(e, "data"), j, it)
    {
        if (!json_object_get(it, "node")) json_object_set(it, "node", json_object_get(e, "node"));
        arr[k++] = it;
    }
    sort_keys = keys;
    qsort(arr, k, sizeof *arr, by_keys);
    for (i = 0; i < k; i++) json_array_append(out, arr[i]);
    free(arr);
    return out;
}

/* A cluster-wide list (admin.cluster what): every node's items in one
 * table sorted by keys, the ids under id_key shortened, and after it a line
 * for each node that did not answer. row adds one item's row, given its
 * shortened id. Returns an exit status. */
typedef void list_row_fn(struct table *t, json_t *item, const char *id);

static int cluster_list(struct cmd_ctx *cc, const char *what, const char *const *keys,
                        const char *id_key, const char *spec, list_row_fn *row)
{
    json_t *r;
    int rc = cluster_call(what, json_incref(cc->data), &r);
    if ((rc = reply_done(rc, r)) >= 0) return rc;
    size_t i;
    json_t *it, *all = flatten(r, keys), *ids = json_array();
    json_array_foreach(all, i, it) ids_add(ids, json_string_value(json_object_get(it, id_key)));
    struct shortener sh;
    shortener_init(&sh, ids);
    struct table t;
    table_init(&t, spec);
    json_array_foreach(all, i, it)
    {
        char b[40];
        row(&t, it, shorten(&sh, json_string_value(json_object_get(it, id_key)), b, sizeof b));
    }
    table_print(&t, stdout);
    report_silent(r);
    json_decref(all);
    json_decref(r);
    json_decref(ids);
    return EX_OK;
}

static void session_row(struct table *t, json_t *s, const char *account)
{
    char q[32], inf[32], since[40];
    snprintf(q, sizeof q, "%lld", num(s, "queuedBytes"));
    snprintf(inf, sizeof inf, "%lld", num(s, "inflight"));
    fmt_ago(since, sizeof since, json_object_get(s, "since"));
    table_row(t, "", str(s, "node"), account, str(s, "role"), str(s, "codec"), q, inf, since);
}

/* dropctl sessions: the open sessions of every node. */
int cmd_sessions(struct cmd_ctx *cc)
{
    static const char *const keys[] = {"node", "since", "role", "account", NULL};
    return cluster_list(cc, "sessions", keys, "account",
                        "NODE,ACCOUNT,ROLE,CODEC,>QUEUED,>INFLIGHT,SINCE", session_row);
}

/* An operator's state for people: busy, locked, free or away. */
static const char *op_state(json_t *o)
{
    if (json_is_true(json_object_get(o, "busy"))) return "busy";
    if (json_is_true(json_object_get(o, "locked"))) return "locked";
    if (json_is_true(json_object_get(o, "available"))) return "free";
    return "away";
}

static void operator_row(struct table *t, json_t *o, const char *id)
{
    char la[32], lo[32], ra[32], seen[40];
    snprintf(la, sizeof la, "%.5f", json_number_value(json_object_get(o, "latitude")));
    snprintf(lo, sizeof lo, "%.5f", json_number_value(json_object_get(o, "longitude")));
    snprintf(ra, sizeof ra, "%.1f", json_number_value(json_object_get(o, "operatorRating")));
    fmt_ago(seen, sizeof seen, json_object_get(o, "updatedAt"));
    const char *st = op_state(o);
    table_row(t, !strcmp(st, "free") ? C_GREEN : !strcmp(st, "busy") ? C_YELLOW : "", str(o, "node"),
              id, str(o, "firstName"), st, la, lo, ra, seen);
}

/* dropctl operators: the online operators, by the node holding them. */
int cmd_operators(struct cmd_ctx *cc)
{
    static const char *const keys[] = {"node", "firstName", "id", NULL};
    return cluster_list(cc, "operators", keys, "id", "NODE,OPERATOR,NAME,STATE,>LAT,>LNG,>RATING,SEEN",
                        operator_row);
}

/* dropctl gigs: gigs of the shared store, newest first, from one node. */
int cmd_gigs(struct cmd_ctx *cc)
{
    json_t *r;
    int rc = conn_call("admin.gigs", json_incref(cc->data), &r);
    if ((rc = reply_done(rc, r)) >= 0) return rc;
    size_t i;
    json_t *g, *ids = json_array();
    json_array_foreach(r, i, g)
    {
        ids_add(ids, json_string_value(json_object_get(g, "customer")));
        ids_add(ids, json_string_value(json_object_get(g, "operator")));
    }
    struct shortener sh;
    shortener_init(&sh, ids);
    struct table t;
    table_init(&t, "GIG,STATUS,>VER,CUSTOMER,OPERATOR,CREATED,UPDATED");
    json_array_foreach(r, i, g)
    {
        char b1[40], b2[40], ver[16], cr[40], up[40];
        snprintf(ver, sizeof ver, "%lld", num(g, "version"));
        fmt_ago(cr, sizeof cr, json_object_get(g, "createdAt"));
        fmt_ago(up, sizeof up, json_object_get(g, "updatedAt"));
        table_row(&t, "", str(g, "id"), str(g, "status"), ver,
                  shorten(&sh, json_string_value(json_object_get(g, "customer")), b1, sizeof b1),
                  shorten(&sh, json_string_value(json_object_get(g, "operator")), b2, sizeof b2),
                  cr, up);
    }
    table_print(&t, stdout);
    json_decref(r);
    json_decref(ids);
    return EX_OK;
}

/* dropctl gig ID [action=terminate]: the gig and its timeline. */
int cmd_gig(struct cmd_ctx *cc)
{
    json_t *r;
    if (cc->argc >= 1) json_object_set_new(cc->data, "gigId", json_string(cc->argv[0]));
    if (!json_object_get(cc->data, "gigId")) die_usage("gig: a gig id is expected");
    int rc = conn_call("admin.gig", json_incref(cc->data), &r);
    if ((rc = reply_done(rc, r)) >= 0) return rc;
    char cr[40], up[40], ex[40];
    fmt_ago(cr, sizeof cr, json_object_get(r, "createdAt"));
    fmt_ago(up, sizeof up, json_object_get(r, "updatedAt"));
    fmt_ago(ex, sizeof ex, json_object_get(r, "expiresAt"));
    printf("gig       %s\nstatus    %s (version %lld)\ncustomer  %s\noperator  %s\n"
           "position  %.5f, %.5f\ncreated   %s\nupdated   %s\ndeadline  %s\n",
           str(r, "id"), str(r, "status"), num(r, "version"), str(r, "customer"), str(r, "operator"),
           json_number_value(json_object_get(r, "latitude")),
           json_number_value(json_object_get(r, "longitude")), cr, up, ex);
    json_t *tl = json_object_get(r, "timeline");
    if (json_array_size(tl)) {
        struct table t;
        size_t i;
        json_t *e, *ids = json_array();
        json_array_foreach(tl, i, e) ids_add(ids, json_string_value(json_object_get(e, "actor")));
        struct shortener sh;
        shortener_init(&sh, ids);
        table_init(&t, "TIME,AGO,EVENT,STATUS,>VER,BY");
        json_array_foreach(tl, i, e)
        {
            static const char *names[][2] = {{"claim_accept", "accepted"}, {"claim_reject", "declined"},
                                             {"offer", "offer sent"}, {"offer_expired", "offer expired"},
                                             {"offer_revoked", "offer revoked"}};
            char ago[40], b[40], v[16], by[80];
            const char *at = str(e, "at"), *ev = str(e, "event"), *role = str(e, "role");
            for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
                if (strcmp(ev, names[k][0]) == 0) ev = names[k][1];
            fmt_ago(ago, sizeof ago, json_object_get(e, "at"));
            snprintf(v, sizeof v, "%lld", num(e, "version"));
            const char *actor = json_string_value(json_object_get(e, "actor"));
            if (!strcmp(role, "system") && !actor) snprintf(by, sizeof by, "system");
            else if (!strcmp(role, "system")) snprintf(by, sizeof by, "operator %s", shorten(&sh, actor, b, sizeof b));
            else if (!actor) snprintf(by, sizeof by, "%s", role);
            else snprintf(by, sizeof by, "%s %s", !strcmp(role, "offered") ? "operator" : role, shorten(&sh, actor, b, sizeof b));
            table_row(&t, "", strlen(at) > 11 ? at + 11 : at, ago, ev, str(e, "status"), v, by);
        }
        printf("\n");
        table_print(&t, stdout);
        json_decref(ids);
    }
    json_decref(r);
    return EX_OK;
}

/* The map's top or bottom edge, n cells wide. */
static void map_border(int n)
{
    printf("+");
    for (int x = 0; x < n; x++) printf("--");
    printf("+\n");
}

/* dropctl map --lat --lng [--radius] [--cells]: admin.map's counts of free
 * and busy operators per cell, drawn north up with a scale bar. */
int cmd_map(struct cmd_ctx *cc)
{
    json_t *r;
    json_t *d = json_deep_copy(cc->data);
    if (!json_object_get(d, "lat") || !json_object_get(d, "lng")) {
        json_decref(d);
        die_usage("map: --lat and --lng are required");
    }
    int rc = conn_call("admin.map", d, &r);
    if ((rc = reply_done(rc, r)) >= 0) return rc;
    int n = (int)num(r, "cells");
    double cell = json_number_value(json_object_get(r, "cellMeters"));
    json_t *free_ = json_object_get(r, "free"), *busy = json_object_get(r, "busy");
    char dist[32], dist2[32];
    fmt_dist(dist, sizeof dist, json_number_value(json_object_get(r, "radius")));
    printf("%soperators within %s of %.5f, %.5f%s  (north up; one cell = ", C_BOLD, dist,
           json_number_value(json_object_get(r, "lat")), json_number_value(json_object_get(r, "lng")),
           C_OFF);
    fmt_dist(dist2, sizeof dist2, cell);
    printf("%s)\n", dist2);
    map_border(n);
    for (int y = 0; y < n; y++) {
        json_t *fr = json_array_get(free_, (size_t)y), *br = json_array_get(busy, (size_t)y);
        printf("|");
        for (int x = 0; x < n; x++) {
            long long f = json_integer_value(json_array_get(fr, (size_t)x));
            long long b = json_integer_value(json_array_get(br, (size_t)x));
            bool centre = x == n / 2 && y == n / 2;
            if (f == 0 && b == 0) {
                printf("%s", centre ? "+ " : ". ");
                continue;
            }
            const char *col = b > f ? C_YELLOW : C_GREEN;
            long long tot = f + b;
            char c = b > f ? (tot > 9 ? 'B' : (char)('0' + tot)) : (tot > 9 ? 'F' : (char)('0' + tot));
            if (b > f && tot <= 9) printf("%s%c*%s", col, c, C_OFF);
            else printf("%s%c %s", col, c, C_OFF);
        }
        printf("|\n");
    }
    map_border(n);
    /* the scale bar: a round length that fits in a quarter of the width */
    double span = cell * n, bar = 1;
    while (bar * 10 <= span / 4) bar *= 10;
    if (bar * 5 <= span / 4) bar *= 5;
    else if (bar * 2 <= span / 4) bar *= 2;
    int chars = (int)lround(bar / cell * 2);
    if (chars < 1) chars = 1;
    fmt_dist(dist, sizeof dist, bar);
    printf("|");
    for (int i = 0; i < chars - 1; i++) printf("-");
    printf("| %s\n", dist);
    printf("digit = operators in the cell (%sgreen: mostly free%s, %syellow*: mostly busy%s), + = "
           "the centre; free %lld, busy %lld\n",
           C_GREEN, C_OFF, C_YELLOW, C_OFF, num(r, "totalFree"), num(r, "totalBusy"));
    json_decref(r);
    return EX_OK;
}

/* Runs op with a copy of data and prints its reply as JSON, whatever
 * --json says. Returns an exit status. */
static int print_op(const char *op, json_t *data)
{
    json_t *r;
    int rc = conn_call(op, json_incref(data), &r);
    if (rc) return report(rc, r);
    print_json(r);
    json_decref(r);
    return EX_OK;
}

/* dropctl OP.NAME [KEY=VALUE ...]: any op by name. */
int cmd_raw(struct cmd_ctx *cc)
{
    return print_op(cc->cmd, cc->data);
}

/* dropctl kick / drain: the op admin.COMMAND. */
int cmd_admin(struct cmd_ctx *cc)
{
    char op[64];
    snprintf(op, sizeof op, "admin.%s", cc->cmd);
    return print_op(op, cc->data);
}

/* dropctl's text for people: relative times ("12s ago"), distances in m
 * and km, aligned tables with a bold header and per-row colour, and ids
 * shortened to the shortest tail that still tells them apart. Colour is
 * only switched on (use_color) on a terminal without NO_COLOR; otherwise
 * every C_* is the empty string, so callers print them unconditionally. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dropctl_internal.h"

const char *C_RED = "", *C_GREEN = "", *C_YELLOW = "", *C_DIM = "", *C_BOLD = "", *C_OFF = "";

/* Switches the C_* escapes on (they start as empty strings). */
void use_color(bool on)
{
    if (!on) return;
    C_RED = "\033[31m";
    C_GREEN = "\033[32m";
    C_YELLOW = "\033[33m";
    C_DIM = "\033[2m";
    C_BOLD = "\033[1m";
    C_OFF = "\033[0m";
}

/* The wall clock in ms since the epoch, for relative times. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2016-04-12T03:10:12.542Z" -> ms since the epoch, or -1. */
static int64_t parse_time(const char *s)
{
    struct tm tm;
    int ms = 0;
    if (!s) return -1;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* A duration for people: "42s", "5m", "3h07m", "2d04h". */
void fmt_span(char *out, size_t len, int64_t secs)
{
    if (secs < 0) secs = 0;
    if (secs < 60) snprintf(out, len, "%llds", (long long)secs);
    else if (secs < 3600) snprintf(out, len, "%lldm", (long long)(secs / 60));
    else if (secs < 86400) snprintf(out, len, "%lldh%02lldm", (long long)(secs / 3600), (long long)(secs % 3600 / 60));
    else snprintf(out, len, "%lldd%02lldh", (long long)(secs / 86400), (long long)(secs % 86400 / 3600));
}

/* "12s ago", "in 30s", or "-". */
void fmt_ago(char *out, size_t len, json_t *iso)
{
    int64_t t = parse_time(json_string_value(iso));
    char span[32];
    if (t < 0) {
        snprintf(out, len, "-");
        return;
    }
    int64_t d = wall_ms() - t;
    if (d >= -1000) {
        fmt_span(span, sizeof span, d / 1000);
        snprintf(out, len, "%s ago", span);
    } else {
        fmt_span(span, sizeof span, -d / 1000);
        snprintf(out, len, "in %s", span);
    }
}

/* A distance: "250 m", "1.5 km", "12 km". */
void fmt_dist(char *out, size_t len, double m)
{
    if (m < 1000) snprintf(out, len, "%.0f m", m);
    else if (m < 10000) snprintf(out, len, "%.1f km", m / 1000);
    else snprintf(out, len, "%.0f km", m / 1000);
}

/* o[key] as a string, or "-". */
const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* o[key] as an integer (a real truncated, anything else 0). */
long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : (long long)json_number_value(v);
}

/* Starts a table; spec names the columns, "ID,>SESSIONS,..." ('>': right
 * aligned), at most 16. */
void table_init(struct table *t, const char *spec)
{
    /* spec: "ID,>SESSIONS,..." ('>' = right aligned) */
    char *save = NULL;
    memset(t, 0, sizeof *t);
    snprintf(t->spec, sizeof t->spec, "%s", spec);
    for (char *p = strtok_r(t->spec, ",", &save); p && t->ncols < 16; p = strtok_r(NULL, ",", &save)) {
        t->right[t->ncols] = *p == '>';
        t->head[t->ncols++] = *p == '>' ? p + 1 : p;
    }
    t->rows = json_array();
    t->colors = json_array();
}

/* Adds a row: one string a column (NULL: "-"), copied; color (C_* or "")
 * for the whole row. */
void table_row(struct table *t, const char *color, ...)
{
    va_list ap;
    json_t *row = json_array();
    va_start(ap, color);
    for (int i = 0; i < t->ncols; i++) {
        const char *c = va_arg(ap, const char *);
        json_array_append_new(row, json_string(c ? c : "-"));
    }
    va_end(ap);
    json_array_append_new(t->rows, row);
    json_array_append_new(t->colors, color && *color ? json_string(color) : json_null());
}

/* Display width of UTF-8 text (code points; enough for our cells). */
static int width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

/* Prints one line of cells padded to w, without trailing blanks. */
static void table_line(struct table *t, const int *w, json_t *cells, const char *color, FILE *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    for (int i = 0; i < t->ncols; i++) {
        const char *c = json_string_value(json_array_get(cells, (size_t)i));
        int pad = w[i] - width(c);
        if (t->right[i]) fprintf(m, "%*s%s", pad, "", c);
        else fprintf(m, "%s%*s", c, pad, "");
        if (i < t->ncols - 1) fputs("  ", m);
    }
    fclose(m);
    while (len && buf[len - 1] == ' ') buf[--len] = 0;
    fprintf(f, "%s%s%s\n", color ? color : "", buf, color ? C_OFF : "");
    free(buf);
}

/* Prints the table, each column as wide as its widest cell, and frees its
 * rows. */
void table_print(struct table *t, FILE *f)
{
    int w[16];
    size_t r;
    json_t *row, *head = json_array();
    for (int i = 0; i < t->ncols; i++) {
        w[i] = width(t->head[i]);
        json_array_append_new(head, json_string(t->head[i]));
    }
    json_array_foreach(t->rows, r, row) for (int i = 0; i < t->ncols; i++)
    {
        int x = width(json_string_value(json_array_get(row, (size_t)i)));
        if (x > w[i]) w[i] = x;
    }
    table_line(t, w, head, *C_BOLD ? C_BOLD : NULL, f);
    json_array_foreach(t->rows, r, row)
        table_line(t, w, row, json_string_value(json_array_get(t->colors, r)), f);
    json_decref(head);
    json_decref(t->rows);
    json_decref(t->colors);
}

/* Shortened ids: the shortest tail (at least 6) that tells every id of ids
 * apart, prefixed with "…"; an id set with one member keeps 8. */
void shortener_init(struct shortener *s, json_t *ids)
{
    s->keep = 6;
    for (; s->keep < 24; s->keep++) {
        bool clash = false;
        size_t i, j;
        json_t *a, *b;
        json_array_foreach(ids, i, a)
        {
            const char *x = json_string_value(a);
            size_t lx = x ? strlen(x) : 0;
            if (lx < (size_t)s->keep) continue;
            for (j = i + 1; j < json_array_size(ids) && !clash; j++) {
                b = json_array_get(ids, j);
                const char *y = json_string_value(b);
                size_t ly = y ? strlen(y) : 0;
                if (ly < (size_t)s->keep || strcmp(x, y) == 0) continue;
                if (memcmp(x + lx - s->keep, y + ly - s->keep, (size_t)s->keep) == 0) clash = true;
            }
            if (clash) break;
        }
        if (!clash) break;
    }
    if (s->keep >= 24) s->keep = 24;
}

/* id shortened as s says, in buf (or id itself, or "-" for NULL). */
const char *shorten(struct shortener *s, const char *id, char *buf, size_t len)
{
    if (!id) return "-";
    size_t l = strlen(id);
    if (l != 24 || s->keep >= 24) return id;
    snprintf(buf, len, "…%s", id + l - s->keep);
    return buf;
}

/* Adds id to the ids a shortener tells apart (only 24-character ids are
 * shortened). */
void ids_add(json_t *ids, const char *id)
{
    if (id && strlen(id) == 24) json_array_append_new(ids, json_string(id));
}

/* A reply as --json prints it: one indented JSON document. */
void print_json(json_t *v)
{
    char *out = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    printf("%s\n", out ? out : "null");
    free(out);
}

/* One JSON document on one line. */
void print_compact(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
}

/* The wall clock's time of day, "HH:MM:SS". */
void fmt_clock(char *out, size_t len)
{
    time_t wall = time(NULL);
    strftime(out, len, "%H:%M:%S", localtime(&wall));
}

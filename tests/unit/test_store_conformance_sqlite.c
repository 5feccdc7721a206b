/* test_store_conformance_sqlite.c - the store conformance suite
 * (tests/unit/store_conformance.h) on the SQLite backend: every case gets a
 * new database file in a mkdtemp directory, removed at the end. */
#define _GNU_SOURCE /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "adapters/store_sqlite.h"
#include "tests/unit/store_conformance.c"

static char conf_dir[] = "/tmp/dropin-conf-XXXXXX";
static int conf_files;

static struct store *sqlite_open(void)
{
    char path[256], why[512] = "";
    struct store *st = NULL;
    snprintf(path, sizeof path, "%s/case%d.db", conf_dir, ++conf_files);
    if (store_sqlite_open(path, &st, why, sizeof why) != DROP_OK) {
        fprintf(stderr, "open %s: %s\n", path, why);
        return NULL;
    }
    return st;
}

static void sqlite_close(struct store *st) { store_close(st); }

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

int main(void)
{
    if (!mkdtemp(conf_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct conformance_backend sqlite = {
        .name = "store_conformance_sqlite",
        .open = sqlite_open,
        .close = sqlite_close,
        .gaps_no_unique_index = false,
    };
    int rc = store_conformance_run(&sqlite);
    nftw(conf_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

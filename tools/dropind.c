/* dropind - the Dropin engine daemon. main parses the config and runs a node. */
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/config.h"
#include "adapters/node.h"
#include "engine/log.h"
#include "engine/mem.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: dropind [-c FILE] [--key value ...]\n"
            "  -c, --config FILE   read the config file (redis.conf style)\n"
            "  --key value         set any config key, over the file\n"
            "  -h, --help          this text\n"
            "Keys and defaults: conf/dropind.conf\n");
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct node node;
    char why[512];
    bool help;
    int rc = 0;

    /* one out-of-memory policy, jansson included */
    json_set_alloc_funcs(xmalloc, free);
    /* Two malloc arenas, not glibc's eight per core: each pool thread would
     * keep an arena of its own, nearly all free once a burst of sign-ins is
     * over but still resident (~1 MB each, 100 B per idle session at 10k).
     * The pool threads' work is mostly the store's, which serialises on its
     * own lock anyway. With the node's trim after a burst (node.c): ~2,000
     * B per idle session held, against ~2,350 (bench/README.md). */
    mallopt(M_ARENA_MAX, 2);
    config_init(&cfg);
    if (config_parse_args(&cfg, argc, argv, &help, why, sizeof why) != DROP_OK) {
        fprintf(stderr, "dropind: %s\n", why);
        config_free(&cfg);
        return 2;
    }
    if (help) {
        usage();
        config_free(&cfg);
        return 0;
    }
    log_min_level = cfg.log_level;
    if (node_start(&node, &cfg, why, sizeof why) != 0) {
        log_error("event=start_failed reason=\"%s\"", why);
        fprintf(stderr, "dropind: %s\n", why);
        rc = 1;
    } else {
        node_run(&node);
        log_info("event=exit");
    }
    node_free(&node);
    config_free(&cfg);
    return rc;
}

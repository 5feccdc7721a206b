/* bus_test_util.h - what the bus tests share: a counted publish's answer
 * (bus_publish_counted), recorded by on_count. Header-only. */
#ifndef BUS_TEST_UTIL_H
#define BUS_TEST_UTIL_H

#include <stdint.h>

#include "engine/bus.h"

struct counted {
    int calls;
    drop_err err;
    int64_t receivers;
};

static inline void on_count(void *ud, drop_err err, int64_t receivers)
{
    struct counted *c = ud;
    c->calls++;
    c->err = err;
    c->receivers = receivers;
}

#endif

/* ops_sys.c - system ops that need no state: sys.ping. */
#include "engine/engine.h"
#include "engine/ops_handlers.h"
#include "engine/timefmt.h"

/* sys.ping {} -> {time}: the server's clock, ISO-8601 UTC with milliseconds. */
void op_sys_ping(struct req *r)
{
    req_reply(r, json_pack("{s:o}", "time", timefmt_json(engine_now(r->eng))));
}

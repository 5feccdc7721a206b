/* ops_sys.c - system ops that need no state: sys.ping. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/log.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"
#include "engine/timefmt.h"

#define LOG_MESSAGE_MAX 2000
#define LOG_DATA_MAX 4000

/* sys.ping {} -> {time}: the server's clock, ISO-8601 UTC with milliseconds. */
void op_sys_ping(struct req *r)
{
    json_t *out = json_object(); /* not json_pack: its format parsing showed in profiles */
    json_object_set_new(out, "time", timefmt_json(engine_now(r->eng)));
    req_reply(r, out);
}

/* log.write {level, message, data?} -> {}: a client's log line, written to
 * dropind's log with the account (JSON-escaped, bounded; never secrets of
 * ours). Not stored. */
void op_log_write(struct req *r)
{
    /* declared in the op table: level (an index of debug, info, warn,
     * error: LOG_AT's levels), message; data is any JSON, logged as it is */
    int level = op_arg_enum(r, "level", 0);
    json_t *msg = op_arg_json(r, "message"), *data = op_arg_json(r, "data");
    if (json_string_length(msg) > LOG_MESSAGE_MAX) {
        req_fail(r, DROP_ETOOLARGE, "message: at most %d bytes", LOG_MESSAGE_MAX);
        return;
    }
    char *m = json_dumps(msg, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
    char *d = data ? json_dumps(data, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (d && strlen(d) > LOG_DATA_MAX) d[LOG_DATA_MAX] = '\0';
    LOG_AT(level, "event=client_log account=%s message=%s data=%s",
           r->who.account[0] ? r->who.account : "-", m ? m : "\"\"", d ? d : "null");
    free(m);
    free(d);
    req_reply(r, NULL);
}

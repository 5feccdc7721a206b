/* session_state.c - builds the session.state snapshot (see session_state.h). */
#include "engine/account_json.h"
#include "engine/engine.h"
#include "engine/session_state.h"

json_t *session_state_build(struct engine *e, const struct account *a)
{
    (void)e;
    return json_pack("{s:o,s:[],s:[],s:i}", "account", account_to_json(a, false), "gigs", "offers",
                     "unread", 0);
}

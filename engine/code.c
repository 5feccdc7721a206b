/* code.c - the pure rules of one-time codes (see code.h). */
#include <string.h>

#include "engine/code.h"

int64_t code_send_admit(struct store_code *c, bool exists, int64_t now)
{
    if (exists && now - c->sent_at < CODE_GAP_MS) return CODE_GAP_MS - (now - c->sent_at);
    if (exists && now - c->window_start < CODE_WINDOW_MS) {
        if (c->sends >= CODE_WINDOW_SENDS) return CODE_WINDOW_MS - (now - c->window_start);
        c->sends++;
    } else {
        c->window_start = now;
        c->sends = 1;
    }
    c->sent_at = now;
    c->attempts = 0;
    return 0;
}

enum code_try code_try(struct store_code *c, const char *account, bool right, int64_t now)
{
    if (!c->live || c->expires_at <= now || c->attempts >= CODE_MAX_TRIES ||
        strcmp(c->account, account) != 0)
        return CODE_TRY_DEAD;
    if (right) {
        c->live = false; /* spent by its first use */
        return CODE_TRY_RIGHT;
    }
    if (++c->attempts >= CODE_MAX_TRIES) c->live = false; /* void */
    return CODE_TRY_WRONG;
}

/* inbox.c - message rules and shape (see inbox.h). */
#include <stdlib.h>
#include <string.h>

#include "engine/inbox.h"
#include "engine/timefmt.h"

void message_free(struct message *m)
{
    free(m->text);
    m->text = NULL;
}

void message_array_free(struct message *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) message_free(&arr[i]);
    free(arr);
}

drop_err inbox_check_text(const char *text, char *why, size_t whylen)
{
    if (!text || !text[0]) return err_why(DROP_EBADREQ, why, whylen, "text: a non-empty string is expected");
    if (strlen(text) > INBOX_TEXT_MAX)
        return err_why(DROP_ETOOLARGE, why, whylen, "text: at most %d bytes", INBOX_TEXT_MAX);
    return DROP_OK;
}

json_t *message_to_json(const struct message *m)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "id", m->id, "from", m->from, "to", m->to,
                     "text", m->text ? m->text : "", "createdAt", timefmt_json(m->created_at),
                     "readAt", timefmt_json(m->read_at));
}

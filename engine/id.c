/* id.c - ObjectId string validation. */
#include <ctype.h>
#include <string.h>

#include "engine/id.h"

bool id_valid(const char *s)
{
    if (!s || strlen(s) != DROP_ID_LEN) return false;
    for (int i = 0; i < DROP_ID_LEN; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

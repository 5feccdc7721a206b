/* timefmt.h - the protocol's time format: ISO-8601 UTC with milliseconds,
 * e.g. 2016-04-12T03:10:12.542Z. */
#ifndef DROP_TIMEFMT_H
#define DROP_TIMEFMT_H

#include <jansson.h>
#include <stdint.h>

#define TIMEFMT_SIZE 32

/* Formats ms since the epoch into out (at least TIMEFMT_SIZE bytes). */
void timefmt_iso(int64_t ms, char out[TIMEFMT_SIZE]);

/* A JSON string of timefmt_iso(ms), or JSON null when ms is 0. New reference. */
json_t *timefmt_json(int64_t ms);

#endif

/*
 * lib/quant/skiplist.h — modules_to_not_convert as every loader reads it
 * (internal; lib/quant/consumers.c).
 *
 * vLLM and SGLang skip a module when a listed entry is a substring of its
 * name; transformers 5 when its name starts with an entry (a prefix
 * match). A vision tower is "visual.*" in vLLM / SGLang module names and in
 * older checkpoints, "model.visual.*" in transformers 5. Listing a vision
 * root in both spellings ("model.visual" and "visual") protects the tower
 * under both matchers; other entries are kept as given.
 */
#ifndef AWQ_LIB_QUANT_SKIPLIST_H
#define AWQ_LIB_QUANT_SKIPLIST_H

#include <stdbool.h>

/* *out: malloc'd array of malloc'd strings (free with awq_skip_free), in
 * order, duplicates dropped, each vision root followed by its twin.
 * Returns false on allocation failure (*out NULL). */
bool awq_skip_expand(const char *const *in, int n, char ***out, int *n_out);
void awq_skip_free(char **v, int n);

#endif

/* lib/text/bpe.c — the BPE model: vocabulary hash map, merge-rank hash map,
 * the per-word merge loop and the word cache.
 *
 * The merge loop is the reference's (tokenizers/src/models/bpe/word.rs
 * merge_all): a min-heap of candidate merges ordered by (rank, position),
 * symbols in an array with prev/next links, stale heap entries skipped when
 * the pair at that position no longer produces the same token. O(n log n)
 * per word. tx_bpe_word_ref() is the textbook O(n^2) loop (repeatedly merge
 * the lowest-rank adjacent pair, leftmost on ties), the oracle the tests run
 * it against. */
#include "text/text_internal.h"

#include <stdlib.h>

/* ------------------------------------------------------------- string map */

uint64_t tx_hash_bytes(const void *p, size_t n) {
    /* FNV-1a with a final avalanche (keys are short token strings) */
    const unsigned char *u = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= u[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static bool strmap_rehash(tx_strmap *m, size_t nslots) {
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return false;
    size_t mask = nslots - 1;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = m->ent[i].hash & mask;
        while (slots[j]) j = (j + 1) & mask;
        slots[j] = (uint32_t)(i + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->mask = mask;
    return true;
}

bool tx_strmap_init(tx_strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t ns = 16;
    while (ns < expected * 2 && ns < ((size_t)1 << 32)) ns *= 2;
    m->slots = calloc(ns, sizeof *m->slots);
    if (!m->slots) return false;
    m->mask = ns - 1;
    return true;
}

void tx_strmap_free(tx_strmap *m) {
    free(m->slots);
    free(m->ent);
    tx_buf_free(&m->arena);
    memset(m, 0, sizeof *m);
}

static size_t strmap_find_slot(const tx_strmap *m, const char *k, size_t n,
                               uint32_t h) {
    size_t j = h & m->mask;
    for (;;) {
        uint32_t e = m->slots[j];
        if (!e) return j;
        const struct tx_strmap_entry *x = &m->ent[e - 1];
        if (x->hash == h && x->len == n && memcmp(m->arena.p + x->off, k, n) == 0)
            return j;
        j = (j + 1) & m->mask;
    }
}

int32_t tx_strmap_get(const tx_strmap *m, const char *k, size_t n) {
    if (!m->slots || n > UINT32_MAX) return -1;
    uint32_t h = (uint32_t)tx_hash_bytes(k, n);
    uint32_t e = m->slots[strmap_find_slot(m, k, n, h)];
    return e ? m->ent[e - 1].val : -1;
}

bool tx_strmap_put(tx_strmap *m, const char *k, size_t n, int32_t val) {
    if (n > UINT32_MAX || m->n >= ((size_t)1 << 31)) return false;
    uint32_t h = (uint32_t)tx_hash_bytes(k, n);
    size_t j = strmap_find_slot(m, k, n, h);
    if (m->slots[j]) {
        m->ent[m->slots[j] - 1].val = val;
        return true;
    }
    if ((m->n + 1) * 4 > (m->mask + 1) * 3) { /* keep load <= 3/4 */
        if (!strmap_rehash(m, (m->mask + 1) * 2)) return false;
        j = strmap_find_slot(m, k, n, h);
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        struct tx_strmap_entry *e = realloc(m->ent, nc * sizeof *e);
        if (!e) return false;
        m->ent = e;
        m->cap = nc;
    }
    uint64_t off = m->arena.len;
    if (!tx_buf_append(&m->arena, k, n) || !tx_buf_append(&m->arena, "", 1))
        return false;
    m->ent[m->n] = (struct tx_strmap_entry){off, (uint32_t)n, h, val};
    m->slots[j] = (uint32_t)(++m->n);
    return true;
}

/* -------------------------------------------------------------- merges */

static inline uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static inline size_t pair_slot(uint64_t key, size_t mask) {
    /* splitmix64 finalizer: both halves of the key reach the low bits */
    uint64_t h = key;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return (size_t)h & mask;
}

bool tx_bpe_init(tx_bpe *b, size_t n_vocab, size_t n_merges) {
    memset(b, 0, sizeof *b);
    b->unk_id = -1;
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    if (!tx_strmap_init(&b->vocab, n_vocab)) return false;
    size_t ns = 16;
    while (ns < n_merges * 2 + 16) ns *= 2;
    b->merges = malloc(ns * sizeof *b->merges);
    if (!b->merges) return false;
    for (size_t i = 0; i < ns; i++) b->merges[i].key = UINT64_MAX;
    b->merges_mask = ns - 1;
    if (!tx_strmap_init(&b->cache, 4096)) return false;
    b->cache_max_entries = (size_t)1 << 20;
    return true;
}

void tx_bpe_free(tx_bpe *b) {
    tx_strmap_free(&b->vocab);
    free(b->merges);
    tx_strmap_free(&b->cache);
    tx_ivec_free(&b->cache_ids);
    free(b->sym);
    free(b->heap);
    free(b->mergeable);
    memset(b, 0, sizeof *b);
}

static bool merges_grow(tx_bpe *b) {
    size_t ns = (b->merges_mask + 1) * 2;
    tx_merge *m = malloc(ns * sizeof *m);
    if (!m) return false;
    for (size_t i = 0; i < ns; i++) m[i].key = UINT64_MAX;
    for (size_t i = 0; i <= b->merges_mask; i++) {
        if (b->merges[i].key == UINT64_MAX) continue;
        size_t j = pair_slot(b->merges[i].key, ns - 1);
        while (m[j].key != UINT64_MAX) j = (j + 1) & (ns - 1);
        m[j] = b->merges[i];
    }
    free(b->merges);
    b->merges = m;
    b->merges_mask = ns - 1;
    return true;
}

bool tx_bpe_add_merge(tx_bpe *b, int32_t a, int32_t bb, uint32_t rank,
                      int32_t new_id) {
    if ((b->n_merges + 1) * 2 > b->merges_mask + 1 && !merges_grow(b)) return false;
    uint64_t key = pair_key(a, bb);
    size_t j = pair_slot(key, b->merges_mask);
    while (b->merges[j].key != UINT64_MAX && b->merges[j].key != key)
        j = (j + 1) & b->merges_mask;
    if (b->merges[j].key == UINT64_MAX) b->n_merges++;
    b->merges[j] = (tx_merge){key, rank, new_id};
    return true;
}

bool tx_bpe_find_merge(const tx_bpe *b, int32_t a, int32_t bb, uint32_t *rank,
                       int32_t *new_id) {
    uint64_t key = pair_key(a, bb);
    size_t j = pair_slot(key, b->merges_mask);
    for (;;) {
        const tx_merge *m = &b->merges[j];
        if (m->key == key) {
            *rank = m->rank;
            *new_id = m->new_id;
            return true;
        }
        if (m->key == UINT64_MAX) return false;
        j = (j + 1) & b->merges_mask;
    }
}

/* ------------------------------------------------------------ symbols */

static bool sym_reserve(tx_bpe *b, size_t n) {
    if (n <= b->sym_cap) return true;
    size_t nc = b->sym_cap ? b->sym_cap : 64;
    while (nc < n) nc *= 2;
    struct tx_sym *s = realloc(b->sym, nc * sizeof *s);
    if (!s) return false;
    b->sym = s;
    b->sym_cap = nc;
    return true;
}

static bool heap_reserve(tx_bpe *b, size_t n) {
    if (n <= b->heap_cap) return true;
    size_t nc = b->heap_cap ? b->heap_cap : 64;
    while (nc < n) nc *= 2;
    struct tx_heap_node *h = realloc(b->heap, nc * sizeof *h);
    if (!h) return false;
    b->heap = h;
    b->heap_cap = nc;
    return true;
}

/* Initial symbols of a word: one per character (its vocabulary id), byte
 * fallback tokens, or unk (fused when asked); characters with none of these
 * are dropped, as the reference does. Returns the number of symbols, or
 * SIZE_MAX on OOM. */
static size_t word_symbols(tx_bpe *b, const char *w, size_t n) {
    if (!sym_reserve(b, n + 1)) return SIZE_MAX;
    size_t ns = 0;
    int32_t unk_pending = -1;
    uint32_t unk_len = 0;
    size_t i = 0;
    while (i < n) {
        size_t l = tx_utf8_len((unsigned char)w[i]);
        if (l > n - i) l = n - i;
        int32_t id = tx_strmap_get(&b->vocab, w + i, l);
        if (id >= 0) {
            if (unk_pending >= 0) {
                b->sym[ns++] = (struct tx_sym){unk_pending, 0, 0, unk_len};
                unk_pending = -1;
            }
            b->sym[ns++] = (struct tx_sym){id, 0, 0, (uint32_t)l};
        } else {
            bool done = false;
            if (b->byte_fallback) {
                bool all = true;
                for (size_t k = 0; k < l; k++)
                    if (b->byte_id[(unsigned char)w[i + k]] < 0) all = false;
                if (all) {
                    /* the reference pushes these without flushing a pending
                     * unk first; reproduce that order */
                    for (size_t k = 0; k < l; k++)
                        b->sym[ns++] =
                            (struct tx_sym){b->byte_id[(unsigned char)w[i + k]], 0, 0, 1};
                    done = true;
                }
            }
            if (!done) {
                if (b->unk_id >= 0) {
                    if (unk_pending >= 0 && b->fuse_unk) {
                        unk_len += (uint32_t)l;
                    } else {
                        if (unk_pending >= 0)
                            b->sym[ns++] = (struct tx_sym){unk_pending, 0, 0, unk_len};
                        unk_pending = b->unk_id;
                        unk_len = (uint32_t)l;
                    }
                } else {
                    b->dropped_chars++;
                }
            }
        }
        i += l;
    }
    if (unk_pending >= 0) b->sym[ns++] = (struct tx_sym){unk_pending, 0, 0, unk_len};
    for (size_t k = 0; k < ns; k++) {
        b->sym[k].prev = (int32_t)k - 1;
        b->sym[k].next = k + 1 < ns ? (int32_t)(k + 1) : -1;
    }
    return ns;
}

static inline bool heap_less(const struct tx_heap_node *a,
                             const struct tx_heap_node *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(tx_bpe *b, size_t *hn, struct tx_heap_node x) {
    size_t i = (*hn)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&x, &b->heap[p])) break;
        b->heap[i] = b->heap[p];
        i = p;
    }
    b->heap[i] = x;
}

static struct tx_heap_node heap_pop(tx_bpe *b, size_t *hn) {
    struct tx_heap_node top = b->heap[0];
    struct tx_heap_node x = b->heap[--*hn];
    size_t n = *hn, i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t c = (l + 1 < n && heap_less(&b->heap[l + 1], &b->heap[l])) ? l + 1 : l;
        if (!heap_less(&b->heap[c], &x)) break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (n) b->heap[i] = x;
    return top;
}

static inline bool mergeable(const tx_bpe *b, int32_t id) {
    return b->mergeable && id >= 0 && (size_t)id < b->n_ids &&
           (b->mergeable[(size_t)id >> 3] >> (id & 7) & 1);
}

bool tx_bpe_finalize(tx_bpe *b, size_t n_ids) {
    free(b->mergeable);
    b->n_ids = n_ids;
    b->mergeable = calloc(n_ids / 8 + 1, 1);
    if (!b->mergeable) return false;
    for (size_t i = 0; i <= b->merges_mask; i++) {
        uint64_t k = b->merges[i].key;
        if (k == UINT64_MAX) continue;
        uint32_t ids[2] = {(uint32_t)(k >> 32), (uint32_t)k};
        for (int j = 0; j < 2; j++)
            if (ids[j] < n_ids) b->mergeable[ids[j] >> 3] |= (uint8_t)(1u << (ids[j] & 7));
    }
    return true;
}

/* The reference's merge_all on symbols [lo, hi) (linked among themselves).
 * Each merge removes one symbol and pushes at most two candidates, so the
 * heap never exceeds 3 * (hi - lo) entries. */
static bool merge_range(tx_bpe *b, size_t lo, size_t hi) {
    size_t ns = hi - lo;
    if (ns < 2) return true;
    if (!heap_reserve(b, 3 * ns + 1)) return false;
    size_t hn = 0;
    for (size_t i = lo; i + 1 < hi; i++) {
        uint32_t rank;
        int32_t nid;
        if (tx_bpe_find_merge(b, b->sym[i].id, b->sym[i + 1].id, &rank, &nid))
            heap_push(b, &hn, (struct tx_heap_node){rank, (uint32_t)i, nid});
    }
    while (hn) {
        struct tx_heap_node top = heap_pop(b, &hn);
        struct tx_sym *cur = &b->sym[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        int32_t next_pos = cur->next;
        struct tx_sym right = b->sym[next_pos];
        uint32_t rank;
        int32_t nid;
        if (!tx_bpe_find_merge(b, cur->id, right.id, &rank, &nid) || nid != top.new_id)
            continue; /* stale entry */
        cur->id = top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        b->sym[next_pos].len = 0;
        if (right.next >= 0) b->sym[right.next].prev = (int32_t)top.pos;
        if (cur->prev >= 0) {
            struct tx_sym *p = &b->sym[cur->prev];
            if (tx_bpe_find_merge(b, p->id, cur->id, &rank, &nid))
                heap_push(b, &hn, (struct tx_heap_node){rank, (uint32_t)cur->prev, nid});
        }
        if (cur->next >= 0) {
            struct tx_sym *q = &b->sym[cur->next];
            if (tx_bpe_find_merge(b, cur->id, q->id, &rank, &nid))
                heap_push(b, &hn, (struct tx_heap_node){rank, top.pos, nid});
        }
    }
    return true;
}

/* A symbol that appears in no merge pair never changes and no merge crosses
 * it, so the word splits there into independent runs with identical results
 * (this keeps the heaps small when a SentencePiece-style tokenizer without a
 * pre-tokenizer sees a whole file as one word: newlines are byte-fallback
 * tokens that never merge). */
static bool merge_all(tx_bpe *b, size_t ns) {
    size_t lo = 0;
    for (size_t i = 0; i <= ns; i++) {
        if (i < ns && mergeable(b, b->sym[i].id)) continue;
        if (i > lo + 1) {
            b->sym[lo].prev = -1;
            b->sym[i - 1].next = -1;
            if (!merge_range(b, lo, i)) return false;
        }
        lo = i + 1;
    }
    return true;
}

/* Cache layout: the map's value is an offset into cache_ids, where the
 * entry's id count is followed by the ids. Words of 256 bytes or more are not
 * cached (the reference's MAX_LENGTH). */
#define TX_CACHE_MAX_WORD 256

awq_status tx_bpe_word(awq_ctx *ctx, tx_bpe *b, const char *w, size_t n,
                       tx_ivec *out) {
    if (n == 0) return AWQ_OK;
    if (b->ignore_merges) {
        int32_t id = tx_strmap_get(&b->vocab, w, n);
        if (id >= 0) {
            if (!tx_ivec_push(out, id)) return awq_fail_nomem(ctx, "token ids", n);
            return AWQ_OK;
        }
    }
    bool cacheable = n < TX_CACHE_MAX_WORD;
    if (cacheable) {
        int32_t off = tx_strmap_get(&b->cache, w, n);
        if (off >= 0) {
            int32_t cnt = b->cache_ids.p[off];
            if (!tx_ivec_append(out, b->cache_ids.p + off + 1, (size_t)cnt))
                return awq_fail_nomem(ctx, "token ids", (uint64_t)cnt);
            return AWQ_OK;
        }
    }
    size_t ns = word_symbols(b, w, n);
    if (ns == SIZE_MAX || !merge_all(b, ns))
        return awq_fail_nomem(ctx, "BPE word", n);
    size_t start = out->len;
    if (!tx_ivec_reserve(out, ns)) return awq_fail_nomem(ctx, "token ids", ns);
    for (size_t i = 0; i < ns; i++)
        if (b->sym[i].len) out->p[out->len++] = b->sym[i].id;
    if (cacheable && b->cache.n < b->cache_max_entries &&
        b->cache_ids.len < (size_t)INT32_MAX / 2) {
        size_t cnt = out->len - start;
        size_t off = b->cache_ids.len;
        /* on OOM the cache is simply not extended */
        if (tx_ivec_reserve(&b->cache_ids, cnt + 1)) {
            b->cache_ids.p[b->cache_ids.len++] = (int32_t)cnt;
            memcpy(b->cache_ids.p + b->cache_ids.len, out->p + start, cnt * sizeof(int32_t));
            b->cache_ids.len += cnt;
            if (!tx_strmap_put(&b->cache, w, n, (int32_t)off)) b->cache_ids.len = off;
        }
    }
    return AWQ_OK;
}

awq_status tx_bpe_word_ref(awq_ctx *ctx, tx_bpe *b, const char *w, size_t n,
                           tx_ivec *out) {
    if (n == 0) return AWQ_OK;
    if (b->ignore_merges) {
        int32_t id = tx_strmap_get(&b->vocab, w, n);
        if (id >= 0) {
            if (!tx_ivec_push(out, id)) return awq_fail_nomem(ctx, "token ids", n);
            return AWQ_OK;
        }
    }
    size_t ns = word_symbols(b, w, n);
    if (ns == SIZE_MAX) return awq_fail_nomem(ctx, "BPE word", n);
    int32_t *ids = malloc((ns ? ns : 1) * sizeof *ids);
    if (!ids) return awq_fail_nomem(ctx, "BPE word", n);
    for (size_t i = 0; i < ns; i++) ids[i] = b->sym[i].id;
    size_t m = ns;
    for (;;) {
        size_t best = SIZE_MAX;
        uint32_t best_rank = UINT32_MAX;
        int32_t best_id = -1;
        for (size_t i = 0; i + 1 < m; i++) {
            uint32_t r;
            int32_t nid;
            if (tx_bpe_find_merge(b, ids[i], ids[i + 1], &r, &nid) && r < best_rank) {
                best_rank = r;
                best = i;
                best_id = nid;
            }
        }
        if (best == SIZE_MAX) break;
        ids[best] = best_id;
        memmove(ids + best + 1, ids + best + 2, (m - best - 2) * sizeof *ids);
        m--;
    }
    bool ok = tx_ivec_append(out, ids, m);
    free(ids);
    return ok ? AWQ_OK : awq_fail_nomem(ctx, "token ids", m);
}

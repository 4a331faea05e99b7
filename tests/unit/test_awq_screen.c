/* tests/unit/test_awq_screen.c — the screened scale search
 * (awq_quantize_params.screen / finalists, lib/quant/awq_search.c) against
 * the unscreened search it shortens, on data/tiny-llama:
 *  - screen 0 screens nothing: every candidate's full loss, no screening
 *    losses;
 *  - a finalist's full loss is the unscreened search's loss of that
 *    candidate (the same sums split in two; AWQ_TOL_SPLIT_SUM), with the
 *    split inside a chunk and on a chunk boundary;
 *  - the screening side is the first sequences: RTN's screening loss is
 *    an unscreened search's RTN loss over only those (first layer, where
 *    the inputs are the embeddings themselves; the other candidates'
 *    scales follow x_mean, which covers every sequence of a store);
 *  - the finalists are exactly the `finalists` lowest screening losses, and
 *    the pick is the lowest full loss among the finished candidates; it is
 *    the unscreened pick whenever that one is a finalist;
 *  - 1 and 2 threads give the same bits;
 *  - out-of-range screen / finalists are refused, naming the field. */
#include "awq_test.h"
#include "core/core.h"
#include "quant/awq_search.h"

#include "awqkit/quantize.h"

/* A finalist's loss is the sum over the screening sequences plus the sum
 * over the rest, divided by the count; the unscreened search sums the same
 * squared errors in one pass. They differ only in the rounding of a few
 * double additions. */
#define AWQ_TOL_SPLIT_SUM 1e-9

enum { B = 5, T = 64 };

typedef struct {
    awq_ctx *ctx;
    awq_checkpoint *ck;
    awq_model *m;
    awq_search_acts a;
    int64_t B;
} rig;

/* A model and a store of `b` sequences (chunks of `per_chunk` sequences,
 * 0 = one chunk) whose layer-0 input is the embedding of ids[0, b*T). */
static bool rig_open(rig *r, int threads, int64_t b, int64_t per_chunk, const int32_t *ids) {
    memset(r, 0, sizeof *r);
    r->ctx = awq_test_ctx(threads);
    r->B = b;
    awq_runtime_params rp = awq_runtime_default_params();
    CHECK_OK(r->ctx, awq_checkpoint_open(r->ctx, AWQ_TEST_DATA "/tiny-llama", &r->ck));
    if (!r->ck) return false;
    CHECK_OK(r->ctx, awq_model_open(r->ctx, r->ck, &rp, &r->m));
    if (!r->m) return false;
    const int64_t H = awq_model_get_config(r->m)->hidden;
    CHECK_OK(r->ctx, awq_search_acts_create(r->m, b, T, per_chunk, false, NULL, &r->a));
    float *x = malloc(sizeof(float) * (size_t)(b * T * H));
    CHECK_OK(r->ctx, awq_model_embed(r->m, ids, b * T, x));
    int64_t row = 0;
    for (int64_t c = 0; c < awq_act_store_n_chunks(r->a.st); c++) {
        float *p = NULL;
        int64_t rows = awq_act_store_chunk_rows(r->a.st, c);
        CHECK_OK(r->ctx, awq_act_store_get(r->a.st, AWQ_SLOT_X, c, false, &p));
        if (p) memcpy(p, x + row * H, sizeof(float) * (size_t)(rows * H));
        CHECK_OK(r->ctx, awq_act_store_put(r->a.st, AWQ_SLOT_X, c, p));
        row += rows;
    }
    free(x);
    return true;
}

static void rig_close(rig *r) {
    awq_search_acts_free(&r->a);
    awq_model_free(r->m);
    awq_checkpoint_free(r->ck);
    awq_ctx_free(r->ctx);
}

/* Search layer `li` (the store holds that layer's input) with p. */
static awq_layer *search(rig *r, int64_t li, const awq_quantize_params *p, awq_layer_search *out) {
    awq_layer *l = NULL;
    memset(out, 0, sizeof *out);
    CHECK_OK(r->ctx, awq_layer_load(r->m, li, &l));
    if (!l) return NULL;
    CHECK_OK(r->ctx, awq_search_forward(r->m, l, &r->a, AWQ_SLOT_X, AWQ_SLOT_Y, true));
    CHECK_OK(r->ctx, awq_search_layer(r->m, l, &r->a, p, out, NULL, 0, 0));
    return l;
}

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

/* Every property of one screened group against its unscreened twin. */
static void check_group(const char *what, const awq_layer_search *u, const awq_layer_search *s,
                        int gi, int finalists) {
    const char *name = u->rep[gi].name;
    const int n = u->n_cand[gi];
    CHECK_EQ_INT(s->n_cand[gi], n);
    CHECK_MSG(u->screen_loss[gi] == NULL, "%s %s: screen 0 has screening losses", what, name);
    CHECK_MSG(s->screen_loss[gi] != NULL, "%s %s: not screened", what, name);
    if (!s->screen_loss[gi] || s->n_cand[gi] != n) return;
    for (int i = 0; i < n; i++)
        CHECK_MSG(isfinite(u->cand_loss[gi][i]), "%s %s: unscreened candidate %d has no loss",
                  what, name, i);
    /* finished candidates: the finalists, and the identity (plain ratio 0,
     * whose full loss is the RTN baseline's) */
    int n_fin = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(s->cand_loss[gi][i])) continue;
        double e = rel(s->cand_loss[gi][i], u->cand_loss[gi][i]);
        CHECK_MSG(e <= AWQ_TOL_SPLIT_SUM, "%s %s candidate %d: split loss %.12g vs %.12g", what,
                  name, i, s->cand_loss[gi][i], u->cand_loss[gi][i]);
        /* a finalist ranks among the `finalists` lowest screening losses */
        int below = 0;
        for (int j = 0; j < n; j++)
            below += s->screen_loss[gi][j] < s->screen_loss[gi][i] ||
                     (s->screen_loss[gi][j] == s->screen_loss[gi][i] && j < i);
        if (below < finalists) n_fin++;
        else CHECK_MSG(i == 0 && s->cand_loss[gi][0] == s->rep[gi].loss_rtn,
                       "%s %s: candidate %d finished with rank %d", what, name, i, below);
    }
    CHECK_MSG(n_fin == finalists, "%s %s: %d finalists, want %d", what, name, n_fin, finalists);
    /* the pick: the lowest full loss among the finished */
    int best = -1;
    for (int i = 0; i < n; i++)
        if (isfinite(s->cand_loss[gi][i]) && (best < 0 || s->cand_loss[gi][i] < s->cand_loss[gi][best]))
            best = i;
    CHECK(best >= 0 && s->rep[gi].loss_best == s->cand_loss[gi][best]);
    int ub = 0;
    for (int i = 1; i < n; i++)
        if (u->cand_loss[gi][i] < u->cand_loss[gi][ub]) ub = i;
    if (isfinite(s->cand_loss[gi][ub]))
        CHECK_MSG(s->rep[gi].ratio == u->rep[gi].ratio && s->rep[gi].duo == u->rep[gi].duo &&
                      memcmp(s->scales[gi], u->scales[gi], sizeof(float) * (size_t)u->len[gi]) == 0,
                  "%s %s: the unscreened best %d is a finalist, yet ratio %.2f vs %.2f", what,
                  name, ub, s->rep[gi].ratio, u->rep[gi].ratio);
    else
        printf("%s %s: the unscreened best (%d) was screened out; the pick's loss is %.3g%% "
               "above it\n", what, name, ub,
               100 * (s->rep[gi].loss_best / u->rep[gi].loss_best - 1));
    CHECK(rel(s->rep[gi].loss_rtn, u->rep[gi].loss_rtn) <= AWQ_TOL_SPLIT_SUM);
}

static void test_layers(const int32_t *ids) {
    awq_quantize_params pu = awq_quantize_default_params(), ps = pu;
    pu.precision = ps.precision = AWQ_PRECISION_FP32;
    /* every group through candidate forwards, so that every group screens */
    pu.search_loss = ps.search_loss = AWQ_SEARCH_LOSS_DIRECT;
    pu.screen = 0;
    ps.screen = 0.5;           /* round(2.5) = 3 of 5 sequences */
    ps.finalists = 3;
    /* one chunk; chunks of 2 (the split inside chunk [2, 4)); chunks of 3
     * (the split on the boundary) */
    static const int64_t per_chunk[] = {0, 2, 3};
    for (size_t v = 0; v < sizeof per_chunk / sizeof *per_chunk; v++) {
        rig r;
        if (!rig_open(&r, 2, B, per_chunk[v], ids)) {
            rig_close(&r);
            return;
        }
        const int64_t layers = per_chunk[v] ? 2 : awq_model_get_config(r.m)->n_layers;
        for (int64_t li = 0; li < layers; li++) {
            awq_layer_search u, s;
            awq_layer *l = search(&r, li, &pu, &u);
            if (!l) break;
            CHECK_OK(r.ctx, awq_search_layer(r.m, l, &r.a, &ps, &s, NULL, 0, 0));
            char what[64];
            snprintf(what, sizeof what, "chunks of %lld, layer %lld", (long long)per_chunk[v],
                     (long long)li);
            for (int gi = 0; gi < u.n_groups; gi++)
                if (u.used[gi] && u.rep[gi].searched) check_group(what, &u, &s, gi, ps.finalists);
            awq_layer_search_free(&u);
            awq_layer_search_free(&s);
            CHECK_OK(r.ctx, awq_act_store_swap(r.a.st, AWQ_SLOT_X, AWQ_SLOT_Y));
            awq_layer_free(l);
        }
        rig_close(&r);
    }
}

/* The screening side is the screening sequences alone: on layer 0 an
 * unscreened search over only those sequences computes RTN's screening
 * sums (its inputs are the same embeddings). And the screened search
 * gives the same bits on 1 and 2 threads. */
static void test_screen_side(const int32_t *ids) {
    awq_quantize_params pu = awq_quantize_default_params(), ps = pu;
    pu.precision = ps.precision = AWQ_PRECISION_FP32;
    pu.search_loss = ps.search_loss = AWQ_SEARCH_LOSS_DIRECT;
    pu.screen = 0;
    ps.screen = 0.4;           /* round(2) = 2 of 5 */
    ps.finalists = 2;
    rig full, part, one;
    bool ok = rig_open(&full, 2, B, 0, ids) && rig_open(&part, 2, 2, 0, ids) &&
              rig_open(&one, 1, B, 0, ids);
    if (ok) {
        awq_layer_search s, u, s1;
        awq_layer *l1 = search(&full, 0, &ps, &s);
        awq_layer *l2 = search(&part, 0, &pu, &u);
        awq_layer *l3 = search(&one, 0, &ps, &s1);
        for (int gi = 0; l1 && l2 && l3 && gi < s.n_groups; gi++) {
            if (!s.used[gi] || !s.rep[gi].searched) continue;
            /* candidate 0 (plain ratio 0, scales 1): the other scales
             * follow x_mean, which covers every sequence of a store */
            CHECK(s.screen_loss[gi] != NULL);
            if (s.screen_loss[gi])
                CHECK_MSG(rel(s.screen_loss[gi][0], u.cand_loss[gi][0]) <= AWQ_TOL_SPLIT_SUM,
                          "%s: RTN's screening loss %.12g, its loss over those sequences "
                          "%.12g", s.rep[gi].name, s.screen_loss[gi][0], u.cand_loss[gi][0]);
            CHECK_MSG(s.rep[gi].loss_best == s1.rep[gi].loss_best &&
                          s.rep[gi].loss_rtn == s1.rep[gi].loss_rtn &&
                          s.rep[gi].ratio == s1.rep[gi].ratio,
                      "%s: 1 and 2 threads differ", s.rep[gi].name);
        }
        awq_layer_search_free(&s);
        awq_layer_search_free(&u);
        awq_layer_search_free(&s1);
        awq_layer_free(l1);
        awq_layer_free(l2);
        awq_layer_free(l3);
    }
    rig_close(&full);
    rig_close(&part);
    rig_close(&one);
}

static void test_params(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    awq_quantize_job *job = NULL;
    awq_quantize_params p = awq_quantize_default_params();
    CHECK(p.screen > 0 && p.screen < 1 && p.finalists >= 1);
    p.screen = 1.0;
    CHECK_FAILS(ctx, awq_quantize_prepare(ctx, AWQ_TEST_DATA "/tiny-llama", "/nonexistent/out",
                                          &p, &job),
                AWQ_ERR_INVALID_ARG, "screen");
    p.screen = NAN;
    CHECK_FAILS(ctx, awq_quantize_prepare(ctx, AWQ_TEST_DATA "/tiny-llama", "/nonexistent/out",
                                          &p, &job),
                AWQ_ERR_INVALID_ARG, "screen");
    p = awq_quantize_default_params();
    p.finalists = 0;
    CHECK_FAILS(ctx, awq_quantize_prepare(ctx, AWQ_TEST_DATA "/tiny-llama", "/nonexistent/out",
                                          &p, &job),
                AWQ_ERR_INVALID_ARG, "finalists");
    CHECK(job == NULL);
    awq_ctx_free(ctx);
}

int main(void) {
    int32_t ids[B * T];
    uint64_t st = 7;
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)(awq_test_rand_u32(&st) % 4096u);
    test_params();
    test_screen_side(ids);
    test_layers(ids);
    return awq_test_summary();
}

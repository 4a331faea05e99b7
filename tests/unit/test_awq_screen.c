/* tests/unit/test_awq_screen.c — the scale candidates' race
 * (awq_quantize_params.screen / race_z / finalists, lib/quant/awq_pick.c)
 * against the unraced search it shortens, on data/tiny-llama:
 *  - screen 0 races nothing: every candidate's full loss, no first-stage
 *    losses;
 *  - a candidate that runs every stage has the unraced search's loss of
 *    that candidate (the same sums split by stages; AWQ_TOL_SPLIT_SUM),
 *    with stage boundaries inside a chunk and on a chunk boundary;
 *  - the first stage is the first sequences: RTN's first-stage loss is an
 *    unraced search's RTN loss over only those (first layer, where the
 *    inputs are the embeddings themselves; the other candidates' scales
 *    follow x_mean, which covers every sequence of a store);
 *  - the drop rule, recomputed here from the first-stage segments (two
 *    stages, so that the only test is on them): a candidate stays exactly
 *    when its paired t against the leader is at most race_z; one left ends
 *    the race with it as the pick; the segments add up to the first-stage
 *    losses;
 *  - race_z 0 with a cap: the finished candidates are exactly the
 *    `finalists` lowest first-stage losses;
 *  - the pick is the lowest full loss among the finished, and the unraced
 *    pick whenever that one finished; the report's losses are the first
 *    stage's;
 *  - 1 and 2 threads give the same bits;
 *  - the groups judged on the MLP's output take their reference from the
 *    capturing forward (awq_search_acts.fp_is_mlp_out) with the losses and
 *    picks of a search that computes it, at fp32 and bf16 (the capture at
 *    BF16_LINEAR, as quantize runs it), direct and Gram losses; a capture
 *    at another precision than the search's is not used; the slot is void
 *    once another group's reference overwrote it;
 *  - out-of-range screen / race_z / finalists are refused, naming the
 *    field. */
#include "awq_test.h"
#include "backend/backend.h"
#include "core/core.h"
#include "model/forward.h"
#include "quant/awq_search.h"

#include "awqkit/quantize.h"

/* A finished candidate's loss is the sum over the stages divided by the
 * count; the unraced search sums the same squared errors in one pass. They
 * differ only in the rounding of a few double additions. */
#define AWQ_TOL_SPLIT_SUM 1e-9

/* 16 sequences of 64 tokens: one segment each, so two stages of 8 give the
 * race's minimum of 8 paired samples on the first. */
enum { B = 16, T = 64 };

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

/* The paired t of b's segments minus a's, written from its definition
 * (mean difference over its standard error; the oracle of awq_pick.c's). */
static double t_of(const double *a, const double *b, int64_t n) {
    double m = 0, v = 0;
    for (int64_t u = 0; u < n; u++) m += (b[u] - a[u]) / (double)n;
    if (!(m > 0)) return 0;
    for (int64_t u = 0; u < n; u++) v += (b[u] - a[u] - m) * (b[u] - a[u] - m);
    double se = sqrt(v / (double)(n - 1) / (double)n);
    return se > 0 ? m / se : INFINITY;
}

typedef struct {
    int groups, dropped, decided, finished_many;
} race_stats;

/* Every property of one raced group (two stages) against its unraced
 * twin. */
static void check_group(const char *what, const awq_quantize_params *p,
                        const awq_layer_search *u, const awq_layer_search *s, int gi,
                        race_stats *rs) {
    const char *name = u->rep[gi].name;
    const int n = u->n_cand[gi];
    CHECK_EQ_INT(s->n_cand[gi], n);
    CHECK_MSG(u->screen_loss[gi] == NULL, "%s %s: screen 0 has first-stage losses", what, name);
    CHECK_MSG(s->screen_loss[gi] != NULL, "%s %s: not raced", what, name);
    if (!s->screen_loss[gi] || s->n_cand[gi] != n) return;
    const double *sl = s->screen_loss[gi];
    for (int i = 0; i < n; i++)
        CHECK_MSG(isfinite(u->cand_loss[gi][i]) && isfinite(sl[i]),
                  "%s %s: candidate %d has no loss", what, name, i);
    rs->groups++;
    /* the first stage's leader (ties: the earlier) */
    int a = 0;
    for (int i = 1; i < n; i++)
        if (sl[i] < sl[a]) a = i;
    bool stay[64] = {false};
    int n_stay = 0;
    if (p->race_z > 0) {
        CHECK_MSG(s->screen_seg[gi] != NULL && s->n_seg[gi] == B / 2,
                  "%s %s: %lld first-stage segments, want %d", what, name,
                  (long long)s->n_seg[gi], B / 2);
        if (!s->screen_seg[gi] || s->n_seg[gi] != B / 2) return;
        const int64_t ns = s->n_seg[gi];
        const double *seg = s->screen_seg[gi];
        double sum0 = 0;
        for (int64_t k = 0; k < ns; k++) sum0 += seg[k];
        for (int i = 0; i < n; i++) {
            /* the segments add up to the first-stage loss */
            double sum = 0;
            for (int64_t k = 0; k < ns; k++) sum += seg[i * ns + k];
            CHECK_MSG(rel(sum / sum0, sl[i] / sl[0]) <= AWQ_TOL_SPLIT_SUM,
                      "%s %s candidate %d: segments %.12g vs loss ratio %.12g", what, name, i,
                      sum / sum0, sl[i] / sl[0]);
            stay[i] = i == a || t_of(seg + a * ns, seg + i * ns, ns) <= p->race_z;
        }
    } else {
        /* no test: the `finalists` lowest */
        for (int i = 0; i < n; i++) {
            int below = 0;
            for (int j = 0; j < n; j++) below += sl[j] < sl[i] || (sl[j] == sl[i] && j < i);
            stay[i] = below < p->finalists;
        }
    }
    for (int i = 0; i < n; i++) n_stay += stay[i];
    rs->dropped += n - n_stay;
    int pick = (int)lround(s->rep[gi].ratio * p->n_grid);
    if (n_stay == 1) {
        /* one left after the first stage: it wins, nothing finished */
        rs->decided++;
        CHECK_MSG(pick == a, "%s %s: one left (%d), yet pick %d", what, name, a, pick);
        for (int i = 0; i < n; i++)
            CHECK_MSG(!isfinite(s->cand_loss[gi][i]), "%s %s: candidate %d finished", what,
                      name, i);
    } else {
        rs->finished_many++;
        int best = -1;
        for (int i = 0; i < n; i++) {
            CHECK_MSG(isfinite(s->cand_loss[gi][i]) == stay[i],
                      "%s %s: candidate %d %s, but its t is %s race_z", what, name, i,
                      stay[i] ? "dropped" : "finished", stay[i] ? "within" : "beyond");
            if (!isfinite(s->cand_loss[gi][i])) continue;
            double e = rel(s->cand_loss[gi][i], u->cand_loss[gi][i]);
            CHECK_MSG(e <= AWQ_TOL_SPLIT_SUM, "%s %s candidate %d: split loss %.12g vs %.12g",
                      what, name, i, s->cand_loss[gi][i], u->cand_loss[gi][i]);
            if (best < 0 || s->cand_loss[gi][i] < s->cand_loss[gi][best]) best = i;
        }
        CHECK_MSG(pick == best, "%s %s: pick %d, lowest finished %d", what, name, pick, best);
    }
    /* the unraced pick, whenever the unraced best finished (or won alone) */
    int ub = 0;
    for (int i = 1; i < n; i++)
        if (u->cand_loss[gi][i] < u->cand_loss[gi][ub]) ub = i;
    if (stay[ub] && (n_stay > 1 || ub == a))
        CHECK_MSG(s->rep[gi].ratio == u->rep[gi].ratio && s->rep[gi].duo == u->rep[gi].duo &&
                      memcmp(s->scales[gi], u->scales[gi], sizeof(float) * (size_t)u->len[gi]) == 0,
                  "%s %s: the unraced best %d stayed, yet ratio %.2f vs %.2f", what, name, ub,
                  s->rep[gi].ratio, u->rep[gi].ratio);
    else
        printf("%s %s: the unraced best (%d) was dropped; the pick's loss is %.3g%% above it\n",
               what, name, ub, 100 * (u->cand_loss[gi][pick] / u->cand_loss[gi][ub] - 1));
    /* the report: first-stage losses (candidate 0 is RTN itself) */
    CHECK(s->rep[gi].loss_rtn == sl[0]);
    CHECK(pick >= 0 && pick < n && s->rep[gi].loss_best == sl[pick]);
}

static void test_layers(const int32_t *ids, double z, int finalists, bool all_chunkings) {
    awq_quantize_params pu = awq_quantize_default_params(), ps = pu;
    pu.precision = ps.precision = AWQ_PRECISION_FP32;
    /* every group through candidate forwards, so that every group races */
    pu.search_loss = ps.search_loss = AWQ_SEARCH_LOSS_DIRECT;
    pu.screen = 0;
    ps.screen = 0.5;           /* two stages of 8 sequences */
    ps.race_z = z;
    ps.finalists = finalists;
    /* one chunk; chunks of 3 (the stage boundary inside chunk [6, 9));
     * chunks of 4 (the boundary on a chunk boundary) */
    static const int64_t per_chunk[] = {0, 3, 4};
    race_stats rs = {0};
    for (size_t v = 0; v < (all_chunkings ? 3u : 1u); v++) {
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
            char what[96];
            snprintf(what, sizeof what, "z %g finalists %d, chunks of %lld, layer %lld", z,
                     finalists, (long long)per_chunk[v], (long long)li);
            for (int gi = 0; gi < u.n_groups; gi++)
                if (u.used[gi] && u.rep[gi].searched) check_group(what, &ps, &u, &s, gi, &rs);
            awq_layer_search_free(&u);
            awq_layer_search_free(&s);
            CHECK_OK(r.ctx, awq_act_store_swap(r.a.st, AWQ_SLOT_X, AWQ_SLOT_Y));
            awq_layer_free(l);
        }
        rig_close(&r);
    }
    printf("z %g finalists %d: %d groups, %d candidates dropped, %d decided on the first "
           "stage, %d with several finishing\n", z, finalists, rs.groups, rs.dropped, rs.decided,
           rs.finished_many);
    /* the runs exercise what they test */
    CHECK(rs.groups > 0 && rs.dropped > 0 && rs.finished_many > 0);
    if (z > 0 && z < 2) CHECK(rs.decided > 0);
}

/* The first stage is the first sequences alone: on layer 0 an unraced
 * search over only those sequences computes RTN's first-stage sums (its
 * inputs are the same embeddings). And the race gives the same bits on 1
 * and 2 threads. */
static void test_screen_side(const int32_t *ids) {
    awq_quantize_params pu = awq_quantize_default_params(), ps = pu;
    pu.precision = ps.precision = AWQ_PRECISION_FP32;
    pu.search_loss = ps.search_loss = AWQ_SEARCH_LOSS_DIRECT;
    pu.screen = 0;
    ps.screen = 0.375;         /* stages of 6 of 16 */
    ps.race_z = 1;             /* drops on the 6 + 6 segments */
    rig full, part, one;
    bool ok = rig_open(&full, 2, B, 0, ids) && rig_open(&part, 2, 6, 0, ids) &&
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
                          "%s: RTN's first-stage loss %.12g, its loss over those sequences "
                          "%.12g", s.rep[gi].name, s.screen_loss[gi][0], u.cand_loss[gi][0]);
            CHECK_MSG(s.rep[gi].loss_best == s1.rep[gi].loss_best &&
                          s.rep[gi].loss_rtn == s1.rep[gi].loss_rtn &&
                          s.rep[gi].ratio == s1.rep[gi].ratio &&
                          memcmp(s.cand_loss[gi], s1.cand_loss[gi],
                                 sizeof(double) * (size_t)s.n_cand[gi]) == 0,
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
    CHECK(p.screen > 0 && p.screen < 1 && p.race_z > 0 && p.finalists == 0);
    p.screen = 1.0;
    CHECK_FAILS(ctx, awq_quantize_prepare(ctx, AWQ_TEST_DATA "/tiny-llama", "/nonexistent/out",
                                          &p, &job),
                AWQ_ERR_INVALID_ARG, "screen");
    p.screen = NAN;
    CHECK_FAILS(ctx, awq_quantize_prepare(ctx, AWQ_TEST_DATA "/tiny-llama", "/nonexistent/out",
                                          &p, &job),
                AWQ_ERR_INVALID_ARG, "screen");
    p = awq_quantize_default_params();
    p.finalists = -1;
    CHECK_FAILS(ctx, awq_quantize_prepare(ctx, AWQ_TEST_DATA "/tiny-llama", "/nonexistent/out",
                                          &p, &job),
                AWQ_ERR_INVALID_ARG, "finalists");
    static const double bad_z[] = {-1, 1001, NAN};
    for (size_t i = 0; i < sizeof bad_z / sizeof *bad_z; i++) {
        p = awq_quantize_default_params();
        p.race_z = bad_z[i];
        CHECK_FAILS(ctx,
                    awq_quantize_prepare(ctx, AWQ_TEST_DATA "/tiny-llama", "/nonexistent/out",
                                         &p, &job),
                    AWQ_ERR_INVALID_ARG, "race_z");
    }
    CHECK(job == NULL);
    awq_ctx_free(ctx);
}

/* The MLP-output reference from the capturing forward vs computed in the
 * search: the same candidate losses (to the rounding of the row cuts) and
 * the same picks; other groups' references void it. */
static void test_mlp_reference(const int32_t *ids) {
    /* v: 0 fp32 direct, 1 bf16 direct, 2 fp32 Gram where cheaper, 3 bf16
     * search on an fp32 capture (not used: computed both times) */
    for (int v = 0; v < 4; v++) {
        awq_quantize_params p = awq_quantize_default_params();
        p.precision = v % 2 ? AWQ_PRECISION_BF16 : AWQ_PRECISION_FP32;
        p.search_loss = v == 2 ? AWQ_SEARCH_LOSS_AUTO : AWQ_SEARCH_LOSS_DIRECT;
        p.screen = 0;
        rig r;
        if (!rig_open(&r, 2, B, 0, ids)) {
            rig_close(&r);
            return;
        }
        const awq_arch *a = awq_model_get_config(r.m)->arch;
        for (int64_t li = 0; li < 2; li++) {
            awq_layer *l = NULL;
            CHECK_OK(r.ctx, awq_layer_load(r.m, li, &l));
            if (!l) break;
            awq_backend *be = awq_model_backend(r.m);
            const bool bf16 = v == 1 && be->ops->set_gemm_precision(be, AWQ_GEMM_BF16_LINEAR) ==
                                            AWQ_OK;
            if (v == 1 && !bf16) printf("note: no bf16 GEMMs here: variant 1 runs fp32\n");
            CHECK_OK(r.ctx, awq_search_forward(r.m, l, &r.a, AWQ_SLOT_X, AWQ_SLOT_Y, true));
            CHECK_OK(r.ctx, be->ops->set_gemm_precision(be, AWQ_GEMM_FP32));
            CHECK_MSG(r.a.fp_is_mlp_out, "a capturing forward leaves the MLP outputs");
            CHECK(r.a.fp_mlp_bf16 == bf16);
            awq_layer_search given, computed;
            CHECK_OK(r.ctx, awq_search_layer(r.m, l, &r.a, &p, &given, NULL, 0, 0));
            /* the attention groups' references (searched after) void it */
            CHECK_MSG(!r.a.fp_is_mlp_out, "the FP slot still claims the MLP outputs");
            CHECK_OK(r.ctx, awq_search_layer(r.m, l, &r.a, &p, &computed, NULL, 0, 0));
            int mlp_groups = 0;
            for (int gi = 0; gi < given.n_groups; gi++) {
                if (!given.used[gi] || !given.rep[gi].searched) continue;
                const awq_scale_group *g = &a->groups[gi];
                mlp_groups += g->block == AWQ_BLOCK_MLP ||
                              (g->block == AWQ_BLOCK_LINEAR &&
                               a->linears[g->linears[0]].kind == AWQ_LIN_KIND_DOWN);
                CHECK_MSG(given.rep[gi].ratio == computed.rep[gi].ratio &&
                              given.rep[gi].duo == computed.rep[gi].duo,
                          "variant %d layer %lld group %d: picks differ", v, (long long)li, gi);
                for (int i = 0; i < given.n_cand[gi]; i++) {
                    double x = given.cand_loss[gi][i], y = computed.cand_loss[gi][i];
                    CHECK_MSG((isnan(x) && isnan(y)) || rel(x, y) <= AWQ_TOL_SPLIT_SUM,
                              "variant %d layer %lld group %d candidate %d: %.17g vs %.17g", v,
                              (long long)li, gi, i, x, y);
                }
            }
            CHECK(mlp_groups == 2);
            awq_layer_search_free(&given);
            awq_layer_search_free(&computed);
            CHECK_OK(r.ctx, awq_act_store_swap(r.a.st, AWQ_SLOT_X, AWQ_SLOT_Y));
            awq_layer_free(l);
        }
        rig_close(&r);
    }
}

int main(void) {
    int32_t ids[B * T];
    uint64_t st = 7;
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)(awq_test_rand_u32(&st) % 4096u);
    test_params();
    test_screen_side(ids);
    test_mlp_reference(ids);
    test_layers(ids, 4, 0, true); /* the default test */
    test_layers(ids, 1, 0, false); /* drops often: decided groups */
    test_layers(ids, 0, 3, false); /* no test, a cap of 3 */
    return awq_test_summary();
}

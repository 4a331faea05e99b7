/* tests/unit/test_pack.c — the packed layouts: hand-written golden words
 * for every layout (so an order mistake cannot pass by symmetry), every
 * element of every packed tensor against the per-element position functions
 * of layouts.h, pack/unpack round trips at several shapes (GEMV padding,
 * GPTQ partial last group, act-order g_idx, 2/3/8-bit GPTQ, unaligned
 * input), cross-format chains that must stay bit-identical, GPTQ v1's zero
 * of 0 (refused, or re-quantized on request), the v1/v2 zero detection, the
 * packability rules, malformed inputs, and the quantization_config JSON. */
#include "awq_test.h"
#include "core/core.h"
#include "quant/layouts.h"

#include <cjson/cJSON.h>
#include <stdint.h>

static uint32_t rng_state = 88172645u;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static uint32_t word(const awq_packed *p, int t, int64_t i) {
    uint32_t v;
    memcpy(&v, (const unsigned char *)p->t[t].data + 4 * i, 4);
    return v;
}

/* A random canonical tensor; zeros in [zmin, maxq]; scales random positive
 * FP16; act_order: a shuffled non-default g_idx. */
static void make_random(awq_ctx *ctx, awq_qtensor *t, int64_t N, int64_t K, int bits,
                        int gs, unsigned zmin, bool act_order) {
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, N, K, bits, gs, act_order, t));
    const unsigned maxq = (1u << bits) - 1u;
    for (int64_t i = 0; i < N * K; i++) t->q[i] = (uint8_t)(rnd() & maxq);
    for (int64_t i = 0; i < t->n_groups * N; i++) {
        t->zeros[i] = (uint8_t)(zmin + rnd() % (maxq + 1u - zmin));
        t->scales[i] = (uint16_t)(0x1000 + rnd() % 0x3000); /* positive normals */
    }
    if (act_order)
        for (int64_t k = 0; k < K; k++) t->g_idx[k] = (int32_t)(rnd() % (uint32_t)t->n_groups);
}

/* Every element of the packed tensors sits where layouts.h says. */
static int check_positions(const awq_qtensor *t, const awq_packed *p) {
    int bad = 0;
    const int f = (int)p->format;
    awq_lay_shapes s;
    if (awq_lay_get_shapes(f, t->K, t->N, t->bits, t->group_size, &s) != AWQ_LAY_OK) return 1;
    for (int64_t n = 0; n < t->N; n++)
        for (int64_t k = 0; k < t->K; k++) {
            awq_lay_pos ps = awq_lay_qweight_pos(f, t->K, t->N, t->bits, n, k);
            uint32_t lo = word(p, AWQ_PT_QWEIGHT, ps.word);
            uint32_t hi = ps.word2 >= 0 ? word(p, AWQ_PT_QWEIGHT, ps.word2) : 0;
            bad += awq_lay_field_get(lo, hi, ps.shift, t->bits) != t->q[n * t->K + k];
        }
    const unsigned mask = (1u << t->bits) - 1u;
    for (int64_t g = 0; g < t->n_groups; g++)
        for (int64_t n = 0; n < t->N; n++) {
            awq_lay_pos ps = awq_lay_qzeros_pos(f, t->N, t->bits, s.zeros_width, g, n);
            uint32_t lo = word(p, AWQ_PT_QZEROS, ps.word);
            uint32_t hi = ps.word2 >= 0 ? word(p, AWQ_PT_QZEROS, ps.word2) : 0;
            uint32_t want = (t->zeros[g * t->N + n] - (unsigned)awq_lay_zero_offset(f)) & mask;
            bad += awq_lay_field_get(lo, hi, ps.shift, t->bits) != want;
            uint16_t sc;
            memcpy(&sc, (const unsigned char *)p->t[AWQ_PT_SCALES].data +
                            2 * awq_lay_scale_index(f, t->N, s.zeros_width, g, n), 2);
            bad += sc != t->scales[g * t->N + n];
        }
    return bad;
}

static awq_unpack_params up(int bits, int gs, bool sym) {
    awq_unpack_params u;
    u.bits = bits;
    u.group_size = gs;
    u.sym = sym;
    return u;
}

/* ------------------------------------------------------------ goldens */

static void test_golden(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    awq_qtensor t;
    awq_packed p;
    /* AWQ GEMM: codes q = c for columns (out rows) c = 0..7 -> 0x75316420;
     * zeros likewise (stored as is) */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 8, 8, 4, 8, false, &t));
    for (int n = 0; n < 8; n++) {
        t.q[n * 8 + 0] = (uint8_t)n;
        t.q[n * 8 + 1] = (uint8_t)(15 - n);
        t.zeros[n] = (uint8_t)n;
        t.scales[n] = 0x3c00;
    }
    CHECK_OK(ctx, awq_pack(ctx, "gemm", AWQ_QFMT_AWQ_GEMM, &t, NULL, &p, NULL));
    CHECK_EQ_INT(p.t[AWQ_PT_QWEIGHT].shape[0], 8);
    CHECK_EQ_INT(p.t[AWQ_PT_QWEIGHT].shape[1], 1);
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 0), 0x75316420u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 1), 0x8ace9bdfu); /* 15 - c */
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 0), 0x75316420u);
    awq_packed_free(&p);
    awq_qtensor_free(&t);

    /* AWQ GEMV: codes q = k along K in row 0 -> 0x76543210; K=256, g=32:
     * G = 8 zeros of row 0 = g -> qzeros[0, 0] = 0x76543210, width Z = 4
     * (ceil(8/8) = 1 rounded up to a multiple of 4), padding zero */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 8, 256, 4, 32, false, &t));
    for (int k = 0; k < 8; k++) t.q[k] = (uint8_t)k;
    for (int g = 0; g < 8; g++) {
        t.zeros[g * 8 + 0] = (uint8_t)g;
        for (int n = 0; n < 8; n++) t.scales[g * 8 + n] = (uint16_t)(0x3c00 + g * 8 + n);
    }
    CHECK_OK(ctx, awq_pack(ctx, "gemv", AWQ_QFMT_AWQ_GEMV, &t, NULL, &p, NULL));
    CHECK_EQ_INT(p.t[AWQ_PT_QWEIGHT].shape[0], 8);
    CHECK_EQ_INT(p.t[AWQ_PT_QWEIGHT].shape[1], 32);
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 0), 0x76543210u);
    CHECK_EQ_INT(p.t[AWQ_PT_QZEROS].shape[0], 8);
    CHECK_EQ_INT(p.t[AWQ_PT_QZEROS].shape[1], 4);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 0), 0x76543210u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 1), 0);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 3), 0);
    CHECK_EQ_INT(p.t[AWQ_PT_SCALES].shape[1], 32);
    {
        const uint16_t *sc = p.t[AWQ_PT_SCALES].data;
        CHECK_EQ_INT(sc[1 * 32 + 3], 0x3c00 + 3 * 8 + 1); /* row n=1, group 3 */
        CHECK_EQ_INT(sc[1 * 32 + 8], 0);                  /* padding */
        CHECK_EQ_INT(sc[7 * 32 + 31], 0);
    }
    awq_packed_free(&p);
    awq_qtensor_free(&t);

    /* GPTQ 4-bit: column n = 0 codes k = 0..7 -> qweight[0, 0] 0x76543210;
     * v1 stores zero - 1: zeros 1..8 -> 0x76543210; v2 stores zeros as is */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 8, 8, 4, 8, false, &t));
    for (int k = 0; k < 8; k++) t.q[k] = (uint8_t)k;
    for (int n = 0; n < 8; n++) {
        t.zeros[n] = (uint8_t)(n + 1);
        t.scales[n] = 0x3c00;
    }
    CHECK_OK(ctx, awq_pack(ctx, "gptq", AWQ_QFMT_GPTQ, &t, NULL, &p, NULL));
    CHECK_EQ_INT(p.n_tensors, 4);
    CHECK_EQ_INT(p.t[AWQ_PT_QWEIGHT].shape[0], 1);
    CHECK_EQ_INT(p.t[AWQ_PT_QWEIGHT].shape[1], 8);
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 0), 0x76543210u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 0), 0x76543210u);
    CHECK(strcmp(p.t[AWQ_PT_G_IDX].suffix, "g_idx") == 0);
    awq_packed_free(&p);
    CHECK_OK(ctx, awq_pack(ctx, "gptq2", AWQ_QFMT_GPTQ_V2, &t, NULL, &p, NULL));
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 0), 0x87654321u);
    awq_packed_free(&p);
    awq_qtensor_free(&t);

    /* GPTQ 2-bit: 16 codes per word, k % 4 -> 0xe4e4e4e4 */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 16, 16, 2, -1, false, &t));
    for (int k = 0; k < 16; k++) t.q[k] = (uint8_t)(k % 4);
    for (int n = 0; n < 16; n++) t.zeros[n] = 2;
    CHECK_OK(ctx, awq_pack(ctx, "g2", AWQ_QFMT_GPTQ_V2, &t, NULL, &p, NULL));
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 0), 0xe4e4e4e4u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 0), 0xaaaaaaaau);
    awq_packed_free(&p);
    awq_qtensor_free(&t);

    /* GPTQ 8-bit: codes 1, 2, 3, 4 -> 0x04030201 */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 4, 4, 8, -1, false, &t));
    for (int k = 0; k < 4; k++) t.q[k] = (uint8_t)(k + 1);
    for (int n = 0; n < 4; n++) t.zeros[n] = (uint8_t)(0x10 * (n + 1));
    CHECK_OK(ctx, awq_pack(ctx, "g8", AWQ_QFMT_GPTQ, &t, NULL, &p, NULL));
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 0), 0x04030201u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 0), 0x3f2f1f0fu); /* zero - 1 */
    awq_packed_free(&p);
    awq_qtensor_free(&t);

    /* GPTQ 3-bit: 32 codes k % 8 in 3 words, AutoGPTQ's cross-word packing
     * (values 10 and 21 straddle words): golden words computed by running
     * AutoGPTQ's QuantLinear.pack loop */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 32, 32, 3, -1, false, &t));
    for (int k = 0; k < 32; k++) t.q[k] = (uint8_t)(k % 8);
    for (int n = 0; n < 32; n++) t.zeros[n] = (uint8_t)(n % 8);
    CHECK_OK(ctx, awq_pack(ctx, "g3", AWQ_QFMT_GPTQ_V2, &t, NULL, &p, NULL));
    CHECK_EQ_INT(p.t[AWQ_PT_QWEIGHT].shape[0], 3);
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 0 * 32), 0x88fac688u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 1 * 32), 0xc688fac6u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QWEIGHT, 2 * 32), 0xfac688fau);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 0), 0x88fac688u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 1), 0xc688fac6u);
    CHECK_EQ_INT(word(&p, AWQ_PT_QZEROS, 2), 0xfac688fau);
    awq_packed_free(&p);
    awq_qtensor_free(&t);
    awq_ctx_free(ctx);
}

/* ------------------------------------------------------- round trips */

struct shape_case {
    awq_qformat f;
    int64_t N, K;
    int bits, gs;
    bool act_order;
};

static void test_roundtrips(void) {
    awq_ctx *c1 = awq_test_ctx(1), *c3 = awq_test_ctx(3);
    const struct shape_case cases[] = {
        {AWQ_QFMT_AWQ_GEMM, 16, 256, 4, 128, false},
        {AWQ_QFMT_AWQ_GEMM, 8, 64, 4, -1, false},
        {AWQ_QFMT_AWQ_GEMM, 24, 96, 4, 32, false},
        {AWQ_QFMT_AWQ_GEMM, 40, 12, 4, 4, false},   /* K not a multiple of 8 */
        {AWQ_QFMT_AWQ_GEMV, 16, 384, 4, 128, false}, /* G=3: Z=1, 5 pad */
        {AWQ_QFMT_AWQ_GEMV, 8, 320, 4, 64, false},   /* G=5: Z=2 */
        {AWQ_QFMT_AWQ_GEMV, 8, 96, 4, 32, false},    /* G=3: Z=4 */
        {AWQ_QFMT_AWQ_GEMV, 8, 2048, 4, 32, false},  /* G=64: Z=8 */
        {AWQ_QFMT_AWQ_GEMV, 8, 1088, 4, 64, false},  /* G=17: Z=4 */
        {AWQ_QFMT_AWQ_GEMV, 16, 256, 4, -1, false},
        {AWQ_QFMT_GPTQ, 16, 256, 4, 128, false},
        {AWQ_QFMT_GPTQ, 24, 200, 4, 64, false},      /* ceil: G=4, last 8 */
        {AWQ_QFMT_GPTQ, 32, 96, 3, 32, false},
        {AWQ_QFMT_GPTQ, 32, 128, 3, 48, true},
        {AWQ_QFMT_GPTQ, 16, 48, 2, 16, false},
        {AWQ_QFMT_GPTQ, 4, 20, 8, 8, false},         /* ceil: G=3 */
        {AWQ_QFMT_GPTQ, 16, 256, 4, 32, true},       /* act-order */
        {AWQ_QFMT_GPTQ_V2, 16, 256, 4, 128, false},
        {AWQ_QFMT_GPTQ_V2, 8, 72, 4, 32, true},
        {AWQ_QFMT_GPTQ_V2, 64, 64, 3, -1, false},
        {AWQ_QFMT_GPTQ_V2, 8, 40, 8, 16, false},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const struct shape_case *c = &cases[ci];
        awq_ctx *ctx = (ci & 1) ? c3 : c1;
        awq_qtensor t, u;
        /* v1 cannot hold zero 0: draw zeros from 1 up for it */
        make_random(ctx, &t, c->N, c->K, c->bits, c->gs, c->f == AWQ_QFMT_GPTQ ? 1 : 0,
                    c->act_order);
        awq_packed p, shp;
        CHECK_OK(ctx, awq_pack(ctx, "rt", c->f, &t, NULL, &p, NULL));
        CHECK_OK(ctx, awq_packed_shapes(ctx, c->f, c->K, c->N, c->bits, c->gs, &shp));
        for (int i = 0; i < p.n_tensors; i++)
            CHECK(p.t[i].shape[0] == shp.t[i].shape[0] && p.t[i].shape[1] == shp.t[i].shape[1] &&
                  p.t[i].n_bytes == shp.t[i].n_bytes && p.t[i].dtype == shp.t[i].dtype);
        int bad = check_positions(&t, &p);
        CHECK_MSG(bad == 0, "case %zu (%s %lldx%lld b%d g%d): %d misplaced fields", ci,
                  awq_format_get(c->f)->name, (long long)c->N, (long long)c->K, c->bits,
                  c->gs, bad);
        CHECK_OK(ctx, awq_unpack(ctx, "rt", c->f, &p, &(awq_unpack_params){c->bits, c->gs, false}, &u));
        CHECK_MSG(awq_qtensor_equal(&t, &u), "case %zu round trip differs", ci);
        CHECK((u.g_idx != NULL) == c->act_order);
        /* unaligned input (mmap'd tensors need not be 4-byte aligned) */
        awq_packed mis = p;
        unsigned char *bufs[AWQ_PT_MAX] = {0};
        for (int i = 0; i < p.n_tensors; i++) {
            bufs[i] = malloc((size_t)p.t[i].n_bytes + 1);
            memcpy(bufs[i] + 1, p.t[i].data, (size_t)p.t[i].n_bytes);
            mis.t[i].data = bufs[i] + 1;
        }
        awq_qtensor u2;
        CHECK_OK(ctx, awq_unpack(ctx, "rt", c->f, &mis, &(awq_unpack_params){c->bits, c->gs, false}, &u2));
        CHECK(awq_qtensor_equal(&t, &u2));
        awq_qtensor_free(&u2);
        for (int i = 0; i < p.n_tensors; i++) free(bufs[i]);
        /* re-packing the unpacked tensor gives the same bytes */
        awq_packed p2;
        CHECK_OK(ctx, awq_pack(ctx, "rt", c->f, &u, NULL, &p2, NULL));
        for (int i = 0; i < p.n_tensors; i++)
            CHECK(memcmp(p.t[i].data, p2.t[i].data, (size_t)p.t[i].n_bytes) == 0);
        awq_packed_free(&p2);
        awq_packed_free(&p);
        awq_qtensor_free(&t);
        awq_qtensor_free(&u);
    }
    awq_ctx_free(c1);
    awq_ctx_free(c3);
}

/* Quantize -> pack A -> unpack -> pack B -> ... -> dequantize: bit-equal. */
static void test_cross_format(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    const int64_t N = 32, K = 512;
    float *w = malloc(sizeof(float) * N * K), *d0 = malloc(sizeof(float) * N * K),
          *d1 = malloc(sizeof(float) * N * K);
    for (int64_t i = 0; i < N * K; i++)
        w[i] = (float)((double)rnd() / 4294967296.0 - 0.5) * (1.0f + (float)(i % 7));
    for (int sym = 0; sym < 2; sym++) {
        awq_quant_params qp = awq_quant_default_params();
        qp.sym = sym;
        awq_qtensor t;
        CHECK_OK(ctx, awq_quantize(ctx, "x", w, N, K, &qp, &t));
        /* make sure v1 can hold it: no zero of 0 (rare with this data) */
        for (int64_t i = 0; i < t.n_groups * N; i++) CHECK(t.zeros[i] > 0);
        CHECK_OK(ctx, awq_dequantize(ctx, &t, d0));
        const awq_qformat chain[] = {AWQ_QFMT_AWQ_GEMM, AWQ_QFMT_AWQ_GEMV, AWQ_QFMT_GPTQ_V2,
                                     AWQ_QFMT_GPTQ,     AWQ_QFMT_AWQ_GEMV, AWQ_QFMT_GPTQ,
                                     AWQ_QFMT_AWQ_GEMM};
        awq_qtensor cur;
        CHECK_OK(ctx, awq_qtensor_copy(ctx, &t, &cur));
        for (size_t i = 0; i < sizeof chain / sizeof chain[0]; i++) {
            awq_packed p;
            awq_qtensor nx;
            CHECK_OK(ctx, awq_pack(ctx, "x", chain[i], &cur, NULL, &p, NULL));
            CHECK_OK(ctx, awq_unpack(ctx, "x", chain[i], &p, &(awq_unpack_params){4, 128, sym}, &nx));
            CHECK_MSG(awq_qtensor_equal(&t, &nx), "chain step %zu (%s)", i,
                      awq_format_get(chain[i])->name);
            CHECK_OK(ctx, awq_dequantize(ctx, &nx, d1));
            CHECK(memcmp(d0, d1, sizeof(float) * N * K) == 0);
            awq_packed_free(&p);
            awq_qtensor_free(&cur);
            cur = nx;
        }
        awq_qtensor_free(&cur);
        awq_qtensor_free(&t);
    }
    free(w);
    free(d0);
    free(d1);
    awq_ctx_free(ctx);
}

/* ------------------------------------------------- GPTQ v1 zero of 0 */

static void test_v1_zero0(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    awq_qtensor t;
    awq_packed p;
    awq_pack_report rep;
    /* 2 rows, K = 16, one group each. Row 0: codes 0..15, zero 0, scale 1:
     * shifting codes (+1, cap 15) changes only the 15 (by one step): SSE 1;
     * rescaling by 15/14 moves most values: shift wins.
     * Row 1: fifteen 15s and one 0: shifting moves fifteen values (SSE 15);
     * rescaling to f16(15/14) = 1.0712890625 keeps 15 -> 14 * s' = 14.998:
     * rescale wins. Group of a third row has zero 3 and stays untouched. */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 8, 16, 4, -1, false, &t));
    for (int k = 0; k < 16; k++) {
        t.q[0 * 16 + k] = (uint8_t)k;
        t.q[1 * 16 + k] = k == 3 ? 0 : 15;
        t.q[2 * 16 + k] = (uint8_t)(15 - k);
    }
    for (int n = 0; n < 8; n++) {
        t.scales[n] = 0x3c00;
        t.zeros[n] = n < 2 ? 0 : 3;
    }
    CHECK_FAILS(ctx, awq_pack(ctx, "model.layers.0.self_attn.q_proj", AWQ_QFMT_GPTQ, &t, NULL, &p, &rep),
                AWQ_ERR_LOSSY, "model.layers.0.self_attn.q_proj: 2 of 8 groups have zero point 0");
    CHECK(strstr(awq_ctx_errmsg(ctx), "gptq-v2") != NULL);
    CHECK(p.t[0].data == NULL);
    /* v2 holds it losslessly */
    awq_qtensor u;
    CHECK_OK(ctx, awq_pack(ctx, "x", AWQ_QFMT_GPTQ_V2, &t, NULL, &p, NULL));
    CHECK_OK(ctx, awq_unpack(ctx, "x", AWQ_QFMT_GPTQ_V2, &p, &(awq_unpack_params){4, -1, false}, &u));
    CHECK(awq_qtensor_equal(&t, &u));
    awq_qtensor_free(&u);
    awq_packed_free(&p);
    /* allow_lossy re-quantizes the two groups */
    awq_pack_params pp = awq_pack_default_params();
    pp.allow_lossy = true;
    CHECK_OK(ctx, awq_pack(ctx, "x", AWQ_QFMT_GPTQ, &t, &pp, &p, &rep));
    CHECK_EQ_INT(rep.n_lossy_groups, 2);
    CHECK_OK(ctx, awq_unpack(ctx, "x", AWQ_QFMT_GPTQ, &p, &(awq_unpack_params){4, -1, false}, &u));
    CHECK_EQ_INT(u.zeros[0], 1);
    CHECK_EQ_INT(u.zeros[1], 1);
    CHECK_EQ_INT(u.zeros[2], 3);
    CHECK_EQ_INT(u.scales[0], 0x3c00);       /* row 0: shifted */
    for (int k = 0; k < 15; k++) CHECK_EQ_INT(u.q[k], k + 1);
    CHECK_EQ_INT(u.q[15], 15);
    CHECK_EQ_INT(u.scales[1], 0x3c49);       /* row 1: f16(15/14) */
    CHECK_NEAR(awq_f16_to_f32(u.scales[1]), 1.0712890625, 0);
    CHECK_EQ_INT(u.q[16 + 0], 15);
    CHECK_EQ_INT(u.q[16 + 3], 1);
    CHECK(memcmp(u.q + 32, t.q + 32, 16 * 6) == 0); /* other rows untouched */
    /* changed: row 0 one value (15 -> 14), row 1 fifteen values (15 -> 14.998) */
    CHECK_EQ_INT(rep.n_changed_codes, 16);
    CHECK_NEAR(rep.max_abs_change, 1.0, 0);
    awq_qtensor_free(&u);
    awq_packed_free(&p);

    /* a v1 file with an overflowed zero field (stored 15 = zero 16) */
    t.zeros[0] = 5;
    t.zeros[1] = 5;
    CHECK_OK(ctx, awq_pack(ctx, "x", AWQ_QFMT_GPTQ, &t, NULL, &p, NULL));
    uint32_t *qz = p.t[AWQ_PT_QZEROS].data;
    qz[0] |= 0xf0000000u; /* field 7 = stored 15 */
    CHECK_FAILS(ctx, awq_unpack(ctx, "lin", AWQ_QFMT_GPTQ, &p, &(awq_unpack_params){4, -1, false}, &u),
                AWQ_ERR_RANGE, "lin: GPTQ v1 qzeros field 15 at group 0, column 7");
    CHECK(u.q == NULL);
    awq_packed_free(&p);
    awq_qtensor_free(&t);
    awq_ctx_free(ctx);
}

/* ----------------------------------------------- v1 / v2 detection */

static awq_gptq_zeros_kind detect(uint32_t w0, uint32_t w1, int bits, bool sym) {
    uint32_t data[2] = {w0, w1};
    awq_packed p;
    memset(&p, 0, sizeof p);
    p.format = AWQ_QFMT_GPTQ;
    p.n_tensors = 4;
    p.t[AWQ_PT_QZEROS].dtype = AWQ_DT_I32;
    p.t[AWQ_PT_QZEROS].ndim = 2;
    p.t[AWQ_PT_QZEROS].shape[0] = 2;
    p.t[AWQ_PT_QZEROS].shape[1] = 1;
    p.t[AWQ_PT_QZEROS].n_bytes = 8;
    p.t[AWQ_PT_QZEROS].data = data;
    const char *why = NULL;
    awq_gptq_zeros_kind k = awq_gptq_detect_zeros(&p, bits, sym, &why);
    CHECK(why != NULL && why[0]);
    return k;
}

static void test_detect(void) {
    CHECK_EQ_INT(detect(0x88888888u, 0x88888888u, 4, true), AWQ_GPTQ_ZEROS_TRUE);
    CHECK_EQ_INT(detect(0x77777777u, 0x77777777u, 4, true), AWQ_GPTQ_ZEROS_V1_SYM);
    CHECK_EQ_INT(detect(0x87654321u, 0x12345678u, 4, false), AWQ_GPTQ_ZEROS_V1);
    /* field 0 is 15 but field 1 above it is not: no v1 overflow does that */
    CHECK_EQ_INT(detect(0x1234567fu, 0x12345678u, 4, false), AWQ_GPTQ_ZEROS_TRUE);
    /* fields 3..7 all 15: a v1 overflow run (or true 15s): ambiguous */
    CHECK_EQ_INT(detect(0xfffff456u, 0x12345678u, 4, false), AWQ_GPTQ_ZEROS_AMBIGUOUS);
    CHECK_EQ_INT(detect(0x76543210u, 0xf6543210u, 4, false), AWQ_GPTQ_ZEROS_AMBIGUOUS);
    /* 8-bit: field 0x7f/0x80 symmetric */
    CHECK_EQ_INT(detect(0x80808080u, 0x80808080u, 8, true), AWQ_GPTQ_ZEROS_TRUE);
    CHECK_EQ_INT(detect(0x7f7f7f7fu, 0x7f7f7f7fu, 8, true), AWQ_GPTQ_ZEROS_V1_SYM);
    CHECK_EQ_INT(detect(0x0000ff00u, 0x01020304u, 8, false), AWQ_GPTQ_ZEROS_TRUE);
    /* a symmetric config whose zeros are mixed: judged like asymmetric */
    CHECK_EQ_INT(detect(0x77777777u, 0x88888888u, 4, true), AWQ_GPTQ_ZEROS_V1);
    awq_packed empty;
    memset(&empty, 0, sizeof empty);
    CHECK_EQ_INT(awq_gptq_detect_zeros(&empty, 4, false, NULL), AWQ_GPTQ_ZEROS_AMBIGUOUS);
}

/* --------------------------------------------------- rules and errors */

static void test_rules(void) {
    const char *why = NULL;
    CHECK(awq_linear_packable(AWQ_QFMT_AWQ_GEMM, 4096, 4096, 4, 128, &why) && why == NULL);
    CHECK(!awq_linear_packable(AWQ_QFMT_AWQ_GEMM, 4096, 4096, 3, 128, &why));
    CHECK(why && strstr(why, "4-bit"));
    CHECK(!awq_linear_packable(AWQ_QFMT_AWQ_GEMM, 4096, 4100, 4, 128, &why));
    CHECK(why && strstr(why, "out_features (N)"));
    CHECK(!awq_linear_packable(AWQ_QFMT_AWQ_GEMM, 4000, 4096, 4, 128, &why));
    CHECK(why && strstr(why, "does not divide"));
    CHECK(awq_linear_packable(AWQ_QFMT_AWQ_GEMM, 4000, 4096, 4, -1, NULL));
    CHECK(!awq_linear_packable(AWQ_QFMT_AWQ_GEMM, 4096, 4096, 4, 0, &why));
    CHECK(!awq_linear_packable(AWQ_QFMT_AWQ_GEMV, 4096, 4096, 4, 16, &why));
    CHECK(why && strstr(why, "calculate_zeros_width"));
    CHECK(awq_linear_packable(AWQ_QFMT_AWQ_GEMV, 4096, 4096, 4, 256, NULL));
    CHECK(!awq_linear_packable(AWQ_QFMT_AWQ_GEMV, 4100, 4096, 4, 4, &why));
    CHECK(!awq_linear_packable(AWQ_QFMT_AWQ_GEMV, 100, 4096, 4, -1, &why)); /* g=K=100 */
    CHECK(awq_linear_packable(AWQ_QFMT_GPTQ, 200, 64, 4, 64, NULL)); /* partial group */
    CHECK(!awq_linear_packable(AWQ_QFMT_GPTQ, 48, 64, 3, 16, &why));
    CHECK(why && strstr(why, "in_features (K)"));
    CHECK(!awq_linear_packable(AWQ_QFMT_GPTQ_V2, 64, 48, 3, 16, &why));
    CHECK(awq_linear_packable(AWQ_QFMT_GPTQ, 64, 4, 8, 16, NULL));
    CHECK(!awq_linear_packable(AWQ_QFMT_GPTQ, 64, 64, 5, 16, &why));
    CHECK(!awq_linear_packable((awq_qformat)9, 64, 64, 4, 16, &why));
    CHECK(!awq_linear_packable(AWQ_QFMT_GPTQ, 0, 64, 4, 16, &why));
    /* AutoAWQ calculate_zeros_width values */
    CHECK_EQ_INT(awq_lay_gemv_zeros_width(4096, 128), 4);
    CHECK_EQ_INT(awq_lay_gemv_zeros_width(11008, 128), 11);
    CHECK_EQ_INT(awq_lay_gemv_zeros_width(4096, 64), 8);
    CHECK_EQ_INT(awq_lay_gemv_zeros_width(256, 32), 4);
    CHECK_EQ_INT(awq_lay_gemv_zeros_width(256, 64), 2);
    CHECK_EQ_INT(awq_lay_gemv_zeros_width(256, 16), 0);
    /* table */
    CHECK(awq_format_by_name("awq") == awq_format_get(AWQ_QFMT_AWQ_GEMM));
    CHECK(awq_format_by_name("awq-gemm") == awq_format_get(AWQ_QFMT_AWQ_GEMM));
    CHECK(awq_format_by_name("awq-gemv")->id == AWQ_QFMT_AWQ_GEMV);
    CHECK(awq_format_by_name("gptq")->id == AWQ_QFMT_GPTQ);
    CHECK(awq_format_by_name("gptq_v2")->id == AWQ_QFMT_GPTQ_V2);
    CHECK(awq_format_by_name("gptq-v2")->id == AWQ_QFMT_GPTQ_V2);
    CHECK(awq_format_by_name("marlin") == NULL);
    CHECK(awq_format_get(AWQ_QFMT_COUNT) == NULL);
    CHECK(strcmp(awq_format_get(AWQ_QFMT_GPTQ_V2)->checkpoint_format, "gptq_v2") == 0);
    CHECK(strcmp(awq_format_get(AWQ_QFMT_AWQ_GEMV)->version, "gemv") == 0);
}

static void test_bad_inputs(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    awq_qtensor t, u;
    awq_packed p, bad;
    make_random(ctx, &t, 16, 256, 4, 128, 1, false);
    CHECK_OK(ctx, awq_pack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMM, &t, NULL, &p, NULL));
    awq_unpack_params u4 = up(4, 128, false);
    /* wrong scales shape */
    bad = p;
    bad.t[AWQ_PT_SCALES].shape[0] = 1;
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMM, &bad, &u4, &u),
                AWQ_ERR_MISMATCH, "m.q_proj.scales: shape [1, 16]");
    /* missing qzeros */
    bad = p;
    bad.t[AWQ_PT_QZEROS].data = NULL;
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMM, &bad, &u4, &u),
                AWQ_ERR_NOT_FOUND, "m.q_proj.qzeros: missing");
    /* wrong dtype */
    bad = p;
    bad.t[AWQ_PT_SCALES].dtype = AWQ_DT_BF16;
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMM, &bad, &u4, &u),
                AWQ_ERR_MISMATCH, "m.q_proj.scales: dtype BF16, expected F16");
    /* truncated byte count */
    bad = p;
    bad.t[AWQ_PT_QWEIGHT].n_bytes -= 4;
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMM, &bad, &u4, &u),
                AWQ_ERR_MISMATCH, "m.q_proj.qweight");
    /* group size from the config does not divide K */
    awq_unpack_params u100 = up(4, 100, false);
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMM, &p, &u100, &u),
                AWQ_ERR_MISMATCH, "does not divide");
    /* config claims another group size: scales have the wrong rows */
    awq_unpack_params u64 = up(4, 64, false);
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMM, &p, &u64, &u),
                AWQ_ERR_MISMATCH, "m.q_proj.qzeros: shape [2, 2]");
    /* read as GEMV: shapes disagree */
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMV, &p, &u4, &u),
                AWQ_ERR_MISMATCH, "m.q_proj");
    /* config says symmetric but zeros are not 8 */
    awq_unpack_params us = up(4, 128, true);
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.q_proj", AWQ_QFMT_AWQ_GEMM, &p, &us, &u),
                AWQ_ERR_MISMATCH, "says symmetric");
    CHECK(u.q == NULL);
    awq_packed_free(&p);
    /* act-order cannot go to AWQ */
    awq_qtensor a;
    make_random(ctx, &a, 16, 256, 4, 128, 1, true);
    CHECK_FAILS(ctx, awq_pack(ctx, "m.o_proj", AWQ_QFMT_AWQ_GEMM, &a, NULL, &p, NULL),
                AWQ_ERR_LOSSY, "m.o_proj: act-order g_idx");
    CHECK_FAILS(ctx, awq_pack(ctx, "m.o_proj", AWQ_QFMT_AWQ_GEMV, &a, NULL, &p, NULL),
                AWQ_ERR_LOSSY, "act-order");
    /* GPTQ g_idx out of range */
    CHECK_OK(ctx, awq_pack(ctx, "m.o_proj", AWQ_QFMT_GPTQ_V2, &a, NULL, &p, NULL));
    int32_t *gi = p.t[AWQ_PT_G_IDX].data;
    gi[7] = 2;
    CHECK_FAILS(ctx, awq_unpack(ctx, "m.o_proj", AWQ_QFMT_GPTQ_V2, &p, &u4, &u), AWQ_ERR_RANGE,
                "m.o_proj.g_idx: entry 7 is 2");
    /* GPTQ without g_idx: default grouping */
    gi[7] = 0;
    bad = p;
    bad.t[AWQ_PT_G_IDX].data = NULL;
    CHECK_OK(ctx, awq_unpack(ctx, "m.o_proj", AWQ_QFMT_GPTQ_V2, &bad, &u4, &u));
    CHECK(u.g_idx == NULL);
    awq_qtensor_free(&u);
    awq_packed_free(&p);
    /* not packable / out-of-range codes */
    CHECK_FAILS(ctx, awq_pack(ctx, "m.x", AWQ_QFMT_AWQ_GEMM,
                              &(awq_qtensor){0}, NULL, &p, NULL), AWQ_ERR_INVALID_ARG, "m.x");
    t.q[17] = 16;
    CHECK_FAILS(ctx, awq_pack(ctx, "m.x", AWQ_QFMT_GPTQ_V2, &t, NULL, &p, NULL), AWQ_ERR_RANGE,
                "m.x: code 16 at (row 0, column 17)");
    t.q[17] = 1;
    awq_qtensor t3;
    make_random(ctx, &t3, 16, 256, 3, 128, 1, false);
    CHECK_FAILS(ctx, awq_pack(ctx, "m.x", AWQ_QFMT_AWQ_GEMM, &t3, NULL, &p, NULL),
                AWQ_ERR_UNSUPPORTED, "4-bit codes only");
    CHECK_FAILS(ctx, awq_pack(ctx, "m.x", AWQ_QFMT_GPTQ, &t3, NULL, &p, NULL),
                AWQ_ERR_UNSUPPORTED, "out_features (N)");
    awq_qtensor_free(&t3);
    awq_qtensor_free(&a);
    awq_qtensor_free(&t);
    awq_packed_free(NULL);
    awq_ctx_free(ctx);
}

static void test_config_json(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    const char *skip[2] = {"lm_head", "visual"};
    awq_qconfig_fields f = {4, 128, false, false, skip, 2};
    cJSON *o = NULL;
    CHECK_OK(ctx, awq_format_quant_config(ctx, AWQ_QFMT_AWQ_GEMM, &f, &o));
    char *s = cJSON_PrintUnformatted(o);
    CHECK_MSG(strcmp(s, "{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":128,\"zero_point\":true,"
                        "\"version\":\"gemm\",\"modules_to_not_convert\":[\"lm_head\",\"visual\","
                        "\"model.visual\"]}") == 0,
              "%s", s);
    free(s);
    cJSON_Delete(o);
    /* Whatever spelling the writer starts from, the list written skips a
     * vision tower under vLLM / SGLang's substring match and under
     * transformers 5's prefix match, named either way. */
    const char *skip2[2] = {"model.visual", "model.layers.0.mlp.down_proj"};
    for (int from = 0; from < 2; from++) {
        awq_qconfig_fields f2 = {4, 128, false, false, from ? skip2 : skip, 2};
        CHECK_OK(ctx, awq_format_quant_config(ctx, AWQ_QFMT_AWQ_GEMM, &f2, &o));
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "modules_to_not_convert");
        static const char *const modules[] = {"model.visual.blocks.0.attn.qkv",
                                              "visual.blocks.0.attn.qkv", "visual.merger.mlp.0"};
        for (size_t m = 0; m < 3; m++) {
            bool substr = false, prefix = false;
            const cJSON *it;
            cJSON_ArrayForEach(it, arr) {
                substr |= strstr(modules[m], it->valuestring) != NULL;
                prefix |= strncmp(modules[m], it->valuestring, strlen(it->valuestring)) == 0;
            }
            CHECK_MSG(substr && prefix, "list %d: %s skipped by substring %d, prefix %d", from,
                      modules[m], substr, prefix);
        }
        /* a language-model linear stays listed once, not doubled */
        CHECK_EQ_INT(cJSON_GetArraySize(arr), from ? 3 : 3);
        cJSON_Delete(o);
    }
    f.sym = true;
    f.group_size = -1;
    f.n_modules_to_not_convert = 0;
    CHECK_OK(ctx, awq_format_quant_config(ctx, AWQ_QFMT_AWQ_GEMV, &f, &o));
    s = cJSON_PrintUnformatted(o);
    CHECK_MSG(strcmp(s, "{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":-1,\"zero_point\":false,"
                        "\"version\":\"gemv\",\"modules_to_not_convert\":[]}") == 0, "%s", s);
    free(s);
    cJSON_Delete(o);
    f.desc_act = true;
    f.bits = 3;
    f.group_size = 64;
    CHECK_OK(ctx, awq_format_quant_config(ctx, AWQ_QFMT_GPTQ_V2, &f, &o));
    s = cJSON_PrintUnformatted(o);
    CHECK_MSG(strcmp(s, "{\"quant_method\":\"gptq\",\"bits\":3,\"group_size\":64,\"desc_act\":true,"
                        "\"sym\":true,\"checkpoint_format\":\"gptq_v2\"}") == 0, "%s", s);
    free(s);
    cJSON_Delete(o);
    awq_ctx_free(ctx);
}

/* Throughput of pack/unpack for a 4096 x 4096 linear (printed). */
static void bench(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    awq_qtensor t, u;
    make_random(ctx, &t, 4096, 4096, 4, 128, 1, false);
    for (int f = 0; f < AWQ_QFMT_COUNT; f++) {
        awq_packed p;
        double t0 = awq_now();
        CHECK_OK(ctx, awq_pack(ctx, "b", (awq_qformat)f, &t, NULL, &p, NULL));
        double t1 = awq_now();
        CHECK_OK(ctx, awq_unpack(ctx, "b", (awq_qformat)f, &p, &(awq_unpack_params){4, 128, false}, &u));
        double t2 = awq_now();
        CHECK(awq_qtensor_equal(&t, &u));
        printf("%-8s 4096x4096 1 thread: pack %.1f ms, unpack %.1f ms\n",
               awq_format_get((awq_qformat)f)->name, (t1 - t0) * 1e3, (t2 - t1) * 1e3);
        awq_qtensor_free(&u);
        awq_packed_free(&p);
    }
    awq_qtensor_free(&t);
    awq_ctx_free(ctx);
}

int main(void) {
    test_golden();
    test_roundtrips();
    test_cross_format();
    test_v1_zero0();
    test_detect();
    test_rules();
    test_bad_inputs();
    test_config_json();
    bench();
    return awq_test_summary();
}

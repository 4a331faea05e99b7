/*
 * lib/quant/ctckpt.c — compressed-tensors checkpoints as a whole: which
 * ones repack can convert, and the refusal for the others (called by
 * repack.c before it plans or writes anything); the scheme most weights
 * use (audit --compare labels a mixed checkpoint by it).
 *
 * repack converts integer codes between packed layouts bit for bit. A
 * compressed-tensors checkpoint qualifies when one integer pack-quantized
 * scheme (group or channel, 2/3/4/8-bit, weights only) covers every
 * quantized linear. The others are refused, naming the first linear of the
 * offending config group and why:
 *   - FP8 E4M3 (float-quantized, naive-quantized with float weights) and
 *     NVFP4 (E2M1 + FP8 group scales + a global scale): their grids are not
 *     uniform, so no integer code and per-group scale (and zero) of the
 *     AWQ / GPTQ / pack-quantized layouts reproduce them: converting would
 *     re-quantize already-rounded weights, compounding two roundings;
 *   - int8 naive-quantized, activation-quantized (W*A8) schemes, tensor /
 *     block strategies: layouts the packed formats do not hold;
 *   - several integer schemes (e.g. int8 per-channel attention, int4 group
 *     MLP): the AWQ / GPTQ quantization_config has one bits / group_size /
 *     sym for every linear, so converting only the groups that fit would
 *     leave a checkpoint that no loader reads as a whole; refused too.
 * Each refusal says what works instead: serving the checkpoint as it is
 * (vLLM, SGLang and transformers load these compressed-tensors schemes) or
 * quantizing the original 16-bit checkpoint to the wanted format.
 */
#include "core/core.h"
#include "quant/ctconfig.h"

#include "awqkit/checkpoint.h"

#include <stdio.h>
#include <string.h>

/* First module (main tensor name) the scheme quantizes. */
static const char *first_tensor_of(const awq_checkpoint *ck, const awq_ct_config *c,
                                   const awq_ct_scheme *s, char *buf, size_t n) {
    static const char *const suf[] = {".weight_packed", ".weight"};
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++) {
        const char *nm = awq_checkpoint_tensor(ck, i)->name;
        size_t l = strlen(nm);
        for (size_t k = 0; k < AWQ_ARRAY_LEN(suf); k++) {
            size_t sl = strlen(suf[k]);
            if (l <= sl || l - sl >= n || strcmp(nm + l - sl, suf[k]) != 0) continue;
            memcpy(buf, nm, l - sl);
            buf[l - sl] = 0;
            /* a quantized linear: it has a weight_scale */
            char sc[1100];
            snprintf(sc, sizeof sc, "%s.weight_scale", buf);
            if (awq_checkpoint_find(ck, sc) && awq_ct_scheme_for(c, buf, AWQ_CT_MOD_LINEAR) == s) {
                snprintf(buf, n, "%s", nm);
                return buf;
            }
            break;
        }
    }
    snprintf(buf, n, "(no tensor)");
    return buf;
}

static bool int_packable(const awq_ct_scheme *s) {
    return s->format == AWQ_CT_FMT_PACK_QUANTIZED && !s->is_float && !s->act_quant &&
           (s->num_bits == 2 || s->num_bits == 3 || s->num_bits == 4 || s->num_bits == 8) &&
           (s->strategy == AWQ_CT_STRAT_GROUP || s->strategy == AWQ_CT_STRAT_CHANNEL);
}

awq_status awq_ct_repack_check(awq_ctx *ctx, const awq_checkpoint *ck, awq_qformat to) {
    awq_ct_config *c = NULL;
    AWQ_TRY(awq_ct_config_load(ctx, ck, &c));
    if (!c) return AWQ_OK;
    const awq_ct_scheme *one = NULL;
    awq_status st = awq_ct_int_scheme(ctx, c, &one);
    if (st != AWQ_ERR_UNSUPPORTED) {
        awq_ct_config_free(c);
        return st;
    }
    const char *tname = awq_format_get(to) ? awq_format_get(to)->name : "?";
    const char *dir = awq_checkpoint_dir(ck);
    char d[160], d2[160], t1[512], t2[512];
    const awq_ct_scheme *bad = NULL, *first_int = NULL, *other_int = NULL;
    for (size_t i = 0; i < awq_ct_config_n_schemes(c); i++) {
        const awq_ct_scheme *s = awq_ct_config_scheme(c, i);
        if (!s->has_weights) continue;
        if (!int_packable(s)) {
            if (!bad) bad = s;
        } else if (!first_int) {
            first_int = s;
        } else if (!other_int && (s->num_bits != first_int->num_bits ||
                                  s->group_size != first_int->group_size ||
                                  s->symmetric != first_int->symmetric)) {
            other_int = s;
        }
    }
    if (bad) {
        awq_ct_scheme_describe(bad, d, sizeof d);
        first_tensor_of(ck, c, bad, t1, sizeof t1);
        const bool fp8 = bad->is_float && bad->num_bits == 8 &&
                         (bad->format == AWQ_CT_FMT_FLOAT_QUANTIZED ||
                          bad->format == AWQ_CT_FMT_NAIVE_QUANTIZED);
        const bool fp4 = bad->format == AWQ_CT_FMT_NVFP4_PACK;
        const char *why =
            fp8 ? "FP8 E4M3 codes lie on a non-uniform (floating-point) grid that no integer "
                  "code with a per-group scale and zero reproduces, so converting would "
                  "re-quantize already rounded weights (two roundings, not exact)"
            : fp4 ? "NVFP4 codes (FP4 E2M1 with an FP8 scale per 16 weights and a global "
                    "scale) lie on a non-uniform grid that no integer code with a per-group "
                    "scale and zero reproduces, so converting would re-quantize already "
                    "rounded weights (two roundings, not exact)"
            : bad->act_quant ? "it quantizes activations too (W*A8), which the weight-only "
                               "packed formats do not describe"
                             : "the packed formats hold integer pack-quantized codes with "
                               "group or per-channel scales only (2/3/4/8-bit)";
        st = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                      "repack %s -> %s: %s (config group %s): %s. Serve it as it is (vLLM, "
                      "SGLang and transformers load this compressed-tensors scheme), or "
                      "quantize the original 16-bit checkpoint: awqkit quantize ORIGINAL -o "
                      "OUT --format %s", dir, tname, t1, d, why, tname);
    } else if (first_int && other_int) {
        awq_ct_scheme_describe(first_int, d, sizeof d);
        awq_ct_scheme_describe(other_int, d2, sizeof d2);
        first_tensor_of(ck, c, first_int, t1, sizeof t1);
        first_tensor_of(ck, c, other_int, t2, sizeof t2);
        char why[200];
        if (to == AWQ_QFMT_CT)
            snprintf(why, sizeof why, "it is compressed-tensors already, and repack writes "
                                      "one pack-quantized scheme for every linear");
        else
            snprintf(why, sizeof why, "the %s quantization_config holds one bits / group_size "
                                      "/ sym for every linear, so converting only the linears "
                                      "that fit it would leave a checkpoint no loader reads "
                                      "whole", tname);
        st = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                      "repack %s -> %s: a mixed-scheme checkpoint (%s, first %s; %s, first %s): "
                      "%s. Keep it as compressed-tensors (vLLM, SGLang and transformers load "
                      "mixed schemes), or quantize the original 16-bit checkpoint with one "
                      "scheme: awqkit quantize ORIGINAL -o OUT --format %s", dir, tname, d, t1,
                      d2, t2, why, tname);
    }
    awq_ct_config_free(c);
    return st;
}

const awq_ct_scheme *awq_ct_main_scheme(const awq_ct_config *c, const awq_checkpoint *ck) {
    const size_t ns = awq_ct_config_n_schemes(c);
    uint64_t best = 0;
    const awq_ct_scheme *out = NULL;
    char mod[1100];
    for (size_t k = 0; k < ns; k++) {
        const awq_ct_scheme *s = awq_ct_config_scheme(c, k);
        if (!s->has_weights) continue;
        uint64_t n = 0;
        for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++) {
            const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
            size_t l = strlen(t->name);
            const char *sfx = l > 14 && strcmp(t->name + l - 14, ".weight_packed") == 0 ? ".weight_packed"
                              : l > 7 && strcmp(t->name + l - 7, ".weight") == 0 ? ".weight"
                                                                                 : NULL;
            if (!sfx || l - strlen(sfx) >= sizeof mod) continue;
            memcpy(mod, t->name, l - strlen(sfx));
            mod[l - strlen(sfx)] = 0;
            if (awq_ct_scheme_for(c, mod, AWQ_CT_MOD_LINEAR) != s) continue;
            /* weights it stands for: codes per stored element */
            uint64_t per = t->dtype == AWQ_DT_I32 && s->num_bits > 0 ? (uint64_t)(32 / s->num_bits)
                           : t->dtype == AWQ_DT_U8 && s->num_bits == 4 ? 2u
                                                                        : 1u;
            n += t->n_elements * per;
        }
        if (n > best || !out) {
            best = n;
            out = s;
        }
    }
    return out;
}

/* lib/model/rope.c — RoPE inverse frequencies and cos/sin tables, following
 * transformers' modeling_rope_utils.py (v5) operation by operation in fp32
 * so the tables agree with torch's to about one ulp (tests/unit/
 * test_forward.c compares against fixtures made by tests/ref/
 * make_forward_ref.py from the real ROPE_INIT_FUNCTIONS). */
#include "model/rope.h"

#include "core/core.h"

#include <math.h>

/* torch: base ** (torch.arange(0, dim, 2).float() / dim), in fp32. */
static float pos_freq(double theta, int64_t i2, int64_t dim) {
    float e = (float)i2 / (float)dim;
    return powf((float)theta, e);
}

/* transformers' get_mscale: the yarn attention factor for scale f. */
static double yarn_mscale(double f, double m) {
    return f <= 1.0 ? 1.0 : 0.1 * m * log(f) + 1.0;
}

static double yarn_correction_dim(double n_rot, double dim, double base,
                                  double max_pos) {
    return (dim * log(max_pos / (n_rot * 2.0 * M_PI))) / (2.0 * log(base));
}

awq_status awq_rope_inv_freq(awq_ctx *ctx, const awq_rope_scaling *rs,
                             double theta, int64_t head_dim, int64_t max_pos,
                             float *inv_freq, float *attention_factor) {
    if (head_dim <= 0 || head_dim % 2 || head_dim > 65536)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "rope: head_dim %lld must be even and positive",
                        (long long)head_dim);
    if (!(theta > 1.0) || !isfinite(theta))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "rope: rope_theta %g must be > 1",
                        theta);
    const int64_t dim = head_dim, half = head_dim / 2;
    awq_rope_type type = rs ? rs->type : AWQ_ROPE_DEFAULT;
    double factor = rs ? rs->factor : 1.0;
    if (type != AWQ_ROPE_DEFAULT && !(factor > 0 && isfinite(factor)))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "rope: rope_scaling.factor %g must be > 0", factor);
    double omp = (rs && rs->original_max_pos > 0) ? rs->original_max_pos
                                                  : (double)max_pos;
    *attention_factor = 1.0f;

    switch (type) {
    case AWQ_ROPE_DEFAULT:
    case AWQ_ROPE_LINEAR:
        for (int64_t i = 0; i < half; i++) {
            inv_freq[i] = 1.0f / pos_freq(theta, 2 * i, dim);
            if (type == AWQ_ROPE_LINEAR) inv_freq[i] /= (float)factor;
        }
        return AWQ_OK;

    case AWQ_ROPE_LLAMA3: {
        if (!(omp > 0))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "rope: llama3 scaling needs original_max_position_"
                            "embeddings or max_position_embeddings");
        double lff = rs->low_freq_factor, hff = rs->high_freq_factor;
        if (!(lff > 0) || !(hff > 0) || hff == lff)
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "rope: llama3 low_freq_factor %g / high_freq_factor "
                            "%g are invalid", lff, hff);
        const float low_wl = (float)(omp / lff), high_wl = (float)(omp / hff);
        const float f = (float)factor;
        for (int64_t i = 0; i < half; i++) {
            float inv = 1.0f / pos_freq(theta, 2 * i, dim);
            float wl = (float)(2.0 * M_PI) / inv;
            float inv_l = (wl > low_wl) ? inv / f : inv;
            float smooth = ((float)omp / wl - (float)lff) / (float)(hff - lff);
            float smoothed = (1.0f - smooth) * inv_l / f + smooth * inv_l;
            bool medium = !(wl < high_wl) && !(wl > low_wl);
            inv_freq[i] = medium ? smoothed : inv_l;
        }
        return AWQ_OK;
    }

    case AWQ_ROPE_YARN: {
        if (!(omp > 0))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "rope: yarn scaling needs original_max_position_"
                            "embeddings or max_position_embeddings");
        double bf = rs->beta_fast > 0 ? rs->beta_fast : 32.0;
        double bs = rs->beta_slow > 0 ? rs->beta_slow : 1.0;
        if (rs->attention_factor > 0)
            *attention_factor = (float)rs->attention_factor;
        else if (rs->mscale != 0 && rs->mscale_all_dim != 0)
            *attention_factor = (float)(yarn_mscale(factor, rs->mscale) /
                                        yarn_mscale(factor, rs->mscale_all_dim));
        else
            *attention_factor = (float)yarn_mscale(factor, 1.0);
        /* find_correction_range; truncate (floor / ceil) unless disabled */
        double low = yarn_correction_dim(bf, (double)dim, theta, omp);
        double high = yarn_correction_dim(bs, (double)dim, theta, omp);
        if (!rs->no_truncate) {
            low = floor(low);
            high = ceil(high);
        }
        if (low < 0) low = 0;
        if (high > (double)(dim - 1)) high = (double)(dim - 1);
        if (low == high) high += 0.001; /* linear_ramp_factor's guard */
        const float f = (float)factor;
        for (int64_t i = 0; i < half; i++) {
            float pf = pos_freq(theta, 2 * i, dim);
            float extra = 1.0f / pf;
            float inter = 1.0f / (f * pf);
            float ramp = ((float)i - (float)low) / (float)(high - low);
            ramp = ramp < 0.0f ? 0.0f : (ramp > 1.0f ? 1.0f : ramp);
            float ef = 1.0f - ramp;
            inv_freq[i] = inter * (1.0f - ef) + extra * ef;
        }
        return AWQ_OK;
    }
    }
    return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "rope: unknown scaling type %d",
                    (int)type);
}

void awq_rope_tables(const float *inv_freq, int64_t half,
                     float attention_factor, int64_t n_pos, float *cos_out,
                     float *sin_out) {
    for (int64_t p = 0; p < n_pos; p++)
        for (int64_t i = 0; i < half; i++) {
            float ang = (float)p * inv_freq[i];
            float c = (float)cos((double)ang), s = (float)sin((double)ang);
            cos_out[p * half + i] = c * attention_factor;
            sin_out[p * half + i] = s * attention_factor;
        }
}

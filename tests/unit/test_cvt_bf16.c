/* tests/unit/test_cvt_bf16.c — the vectorised fp32 -> bf16 conversion of the
 * CPU bf16 gemm (awq_cpu_cvt_bf16) gives exactly the bits of the scalar
 * oracle awq_round_bf16 for every class of input: zeros, denormals, normals
 * around every exponent with the rounding ties (even and odd), values that
 * round up to the next binade and to Inf, Inf, quiet and signalling NaNs
 * with payloads; on unaligned starts and lengths that leave a scalar tail. */
#include "awq_test.h"
#include "backend/backend.h"
#include "backend/cpu_bf16.h"

static uint16_t oracle(float f) {
    float r = awq_round_bf16(f);
    uint32_t u;
    memcpy(&u, &r, 4);
    return (uint16_t)(u >> 16);
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int main(void) {
    /* low 16 bits that matter to the rounding: exact, below/at/above the
     * tie, all ones; for both parities of bit 16 */
    static const uint32_t lows[] = {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, 0x4000u};
    size_t cap = 600000;
    float *src = malloc(sizeof(float) * (cap + 8));
    uint16_t *dst = malloc(sizeof(uint16_t) * (cap + 8));
    CHECK(src && dst);
    size_t n = 0;
    for (uint32_t sign = 0; sign < 2; sign++)
        for (uint32_t e = 0; e < 256; e++)
            for (uint32_t hi = 0; hi < 128; hi += 1)
                for (size_t li = 0; li < sizeof lows / sizeof lows[0]; li++) {
                    /* mantissa top bits: hi spread over the 7 bf16 mantissa bits,
                     * including 0x7f (carry into the exponent) */
                    uint32_t mant = (hi << 16) | lows[li];
                    src[n++] = from_bits((sign << 31) | (e << 23) | mant);
                }
    /* NaN payloads: only low bits set (signalling, quieted by the rounding
     * rule), top payload bit set, all set */
    const uint32_t nans[] = {0x7f800001u, 0x7fc00000u, 0xff800001u, 0x7fffffffu, 0xffbfffffu,
                             0x7f808000u, 0x7f80ffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) src[n++] = from_bits(nans[i]);
    uint32_t rng = 12345u;
    while (n < cap) {
        rng = rng * 1664525u + 1013904223u;
        uint32_t r2 = rng ^ (rng >> 13) * 2654435761u;
        src[n++] = from_bits(r2);
    }
    /* every start offset mod 8 and lengths leaving each tail length */
    for (size_t off = 0; off < 8; off++) {
        size_t len = n - 8 - off + (off % 3);
        memset(dst, 0, sizeof(uint16_t) * (cap + 8));
        awq_cpu_cvt_bf16(src + off, dst, (int64_t)len);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < len; i++)
            if (dst[i] != oracle(src[off + i]) && bad++ == 0) first = i;
        uint32_t fb = 0;
        if (bad) memcpy(&fb, &src[off + first], 4);
        CHECK_MSG(bad == 0, "offset %zu: %zu of %zu differ from awq_round_bf16, first 0x%08x",
                  off, bad, len, fb);
    }
    /* the tie rule itself, by value: 1 + 2^-8 is a tie between 1 and
     * 1 + 2^-7 and goes to the even one (1) */
    float t[3] = {1.0f + 1.0f / 256.0f, 1.0f + 3.0f / 256.0f, 3.4e38f};
    uint16_t o[3];
    awq_cpu_cvt_bf16(t, o, 3);
    CHECK(o[0] == 0x3f80u && o[1] == 0x3f82u && o[2] == 0x7f80u);
    free(src);
    free(dst);
    return awq_test_summary();
}

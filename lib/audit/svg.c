/*
 * lib/audit/svg.c — the audit's charts (standalone SVG, no script, no
 * external reference); html.c inlines them in report.html.
 * Charts: perplexity vs file size with the Pareto front, KL vs bits per
 * weight, and a layers x linears heat map of the weight error.
 *
 * Every data point is a <circle class="pt"> carrying data-name / data-x /
 * data-y (and data-front="1" on the Pareto front); heat-map cells are
 * <rect class="cell">. Tests count those instead of parsing pixels.
 */
#include "audit/audit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CH_W 720.0
#define CH_H 450.0
#define PL_LEFT 78.0
#define PL_TOP 46.0
#define PL_RIGHT 170.0 /* legend column */
#define PL_BOTTOM 58.0

static const char *const k_font = "font-family=\"DejaVu Sans,Helvetica,Arial,sans-serif\"";

/* Colours by kind / method (colour-blind safe pairs). */
#define COL_FP16 "#444444"
#define COL_RTN "#e66101"
#define COL_AWQ "#2b6cb0"
#define COL_CMP "#1b9e77"
#define COL_FRONT "#c0392b"

static const char *point_colour(const awq_audit_spec *s) {
    switch (s->kind) {
    case AWQ_AUDIT_FP16: return COL_FP16;
    case AWQ_AUDIT_COMPARE: return COL_CMP;
    default: return s->method == AWQ_METHOD_RTN ? COL_RTN : COL_AWQ;
    }
}

/* ---------------------------------------------------------------- scales */

void audit_nice_ticks(double lo, double hi, int max_ticks, double *t0, double *step, int *n) {
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) {
        *t0 = isfinite(lo) ? lo : 0;
        *step = 1;
        *n = 1;
        return;
    }
    if (max_ticks < 2) max_ticks = 2;
    double rough = (hi - lo) / (double)(max_ticks - 1);
    double mag = pow(10.0, floor(log10(rough)));
    double r = rough / mag;
    double s = r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10;
    *step = s * mag;
    *t0 = ceil(lo / *step - 1e-9) * *step;
    int k = (int)floor((hi - *t0) / *step + 1e-9) + 1;
    *n = k < 1 ? 1 : k > 12 ? 12 : k;
}

void audit_colormap(double t, char out[8]) {
    /* viridis, 9 anchors, linear interpolation */
    static const unsigned char a[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                          {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                          {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    if (!isfinite(t)) t = 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double x = t * 8.0;
    int i = (int)floor(x);
    if (i >= 8) i = 7;
    double f = x - i;
    int c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (int)lround((1 - f) * a[i][k] + f * a[i + 1][k]);
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

typedef struct axis {
    double lo, hi;
    bool log;
} axis;

typedef struct frame {
    double x0, y0, w, h; /* plot area */
    axis ax, ay;
} frame;

static double ax_t(const axis *a, double v) {
    if (a->log) return (log(v) - log(a->lo)) / (log(a->hi) - log(a->lo));
    return (v - a->lo) / (a->hi - a->lo);
}
static double fx(const frame *f, double v) { return f->x0 + f->w * ax_t(&f->ax, v); }
static double fy(const frame *f, double v) { return f->y0 + f->h * (1.0 - ax_t(&f->ay, v)); }

/* Domain [lo, hi] of values, padded; a log axis stays positive. */
static void axis_fit(axis *a, const double *v, int n, bool from_zero, bool log_ok) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
        }
    if (!isfinite(lo)) lo = 0, hi = 1;
    a->log = log_ok && lo > 0 && hi / lo > 3.0;
    if (a->log) {
        a->lo = lo / pow(hi / lo, 0.06);
        a->hi = hi * pow(hi / lo, 0.06);
        return;
    }
    if (from_zero && lo > 0) lo = 0;
    double span = hi - lo;
    if (span <= 0) span = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1.0;
    a->lo = from_zero && lo == 0 ? 0 : lo - 0.08 * span;
    a->hi = hi + 0.08 * span;
}

/* Tick values of an axis (at most 12). */
static int axis_ticks(const axis *a, double *t) {
    int n = 0;
    if (a->log) {
        static const double m[] = {1, 1.5, 2, 3, 4, 5, 6, 8};
        for (int e = (int)floor(log10(a->lo)); e <= (int)ceil(log10(a->hi)) && n < 12; e++)
            for (size_t k = 0; k < AWQ_ARRAY_LEN(m) && n < 12; k++) {
                double v = m[k] * pow(10.0, e);
                if (v >= a->lo && v <= a->hi) t[n++] = v;
            }
        if (n > 7) { /* thin out: keep 1, 2, 5 multiples */
            int k = 0;
            for (int i = 0; i < n; i++) {
                double mant = t[i] / pow(10.0, floor(log10(t[i]) + 1e-9));
                if (fabs(mant - 1) < 1e-9 || fabs(mant - 2) < 1e-9 || fabs(mant - 5) < 1e-9)
                    t[k++] = t[i];
            }
            if (k >= 2) n = k;
        }
        if (n >= 2) return n;
    }
    double t0, step;
    audit_nice_ticks(a->lo, a->hi, 7, &t0, &step, &n);
    for (int i = 0; i < n; i++) t[i] = t0 + step * i;
    return n;
}

static void fmt_tick(char *buf, size_t n, double v, double span) {
    if (span <= 0) { /* log axis: ticks are 1-1.5-2-3-... multiples */
        snprintf(buf, n, "%g", v);
        return;
    }
    int dec = span > 0 ? (int)ceil(-log10(span / 6.0)) : 2;
    if (dec < 0) dec = 0;
    if (dec > 6) dec = 6;
    snprintf(buf, n, "%.*f", dec, v);
}

/* --------------------------------------------------------------- drawing */

static void svg_open(awq_strbuf *b, double w, double h, const char *title) {
    awq_sb_printf(b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                  "viewBox=\"0 0 %.0f %.0f\" role=\"img\" %s font-size=\"12\">\n<title>",
                  w, h, w, h, k_font);
    audit_sb_xml(b, title);
    awq_sb_printf(b, "</title>\n<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
                     "fill=\"#ffffff\"/>\n", w, h);
    awq_sb_printf(b, "<text x=\"%.1f\" y=\"24\" font-size=\"15\" font-weight=\"bold\" "
                     "fill=\"#222\">", 16.0);
    audit_sb_xml(b, title);
    awq_sb_puts(b, "</text>\n");
}

static void draw_axes(awq_strbuf *b, const frame *f, const char *xlabel, const char *ylabel,
                      double xdiv) {
    double t[12];
    int n = axis_ticks(&f->ax, t);
    double span = (f->ax.hi - f->ax.lo) / xdiv;
    awq_sb_puts(b, "<g class=\"axes\" stroke=\"#dddddd\" stroke-width=\"1\">\n");
    for (int i = 0; i < n; i++)
        awq_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                      fx(f, t[i]), f->y0, fx(f, t[i]), f->y0 + f->h);
    double u[12];
    int m = axis_ticks(&f->ay, u);
    for (int i = 0; i < m; i++)
        awq_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", f->x0,
                      fy(f, u[i]), f->x0 + f->w, fy(f, u[i]));
    awq_sb_puts(b, "</g>\n");
    awq_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                     "stroke=\"#888\"/>\n", f->x0, f->y0, f->w, f->h);
    awq_sb_puts(b, "<g fill=\"#333\" font-size=\"11\">\n");
    char lab[32];
    for (int i = 0; i < n; i++) {
        fmt_tick(lab, sizeof lab, t[i] / xdiv, f->ax.log ? 0.0 : span);
        awq_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                      fx(f, t[i]), f->y0 + f->h + 16, lab);
    }
    double yspan = f->ay.log ? 0.0 : f->ay.hi - f->ay.lo;
    for (int i = 0; i < m; i++) {
        fmt_tick(lab, sizeof lab, u[i], yspan);
        awq_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                      f->x0 - 6, fy(f, u[i]) + 4, lab);
    }
    awq_sb_puts(b, "</g>\n");
    awq_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#222\">",
                  f->x0 + f->w / 2, f->y0 + f->h + 40);
    audit_sb_xml(b, xlabel);
    awq_sb_printf(b, "</text>\n<text transform=\"translate(%.1f,%.1f) rotate(-90)\" "
                     "text-anchor=\"middle\" fill=\"#222\">", 20.0, f->y0 + f->h / 2);
    audit_sb_xml(b, ylabel);
    awq_sb_puts(b, "</text>\n");
}

static void draw_legend(awq_strbuf *b, const awq_audit_result *r, double x, double y,
                        bool front_entry) {
    bool have[4] = {false, false, false, false};
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (!audit_config_has_metrics(c)) continue;
        int k = c->spec.kind == AWQ_AUDIT_FP16      ? 0
                : c->spec.kind == AWQ_AUDIT_COMPARE ? 3
                : c->spec.method == AWQ_METHOD_RTN  ? 1
                                                    : 2;
        have[k] = true;
    }
    static const char *const names[4] = {"FP16", "RTN", "AWQ", "--compare"};
    static const char *const cols[4] = {COL_FP16, COL_RTN, COL_AWQ, COL_CMP};
    awq_sb_puts(b, "<g class=\"legend\" font-size=\"12\">\n");
    for (int k = 0; k < 4; k++) {
        if (!have[k]) continue;
        awq_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222\">%s</text>\n",
                      x + 6, y, cols[k], x + 16, y + 4, names[k]);
        y += 20;
    }
    if (front_entry)
        awq_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                         "stroke-width=\"2\" stroke-dasharray=\"6 3\"/><circle cx=\"%.1f\" "
                         "cy=\"%.1f\" r=\"7\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222\">Pareto front</text>\n",
                      x - 4, y, x + 16, y, COL_FRONT, x + 6, y, COL_FRONT, x + 22, y + 4);
    awq_sb_puts(b, "</g>\n");
}

/* Point labels: for each point the first of a few positions around it
 * whose box (about 6 px per character at 10 px) overlaps no label placed
 * before and no other point; the first position when all collide. */
typedef struct box {
    double x0, y0, x1, y1;
} box;

static bool boxes_overlap(const box *a, const box *b) {
    return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

static void place_labels(awq_strbuf *b, const awq_audit_result *r, const frame *f,
                         const double *x, const double *y) {
    static const struct {
        double dx, dy;
        bool end;
    } cand[] = {{8, -6, false},  {8, 12, false},  {-8, -6, true}, {-8, 12, true},
                {8, -18, false}, {8, 24, false},  {-8, -18, true}, {-8, 24, true},
                {8, 36, false},  {8, -30, false}};
    const int n = r->n_configs;
    box *placed = calloc((size_t)(n ? n : 1), sizeof(box));
    int np = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        const char *name = r->configs[i].spec.name;
        double px = fx(f, x[i]), py = fy(f, y[i]), w = 6.0 * (double)strlen(name);
        int pick = -1;
        box bx = {0, 0, 0, 0};
        for (size_t c = 0; c < AWQ_ARRAY_LEN(cand) && pick < 0; c++) {
            double tx = px + cand[c].dx, ty = py + cand[c].dy;
            box t = {cand[c].end ? tx - w : tx, ty - 9, cand[c].end ? tx : tx + w, ty + 2};
            bool ok = t.x0 >= f->x0 - 30 && t.x1 <= f->x0 + f->w + PL_RIGHT - 20 &&
                      t.y0 >= f->y0 - 20 && t.y1 <= f->y0 + f->h - 2;
            for (int k = 0; ok && placed && k < np; k++) ok = !boxes_overlap(&t, &placed[k]);
            for (int k = 0; ok && k < n; k++) {
                if (k == i || !isfinite(x[k])) continue;
                box pt = {fx(f, x[k]) - 5, fy(f, y[k]) - 5, fx(f, x[k]) + 5, fy(f, y[k]) + 5};
                ok = !boxes_overlap(&t, &pt);
            }
            if (ok) {
                pick = (int)c;
                bx = t;
            }
        }
        if (pick < 0) {
            pick = 0;
            bx = (box){px + 8, py - 15, px + 8 + w, py - 4};
        }
        if (placed) placed[np++] = bx;
        awq_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\"%s>", px + cand[pick].dx,
                      py + cand[pick].dy, cand[pick].end ? " text-anchor=\"end\"" : "");
        audit_sb_xml(b, name);
        awq_sb_puts(b, "</text>\n");
    }
    free(placed);
}

/* A scatter of the measured configurations: x(c), y(c) per point. */
typedef double (*value_fn)(const awq_audit_config *c);

static double v_size(const awq_audit_config *c) {
    return c->file_bytes > 0 ? (double)c->file_bytes : NAN;
}
static double v_ppl(const awq_audit_config *c) { return c->ppl; }
static double v_bpw(const awq_audit_config *c) {
    return c->bits_per_weight > 0 ? c->bits_per_weight : NAN;
}
static double v_kl(const awq_audit_config *c) { return c->kl_mean; }

static awq_status scatter(awq_ctx *ctx, const awq_audit_result *r, awq_strbuf *b,
                          const char *title, value_fn xv, value_fn yv, const char *xlabel,
                          const char *ylabel, bool x_log_ok, bool y_log_ok, bool y_from_zero,
                          bool with_front, bool size_x) {
    const int n = r->n_configs;
    double *x = calloc((size_t)(n ? n : 1), sizeof(double));
    double *y = calloc((size_t)(n ? n : 1), sizeof(double));
    bool *front = calloc((size_t)(n ? n : 1), sizeof(bool));
    if (!x || !y || !front) {
        free(x);
        free(y);
        free(front);
        return awq_fail_nomem(ctx, "chart", (uint64_t)n * 17);
    }
    int n_pts = 0;
    for (int i = 0; i < n; i++) {
        const awq_audit_config *c = &r->configs[i];
        bool ok = audit_config_has_metrics(c);
        x[i] = ok ? xv(c) : NAN;
        y[i] = ok ? yv(c) : NAN;
        if (!isfinite(x[i]) || !isfinite(y[i])) x[i] = y[i] = NAN;
        else n_pts++;
    }
    if (with_front) awq_audit_pareto(n, x, y, front);

    frame f = {PL_LEFT, PL_TOP, CH_W - PL_LEFT - PL_RIGHT, CH_H - PL_TOP - PL_BOTTOM, {0, 1, 0},
               {0, 1, 0}};
    axis_fit(&f.ax, x, n, false, x_log_ok);
    axis_fit(&f.ay, y, n, y_from_zero, y_log_ok);
    double xdiv = 1.0;
    char xl[96];
    snprintf(xl, sizeof xl, "%s", xlabel);
    if (size_x) {
        double mx = 0;
        for (int i = 0; i < n; i++)
            if (isfinite(x[i])) mx = fmax(mx, x[i]);
        const char *unit = mx >= 1e9 ? "GB" : mx >= 1e6 ? "MB" : "kB";
        xdiv = mx >= 1e9 ? 1e9 : mx >= 1e6 ? 1e6 : 1e3;
        snprintf(xl, sizeof xl, "%s (%s)", xlabel, unit);
    }
    char yl[96];
    snprintf(yl, sizeof yl, "%s%s", ylabel, f.ay.log ? " (log scale)" : "");
    if (f.ax.log) {
        size_t k = strlen(xl);
        snprintf(xl + k, sizeof xl - k, " (log scale)");
    }
    svg_open(b, CH_W, CH_H, title);
    draw_axes(b, &f, xl, yl, xdiv);
    if (n_pts == 0)
        awq_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">no "
                         "measured configuration</text>\n", f.x0 + f.w / 2, f.y0 + f.h / 2);

    /* the front as a line through its points in x order */
    if (with_front) {
        int *idx = malloc(sizeof(int) * (size_t)(n ? n : 1));
        int m = 0;
        if (idx) {
            for (int i = 0; i < n; i++)
                if (front[i]) idx[m++] = i;
            for (int i = 1; i < m; i++) /* insertion sort by x, then y */
                for (int k = i; k > 0 && (x[idx[k]] < x[idx[k - 1]] ||
                                          (x[idx[k]] == x[idx[k - 1]] && y[idx[k]] > y[idx[k - 1]]));
                     k--) {
                    int t = idx[k];
                    idx[k] = idx[k - 1];
                    idx[k - 1] = t;
                }
            if (m >= 2) {
                awq_sb_printf(b, "<polyline class=\"front\" fill=\"none\" stroke=\"%s\" "
                                 "stroke-width=\"2\" stroke-dasharray=\"6 3\" points=\"",
                              COL_FRONT);
                for (int k = 0; k < m; k++)
                    awq_sb_printf(b, "%s%.1f,%.1f", k ? " " : "", fx(&f, x[idx[k]]),
                                  fy(&f, y[idx[k]]));
                awq_sb_puts(b, "\"/>\n");
            }
            free(idx);
        }
    }
    awq_sb_puts(b, "<g class=\"points\">\n");
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        const awq_audit_config *c = &r->configs[i];
        double px = fx(&f, x[i]), py = fy(&f, y[i]);
        awq_sb_printf(b, "<circle class=\"pt\" data-name=\"");
        audit_sb_xml(b, c->spec.name);
        awq_sb_printf(b, "\" data-x=\"%.9g\" data-y=\"%.9g\"%s cx=\"%.1f\" cy=\"%.1f\" r=\"5.5\" "
                         "fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\"><title>",
                      x[i], y[i], front[i] ? " data-front=\"1\"" : "", px, py,
                      point_colour(&c->spec), front[i] ? COL_FRONT : "#ffffff",
                      front[i] ? "2.5" : "1");
        audit_sb_xml(b, c->spec.name);
        awq_sb_printf(b, ": %s %.6g, %s %.6g</title></circle>\n", xlabel, x[i] / xdiv, ylabel,
                      y[i]);
    }
    awq_sb_puts(b, "</g>\n<g class=\"labels\" font-size=\"10\" fill=\"#333\">\n");
    place_labels(b, r, &f, x, y);
    awq_sb_puts(b, "</g>\n");
    draw_legend(b, r, CH_W - PL_RIGHT + 16, PL_TOP + 10, with_front);
    awq_sb_puts(b, "</svg>\n");
    free(x);
    free(y);
    free(front);
    return AWQ_OK;
}

static awq_status heatmap(awq_ctx *ctx, const awq_audit_result *r, awq_strbuf *b) {
    int h = awq_audit_heatmap_index(r);
    char title[160];
    if (h < 0) {
        svg_open(b, CH_W, 120, "Weight error per linear");
        awq_sb_puts(b, "<text x=\"16\" y=\"70\" fill=\"#888\">no quantized configuration with "
                       "per-linear errors was measured</text>\n</svg>\n");
        return AWQ_OK;
    }
    const awq_audit_config *c = &r->configs[h];
    snprintf(title, sizeof title, "Weight error per linear: %s", c->spec.name);
    const int64_t L = r->n_layers;
    const int J = r->n_linears;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t k = 0; k < L * J; k++)
        if (isfinite(c->lin_err[k])) {
            lo = fmin(lo, c->lin_err[k]);
            hi = fmax(hi, c->lin_err[k]);
        }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi <= lo) hi = lo + (lo > 0 ? lo * 0.01 : 1e-6);
    const double cw = 74, left = 64, top = 70;
    double ch = 420.0 / (double)(L ? L : 1);
    ch = ch < 5 ? 5 : ch > 30 ? 30 : ch;
    const double gw = cw * J, gh = ch * (double)L;
    const double W = left + gw + 130, H = top + gh + 40;
    svg_open(b, W, H, title);
    awq_sb_printf(b, "<text x=\"16\" y=\"44\" font-size=\"11\" fill=\"#555\">||W_eff - W|| / "
                     "||W|| (folded scales undone); rows: decoder layers, columns: "
                     "linears</text>\n");
    awq_sb_puts(b, "<g font-size=\"11\" fill=\"#333\">\n");
    for (int j = 0; j < J; j++) {
        awq_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", left + cw * j + cw / 2,
                      top - 8);
        audit_sb_xml(b, r->linear_names[j]);
        awq_sb_puts(b, "</text>\n");
    }
    int every = ch >= 11 ? 1 : (int)ceil(11.0 / ch);
    for (int64_t l = 0; l < L; l++)
        if (l % every == 0)
            awq_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">layer %lld</text>\n",
                          left - 6, top + ch * (double)l + ch / 2 + 4, (long long)l);
    awq_sb_puts(b, "</g>\n<g class=\"cells\">\n");
    for (int64_t l = 0; l < L; l++)
        for (int j = 0; j < J; j++) {
            double v = c->lin_err[l * J + j];
            char col[8];
            audit_colormap((v - lo) / (hi - lo), col);
            awq_sb_printf(b, "<rect class=\"cell\" data-layer=\"%lld\" data-linear=\"",
                          (long long)l);
            audit_sb_xml(b, r->linear_names[j]);
            awq_sb_printf(b, "\" data-v=\"%.6g\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                             "height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\" "
                             "stroke-width=\"0.5\"><title>layer %lld ",
                          v, left + cw * j, top + ch * (double)l, cw, ch, col, (long long)l);
            audit_sb_xml(b, r->linear_names[j]);
            awq_sb_printf(b, ": %.5f</title></rect>\n", v);
            if (ch >= 14) {
                double t = (v - lo) / (hi - lo);
                awq_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                                 "font-size=\"10\" fill=\"%s\">%.4f</text>\n",
                              left + cw * j + cw / 2, top + ch * (double)l + ch / 2 + 3.5,
                              t > 0.6 ? "#111" : "#fff", v);
            }
        }
    awq_sb_puts(b, "</g>\n");
    /* colour bar */
    const double bx = left + gw + 30, bh = gh < 120 ? gh : gh > 300 ? 300 : gh;
    awq_sb_puts(b, "<defs><linearGradient id=\"awq-cbar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
    for (int k = 0; k <= 8; k++) {
        char col[8];
        audit_colormap(k / 8.0, col);
        awq_sb_printf(b, "<stop offset=\"%.3f\" stop-color=\"%s\"/>", k / 8.0, col);
    }
    awq_sb_printf(b, "</linearGradient></defs>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" "
                     "height=\"%.1f\" fill=\"url(#awq-cbar)\" stroke=\"#888\"/>\n",
                  bx, top, bh);
    awq_sb_printf(b, "<g font-size=\"11\" fill=\"#333\"><text x=\"%.1f\" y=\"%.1f\">%.4f</text>"
                     "<text x=\"%.1f\" y=\"%.1f\">%.4f</text></g>\n",
                  bx + 22, top + 10, hi, bx + 22, top + bh, lo);
    awq_sb_puts(b, "</svg>\n");
    (void)ctx;
    return AWQ_OK;
}

const char *awq_audit_chart_file(awq_audit_chart c) {
    switch (c) {
    case AWQ_AUDIT_CHART_PPL_SIZE: return "ppl_vs_size.svg";
    case AWQ_AUDIT_CHART_KL_BPW: return "kl_vs_bpw.svg";
    case AWQ_AUDIT_CHART_HEATMAP: return "heatmap.svg";
    default: return NULL;
    }
}

awq_status audit_render_svg(awq_ctx *ctx, const awq_audit_result *r, awq_audit_chart chart,
                            awq_strbuf *b) {
    switch (chart) {
    case AWQ_AUDIT_CHART_PPL_SIZE:
        return scatter(ctx, r, b, "Perplexity vs file size", v_size, v_ppl, "file size",
                       "perplexity", false, true, false, true, true);
    case AWQ_AUDIT_CHART_KL_BPW:
        return scatter(ctx, r, b, "KL divergence from FP16 vs bits per weight", v_bpw, v_kl,
                       "bits per weight (decoder linears)", "KL (nats/token)", true, false,
                       true, false, false);
    case AWQ_AUDIT_CHART_HEATMAP:
        return heatmap(ctx, r, b);
    default:
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "unknown chart %d", (int)chart);
    }
}

awq_status awq_audit_render_svg(awq_ctx *ctx, const awq_audit_result *r, awq_audit_chart chart,
                                char **out, size_t *len) {
    if (!r || !out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "render: NULL argument");
    *out = NULL;
    awq_strbuf b;
    awq_sb_init(&b);
    awq_status st = audit_render_svg(ctx, r, chart, &b);
    if (st != AWQ_OK) {
        awq_sb_free(&b);
        return st;
    }
    return audit_sb_take(ctx, &b, out, len);
}

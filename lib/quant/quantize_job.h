/* lib/quant/quantize_job.h — the quantize job, shared by the files of the
 * pipeline: quantize.c (prepare, layers, assembly), qpreflight.c (every
 * check that can run before anything is written). Internal. */
#ifndef AWQ_QUANT_QUANTIZE_JOB_H
#define AWQ_QUANT_QUANTIZE_JOB_H

#include "awqkit/checkpoint.h"
#include "awqkit/model.h"
#include "awqkit/quantize.h"
#include "core/core.h"
#include "io/outlock.h"

/* Layout of OUT while a run is in progress:
 *   OUT/.awqkit-lock               the writer lock (io/outlock.h)
 *   OUT/.awqkit-partial/           resumable state
 *       fingerprint                model content + calibration + options
 *       layer-NNNNN/               one finished layer (model.safetensors,
 *                                  search.json), durable
 *       final/                     the checkpoint being assembled, verified
 *                                  here before it is published into OUT
 *       publish.json               journal of the publishing step
 *   OUT/.awqkit-incomplete         while files move from final/ into OUT */
#define AWQ_QZ_PARTIAL_DIR ".awqkit-partial"
#define AWQ_QZ_FINGERPRINT "fingerprint"
#define AWQ_QZ_STAGING "final"
#define AWQ_QZ_JOURNAL "publish.json"

struct cJSON;

typedef struct awq_qz_loaded_scales {
    struct cJSON *root;
    struct cJSON *layers; /* array */
} awq_qz_loaded_scales;

struct awq_quantize_job {
    awq_ctx *ctx;
    awq_quantize_params p;
    char *model_path, *out_dir, *partial_dir, *staging_dir, *journal;
    char *s_calib_path, *s_text_field, *s_calib_tokens, *s_dump, *s_load;
    awq_checkpoint *ck;
    awq_model_config cfg;
    char prefix[64];
    awq_model *m;
    awq_calib_blocks *blocks;
    awq_quantize_plan plan;
    uint64_t content_hash; /* every byte of the source (quant/srcscan.h) */
    uint64_t fingerprint;
    awq_qz_loaded_scales loaded;
    awq_out_lock *lock;
};

/* Everything that can be checked before the first byte is written or the
 * first layer computed, in one place: option combinations, the output and
 * --dump-scales paths, a format that can pack none of the model's linears,
 * source tensors the output could not hold. Needs ck, cfg, prefix and m;
 * writes nothing. */
awq_status awq_qz_preflight(awq_quantize_job *job);

/* The state of OUT, checked under the lock: empty, or (force) anything, or
 * (resume) the partial dir plus the files a journal lists. */
awq_status awq_qz_check_out_dir(awq_quantize_job *job);

/* Layers 0..n-1 have a durable layer file: returns n. */
int64_t awq_qz_finished_layers(const awq_quantize_job *job);

/* OUT/.awqkit-partial/layer-NNNNN (malloc'd). */
char *awq_qz_layer_dir(const awq_quantize_job *job, int64_t layer);

/* Remove a directory tree we created (partial state only). */
void awq_qz_rm_tree(const char *path);

/* Does the output replace source tensor `name` (a decoder linear's weight
 * or bias, a layer norm)? *layer gets its layer. */
bool awq_qz_is_replaced(const awq_quantize_job *job, const char *name, int64_t *layer);

/* Mixture-of-experts bookkeeping (lib/quant/qmoe.c): the report's
 * per-expert token table (allocated for a MoE model), and one layer's
 * results recorded into it, into the layer's group reports (the table's
 * MLP groups carry the MoE norm group and the experts' up -> down summary)
 * and into the log. */
struct awq_moe_search;
struct awq_layer_search;
awq_status awq_qz_moe_report_init(awq_quantize_job *job, awq_quantize_report *rep);
void awq_qz_moe_note(awq_quantize_job *job, int64_t layer, const struct awq_moe_search *ms,
                     struct awq_layer_search *srch, awq_quantize_report *rep);

/* quantize.c: can the output format pack a [N, K] linear with the job's
 * bits and group size? */
bool awq_qz_linear_packable(const awq_quantize_job *job, int64_t K, int64_t N);
/* quantize_assemble.c: the output checkpoint from the layer files and the
 * untouched source tensors, staged for publishing (rep: kept linears). */
awq_status awq_qz_assemble(awq_quantize_job *job, awq_quantize_report *rep);
/* quantize_assemble.c: the searched scales to --dump-scales. */
awq_status awq_qz_dump_scales(awq_quantize_job *job);

/* Shared by quantize.c and quantize_assemble.c. */
#define AWQ_QZ_MAX_FOLDED_NORMS 6

/* A tensor produced for the output: owned bytes. */
typedef struct {
    char name[320];
    awq_dtype dtype;
    int ndim;
    int64_t shape[2];
    uint64_t n_bytes;
    void *data;
} awq_qz_out_tensor;

typedef struct {
    awq_qz_out_tensor *t;
    size_t n, cap;
} awq_qz_out_list;

/* Free every tensor's bytes and the list; the list is left empty. */
void awq_qz_out_list_free(awq_qz_out_list *l);
/* Append a tensor with freshly allocated (uninitialised) bytes; NULL with
 * *st set on failure. */
awq_qz_out_tensor *awq_qz_out_list_add(awq_ctx *ctx, awq_qz_out_list *l, const char *name,
                                       awq_dtype dt, int ndim, const int64_t *shape,
                                       awq_status *st);
/* Open layer `layer`'s file (OUT/.awqkit-partial/layer-NNNNN). */
awq_status awq_qz_open_layer_file(awq_quantize_job *job, int64_t layer, awq_checkpoint **out);

/* quantize.c: a JSON array of v[0..n) written with %.9g (round-trips
 * fp32 exactly); NULL when out of memory. Owned by the caller. */
struct cJSON *awq_qz_json_floats(const float *v, int64_t n);

/* quantize.c: output tensor names of layer `layer`: linear `lin` of its
 * run-time set (model/moe_lset.h) with `suffix` ("weight", "bias"), and a
 * norm's weight. */
void awq_qz_lin_tensor_name(const awq_quantize_job *job, int64_t layer, int lin,
                            const char *suffix, char *buf, size_t n);
void awq_qz_norm_tensor_name(const awq_quantize_job *job, int64_t layer, const char *norm,
                             char *buf, size_t n);

/* qz_device_pack.c: whether the job's linears are quantized and packed on
 * the backend (a CUDA backend and a format its packers write), and that
 * step for one linear: w [N, K] in backend memory, its tensors appended to
 * outl as `base`.SUFFIX. *done false (nothing appended, AWQ_OK): the host
 * packer must do it (GPTQ v1 groups with zero point 0). */
bool awq_qz_device_pack_applies(const awq_quantize_job *job);
awq_status awq_qz_pack_on_device(awq_quantize_job *job, const char *base, const float *w,
                                 int64_t N, int64_t K, awq_qz_out_list *outl, bool *done);

#endif

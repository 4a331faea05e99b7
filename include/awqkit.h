/*
 * awqkit.h — the public API of libawqkit: AWQ 4-bit quantization of
 * Hugging Face checkpoints, AWQ/GPTQ repacking, logical parameter counting.
 * Include this one header; it pulls in the parts under awqkit/.
 * See awqkit/core.h for the conventions (status codes, ownership, threads).
 */
#ifndef AWQKIT_H
#define AWQKIT_H

#include "awqkit/core.h"
#include "awqkit/checkpoint.h"
#include "awqkit/model.h"
#include "awqkit/text.h"
#include "awqkit/runtime.h"
#include "awqkit/quant.h"
#include "awqkit/count.h"
#include "awqkit/synth.h"
#include "awqkit/quantize.h"
#include "awqkit/audit.h"
#include "awqkit/consumers.h"
#include "awqkit/api.h"

#endif
